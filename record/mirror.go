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
// read-only: the body and header are the proxy's own.
type MirrorRequest struct {
	ID        string // the exchange's id (the recording's, when it is recorded)
	StartedAt time.Time
	Method    string
	Target    string // path and raw query, as the client sent them
	Host      string
	Header    http.Header // the client's end-to-end headers, real values
	Body      []byte
	Unheld    bool // the body is not in memory: it cannot be mirrored
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
}

// offerMirror hands the request to the mirror, if there is one; body is the
// whole body in memory, or held false.
func (p *Proxy) offerMirror(st *exchange, r *http.Request, keep h1.EndToEnd, body []byte, held bool) {
	m := p.opts.Mirror
	if m == nil {
		return
	}
	id := st.x.ID
	if !st.sampled {
		id = NewID(st.start)
	}
	h := make(http.Header, len(r.Header))
	for k, vs := range r.Header {
		if keep.Keep(k) {
			h[k] = vs
		}
	}
	req := &MirrorRequest{ID: id, StartedAt: st.start.UTC(), Method: r.Method, Target: requestTarget(r), Host: r.Host, Header: h}
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
		Truncated: st.resp.n > int64(len(st.resp.k.buf)), Latency: latency, Error: errMsg}
	if !st.answered {
		a.Status = 0
	}
	st.mirrored.Primary(a)
}
