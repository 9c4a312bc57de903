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
