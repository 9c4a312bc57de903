package replay

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
)

// ErrUserInfo is wrapped by CheckBase's error for a URL with user info
// (user:password@).
var ErrUserInfo = errors.New("user info in the URL is not sent")

// CheckBase tells why u cannot be the base URL of a target or baseline, or
// returns nil. What is refused would otherwise be dropped or changed without
// a word: every request would fail, or go somewhere else than written.
// The path is kept as written, escapes included, and prefixes every recorded
// path.
func CheckBase(u *url.URL) error {
	switch {
	case u.Scheme != "http" && u.Scheme != "https" || u.Opaque != "" || u.Hostname() == "":
		return errors.New("want http:// or https:// and a host")
	case u.User != nil:
		// Not turned into Basic auth: it would compete with the recorded
		// and added Authorization headers, and a URL is printed in errors.
		return fmt.Errorf("%w; remove it", ErrUserInfo)
	case u.RawQuery != "" || u.ForceQuery:
		return errors.New("a query in the base URL is not sent: each request keeps its recorded query; remove it from the URL")
	case u.Fragment != "":
		return errors.New("a fragment (#...) is never sent; remove it from the URL")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %s: want 1 to 65535", p)
		}
	}
	return nil
}

// CheckHeader tells why name and value cannot be sent as a header field, or
// returns nil: the name must be a token (RFC 9110 §5.1) and the value hold no
// control character but horizontal tab (§5.5). A CR or LF would split the
// request, so the client refuses it and every request would fail.
func CheckHeader(name, value string) error {
	if name == "" {
		return errors.New("empty header name")
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return fmt.Errorf("header name %q: character %q is not allowed in a name (RFC 9110 token)", name, name[i])
		}
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return fmt.Errorf("header %s: value holds the control character %q (CR, LF, NUL and other controls are not allowed)", name, c)
		}
	}
	return nil
}

// isTokenChar is tchar of RFC 9110 §5.6.2.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
