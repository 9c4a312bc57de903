package main

import (
	"net/http"
	"strings"

	"github.com/shadowctl/shadowctl/internal/h1"
	"github.com/shadowctl/shadowctl/replay"
)

// parseHeaderFlags reads the values of a repeatable 'Name: value' flag (who
// is the command that sets the headers it must not take).
func parseHeaderFlags(flag, who string, values []string) (http.Header, error) {
	hdr := http.Header{}
	for _, h := range values {
		name, value, ok := strings.Cut(h, ":")
		// Only the optional white space of RFC 9110 around the value is
		// trimmed: a CR or LF at either end is a mistake to report.
		name, value = strings.Trim(name, " \t"), strings.Trim(value, " \t")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, usageErrorf("%s %q: want 'Name: value'", flag, h)
		}
		if err := replay.CheckHeader(name, value); err != nil {
			return nil, usageErrorf("%s %q: %v", flag, h, err)
		}
		k := http.CanonicalHeaderKey(name)
		if k == "Host" || k == "Content-Length" || h1.IsHopByHop(k) {
			// The client would drop it, or it describes one connection:
			// it would silently not be sent.
			return nil, usageErrorf("%s %q: %s is set by %s for each request and connection (Host is the target's, "+
				"the length the body's), not by %s", flag, h, k, who, flag)
		}
		if hdr[k] != nil {
			// Both would be sent, where the flag replaces the client's
			// value: which one was meant is the user's to say.
			return nil, usageErrorf("%s %q: %s is given twice; give each header once", flag, h, k)
		}
		hdr.Add(name, value)
	}
	return hdr, nil
}
