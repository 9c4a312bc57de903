package bucket

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// ErrScheme is wrapped by CheckScheme's errors: a name meant as a URL whose
// scheme is none of Schemes (or not written as IsURL takes it).
var ErrScheme = errors.New("unsupported URL scheme")

// looksLikeURL matches what was meant as a URL: a scheme of two letters
// or more (so not a Windows drive), a colon and a slash.
var looksLikeURL = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]+:/`)

// LooksLikeURL reports whether s was meant as a URL (IsURL's or not),
// rather than a local path: taken as a path, gcs://, S3:// or ftp://
// would be a folder named like it under the working directory.
func LooksLikeURL(s string) bool { return looksLikeURL.MatchString(s) }

// CheckScheme returns nil for a bucket URL IsURL takes and for what does
// not look like a URL, and an error wrapping ErrScheme for the rest, naming
// the supported schemes.
func CheckScheme(s string) error {
	if IsURL(s) || !LooksLikeURL(s) {
		return nil
	}
	shown := s
	if strings.ContainsAny(s, "@?") {
		shown = Redact(s) // may hold credentials; lower-cases the scheme
	}
	scheme, _, _ := strings.Cut(s, ":")
	want := strings.Join(Schemes, "://, ") + "://"
	if lower := strings.ToLower(scheme); slices.Contains(Schemes, lower) {
		return fmt.Errorf("%s: %w %q: want %s://BUCKET/… (in lower case, with two slashes); supported: %s",
			shown, ErrScheme, scheme, lower, want)
	}
	return fmt.Errorf("%s: %w %q: supported: %s (or a local path)", shown, ErrScheme, scheme, want)
}
