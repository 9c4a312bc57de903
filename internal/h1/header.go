package h1

import (
	"net/http"
	"strings"
)

// hopByHop are the headers that describe one connection, not the message
// (RFC 9110 section 7.6.1, and those httputil.ReverseProxy drops), besides
// those the Connection header names.
var hopByHop = map[string]bool{
	"Connection":          true,
	"Proxy-Connection":    true,
	"Keep-Alive":          true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
}

// IsHopByHop reports whether the header named k (in canonical form) is
// hop-by-hop whatever the Connection header says: one table for every
// stage, so what the recorder drops, replay never sends.
func IsHopByHop(k string) bool { return hopByHop[k] }

// EndToEnd tells which headers of a message go on to the next hop: all but
// the hop-by-hop ones and those its Connection header names. It is made
// once per message, so that the Connection header is parsed once.
type EndToEnd struct{ named []string }

// NewEndToEnd reads the Connection header of h.
func NewEndToEnd(h http.Header) EndToEnd {
	var e EndToEnd
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.Trim(f, " \t"); f != "" {
				e.named = append(e.named, http.CanonicalHeaderKey(f))
			}
		}
	}
	return e
}

// Keep reports whether the header named k (in canonical form) goes on.
func (e EndToEnd) Keep(k string) bool {
	if hopByHop[k] {
		return false
	}
	for _, n := range e.named {
		if n == k {
			return false
		}
	}
	return true
}

// RemoveHopByHop deletes the hop-by-hop headers of h, and those its
// Connection header names, so that a response passes on only what the
// upstream meant for the client.
func RemoveHopByHop(h http.Header) {
	keep := NewEndToEnd(h)
	for k := range h {
		if !keep.Keep(k) {
			delete(h, k)
		}
	}
}

func hasToken(vs []string, token string) bool {
	for _, v := range vs {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.Trim(f, " \t"), token) {
				return true
			}
		}
	}
	return false
}
