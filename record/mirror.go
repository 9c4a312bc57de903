package record

import (
	"net/http"
	"time"

	"github.com/shadowctl/shadowctl/internal/h1"
)

// Mirror takes a copy of the requests the proxy forwards, for a live
// shadow. Its methods run on the request's path and must not block: the
// proxy never waits for what a mirror does with a copy.
type Mirror interface {
	// Offer is called for each plain request as it goes upstream. A
	// request whose body is not in memory whole (streamed, or over the
	// preload size) comes with Unheld set and no body. Offer returns the
	// Mirrored to tell the primary's answer to, or nil to leave the
	// request alone.
	Offer(*MirrorRequest) Mirrored
}

// Mirrored is a request a Mirror took.
type Mirrored interface {
	// Primary is called once, when the exchange ends, with the answer the
	// client got.
	Primary(*MirrorAnswer)
}

// MirrorRequest is what a Mirror gets of a request. Its fields are
// read-only: the body is the proxy's own. The headers are filled by Take,
// which a Mirror calls only for a request it takes, so that one it drops
// (the usual case with a slow shadow) costs no copy.
type MirrorRequest struct {
	ID        string // the exchange's id (the recording's, when it is recorded); set by Take when empty
	StartedAt time.Time
	Method    string
	Target    string // path and raw query, as the client sent them
	Host      string
	// Header is the client's end-to-end headers, real values, and
	// StoredHeaders the same headers as a recording stores them (sorted,
	// with the recorder's redacted values replaced): both set by Take.
	Header        http.Header
	StoredHeaders []Header
	Body          []byte
	Unheld        bool // the body is not in memory: it cannot be mirrored

	// The proxy's own request header, until Take copies what it keeps.
	raw    http.Header
	keep   h1.EndToEnd
	redact map[string]bool
}

// Get returns the first value of the client's end-to-end header name
// (canonical form), before or after Take.
func (r *MirrorRequest) Get(name string) string {
	if r.raw == nil {
		return r.Header.Get(name)
	}
	if !r.keep.Keep(name) {
		return ""
	}
	return r.raw.Get(name)
}

// Take copies the headers out of the proxy's request, and names the
// exchange if it has no id. A Mirror calls it in Offer, for a request it
// takes: once Offer returns, the proxy's request is no longer the
// Mirror's to read.
func (r *MirrorRequest) Take() {
	if r.ID == "" {
		r.ID = NewID(r.StartedAt)
	}
	if r.raw == nil {
		return
	}
	h := make(http.Header, len(r.raw))
	for k, vs := range r.raw {
		if r.keep.Keep(k) {
			h[k] = vs
		}
	}
	r.Header, r.StoredHeaders = h, HeadersFrom(h, r.redact)
	r.raw = nil
}

// MirrorAnswer is the primary's answer as the client got it. Body holds up
// to MaxBody bytes; the fields are read-only.
type MirrorAnswer struct {
	Status    int // 0: no answer (Error says why)
	Header    http.Header
	Body      []byte
	BodySize  int64
	Truncated bool
	Latency   time.Duration
	Error     string
	// The answer's timing as the recorder measures a recorded one
	// (StreamTiming): the first body byte and, for an event stream, the
	// events, in nanoseconds after the request went upstream.
	AnswerTiming
}

// offerMirror hands the request to the mirror, if there is one; body is the
// whole body in memory, or held false.
func (p *Proxy) offerMirror(st *exchange, r *http.Request, keep h1.EndToEnd, body []byte, held bool) {
	m := p.opts.Mirror
	if m == nil {
		return
	}
	var id string // Take names an unrecorded exchange
	if st.sampled {
		id = st.x.ID
	}
	req := &MirrorRequest{ID: id, StartedAt: st.start.UTC(), Method: r.Method, Target: requestTarget(r), Host: r.Host,
		raw: r.Header, keep: keep, redact: p.opts.Redact}
	if held {
		req.Body = body
	} else {
		req.Unheld = true
	}
	st.mirrored = m.Offer(req)
}

// answerMirror tells the mirror the primary's answer.
func (st *exchange) answerMirror(latency time.Duration, errMsg string) {
	if st.mirrored == nil {
		return
	}
	a := &MirrorAnswer{Status: st.status, Header: st.respHead, Body: st.resp.k.buf, BodySize: st.resp.n,
		Truncated: st.resp.n > int64(len(st.resp.k.buf)), Latency: latency, Error: errMsg, AnswerTiming: st.resp.tm.Answer()}
	if !st.answered {
		a.Status = 0
	}
	st.mirrored.Primary(a)
}
