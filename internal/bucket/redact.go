package bucket

import (
	"net/url"
	"sort"
	"strings"
)

// publicParams are the URL query parameters of gocloud.dev's openers that
// say where a bucket is and how to reach it, never who may: their values
// are logged as they are. Any other parameter's value is logged as
// REDACTED, so that a secret put in a URL by mistake (a SAS token, a key)
// never reaches a log line.
var publicParams = map[string]bool{
	// s3blob and aws
	"region": true, "endpoint": true, "use_path_style": true, "s3ForcePathStyle": true, "disable_https": true,
	"dualstack": true, "fips": true, "accelerate": true, "awssdk": true, "profile": true, "anonymous": true,
	"hostname_immutable": true, "rate_limiter_capacity": true, "request_checksum_calculation": true,
	"response_checksum_validation": true, "sse_type": true,
	// azureblob
	"domain": true, "protocol": true, "cdn": true, "localemu": true, "storage_account": true,
	// gcsblob
	"grpc": true, "zonal": true,
	// fileblob
	"create_dir": true, "dir_file_mode": true, "no_tmp_dir": true,
}

// Redact is raw as it may be logged: user info removed, and the values of
// query parameters not known to be public replaced by REDACTED (an
// endpoint's own user info too). A string that is not a URL is returned as
// it is.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.IndexByte(raw, '?'); i >= 0 {
			return raw[:i] + "?REDACTED"
		}
		return raw
	}
	u.User = nil
	if u.RawQuery == "" {
		return u.String()
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		u.RawQuery = "REDACTED"
		return u.String()
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range q[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			switch {
			case !publicParams[k]:
				v = "REDACTED"
			case k == "endpoint":
				if e, err := url.Parse(v); err == nil && e.User != nil {
					e.User = nil
					v = e.String()
				}
			}
			// Unescaped, for people to read: an endpoint stays a URL.
			b.WriteString(k + "=" + v)
		}
	}
	u.RawQuery = b.String()
	return u.String()
}

// redactIn is text with what it says of the URL raw redacted: raw itself,
// its query, and the values of its parameters not known to be public (those
// of 8 characters or more: a shorter one is no secret worth mangling the
// text for). gocloud's errors repeat the URL they were given as it was.
func redactIn(text, raw string) string {
	text = strings.ReplaceAll(text, raw, Redact(raw))
	u, err := url.Parse(raw)
	if err != nil || u.RawQuery == "" {
		return text
	}
	if red, _ := url.Parse(Redact(raw)); red != nil && red.RawQuery != "" {
		text = strings.ReplaceAll(text, u.RawQuery, red.RawQuery)
	}
	q, _ := url.ParseQuery(u.RawQuery)
	for k, vs := range q {
		if publicParams[k] {
			continue
		}
		for _, v := range vs {
			if len(v) >= 8 {
				text = strings.ReplaceAll(text, url.QueryEscape(v), "REDACTED")
				text = strings.ReplaceAll(text, v, "REDACTED")
			}
		}
	}
	return text
}

// redactedErr is an error whose message has been through redactIn; it
// still unwraps to the error it tells of, for errors.Is and gcerrors.
type redactedErr struct {
	msg string
	err error
}

func (e *redactedErr) Error() string { return e.msg }
func (e *redactedErr) Unwrap() error { return e.err }

// redactErr is err, its message redacted of the URL raw.
func redactErr(err error, raw string) error {
	if msg := redactIn(err.Error(), raw); msg != err.Error() {
		return &redactedErr{msg, err}
	}
	return err
}
