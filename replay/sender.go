package replay

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/shadowctl/shadowctl/internal/h1"
	"github.com/shadowctl/shadowctl/record"
)

// sender sends one request to u and reads the whole answer, up to maxBody
// bytes, by deadline, or until the run is abandoned (ctx ends, or the
// aborter of slot aborts what its slots hold). Latency runs from start (the due
// time in open loop) to the last byte of the body. Both sides may share u
// and h: a sender only reads them.
type sender interface {
	send(ctx context.Context, slot *h1.Slot, deadline time.Time, method string, u *url.URL, h http.Header, body []byte, start time.Time, maxBody int64) side
}

// sideSlots are a worker's connection slots, for an abandonment to abort:
// its request to the target and the baseline.
type sideSlots struct{ cand, base *h1.Slot }

func newSideSlots(a *h1.Aborter) sideSlots { return sideSlots{a.NewSlot(), a.NewSlot()} }

// httpSender sends through a net/http client (Options.Client).
type httpSender struct{ c *http.Client }

func (s httpSender) send(ctx context.Context, _ *h1.Slot, deadline time.Time, method string, u *url.URL, h http.Header, body []byte, start time.Time, maxBody int64) side {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	return send(ctx, s.c, method, u, h, body, start, maxBody)
}

// h1Sender sends through internal/h1, the recorder's own HTTP/1.1 client:
// each request is written and its answer read on the worker's goroutine,
// where http.Transport hands both between two goroutines per connection
// and the caller (about half of replay's CPU per request went there). A
// connection is reused only when its answer was read to the end of its
// framing and nothing came after it or while it sat idle.
type h1Sender struct{ c *h1.Client }

// newH1Sender is the sender to base (its scheme and host; the path of every
// request is built by targetURL).
func newH1Sender(base *url.URL, tlsConf *tls.Config) (h1Sender, error) {
	c, err := h1.NewClient(&url.URL{Scheme: base.Scheme, Host: base.Host}, h1.Options{TLS: tlsConf})
	return h1Sender{c}, err
}

// writeInline is the largest request body the sender writes before it
// reads the answer; a larger one is written while the answer is read.
const writeInline = 64 << 10

// send bounds the exchange by deadline with one timer that aborts the
// connection, rather than a context per request and a callback on it (4%
// of replay's CPU), and holds the connection in slot, which an abandonment
// aborts; only a dial gets a context.
func (s h1Sender) send(ctx context.Context, slot *h1.Slot, deadline time.Time, method string, u *url.URL, h http.Header, body []byte, start time.Time, maxBody int64) side {
	if method == "" {
		method = http.MethodGet
	}
	req := &http.Request{Method: method, Header: h, ContentLength: int64(len(body))}
	fail := func(err error, timedOut bool) side {
		if timedOut {
			err = fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
		}
		return side{err: fmt.Sprintf("%s %s: %v", method, u.Redacted(), err), kind: Classify(err, 0), latency: time.Since(start)}
	}
	target := u.RequestURI()
	for attempt := 0; ; attempt++ {
		pc := s.c.Idle()
		if pc == nil {
			dctx, cancel := context.WithDeadline(ctx, deadline)
			var err error
			pc, err = s.c.Get(dctx)
			timedOut := dctx.Err() != nil
			cancel()
			if err != nil {
				return fail(err, timedOut)
			}
		}
		timer := time.AfterFunc(time.Until(deadline), pc.Abort)
		slot.Hold(pc)
		// drop closes the connection and tells whether the deadline had
		// aborted it.
		drop := func() bool { fired := !timer.Stop(); slot.Release(); _ = pc.Close(); return fired }
		stale := pc.Reused()
		bw := pc.Writer()
		h1.WriteRequestHead(bw, req, target, u.Host, h1.EndToEnd{}, false)
		var (
			err   error
			res   *http.Response
			wrote chan error // a large body's writer: nil when written here
		)
		if len(body) <= writeInline {
			// Into the socket's buffer at once: written before the answer
			// is read, in one write.
			_, _ = bw.Write(body)
			err = bw.Flush()
		} else {
			// A large body is written while the answer is read, as
			// http.Transport does: a target may answer early (a 413 for
			// a large upload) and stop reading, or answer as it reads.
			wrote = make(chan error, 1)
			go func() {
				_, _ = bw.Write(body)
				wrote <- bw.Flush()
			}()
		}
		if err == nil {
			// Peek first: an error before the answer's first byte on a
			// kept-alive connection may be the target's close.
			if _, err = pc.Reader().Peek(1); err == nil {
				stale = false
				res, err = pc.ReadResponse(req, nil)
			}
		} else if len(body) > 0 {
			// The target may have answered before it stopped reading
			// the body: that answer is the row.
			if early, rerr := pc.ReadResponse(req, nil); rerr == nil {
				res, err, stale = early, nil, false
				res.Close = true // the request was not sent whole
			}
		}
		pc.EndHead()
		if wrote != nil {
			var werr error
			select {
			case werr = <-wrote:
			default:
				if err == nil {
					// Answered before the body was all sent: the
					// answer is the row, and the connection goes once
					// it is read (closing it ends the writer).
					res.Close = true
					defer func() { _ = pc.Close(); <-wrote }()
				} else {
					_ = pc.Close()
					werr = <-wrote
				}
			}
			if err == nil && werr != nil {
				res.Close = true // the request was not sent whole
			}
		}
		if err != nil {
			timedOut := drop()
			// The target closed a kept-alive connection as the request
			// went out: only a request safe to repeat goes again
			// (http.Transport's rule).
			if attempt == 0 && stale && !timedOut && h1.StaleConnError(err) && h1.Retryable(req) {
				continue
			}
			return fail(err, timedOut)
		}
		tb := record.TimeBody(res, start)
		b, err := readBody(res, maxBody)
		if err != nil {
			// The body was not read to its end (too large, or broken):
			// the connection is dropped, not drained (the Close of a body
			// of http.ReadResponse reads the rest, up to the deadline, of
			// an answer that may never end) and never reused.
			sd := side{status: int32(res.StatusCode), body: b, latency: time.Since(start), timing: tb.Done()}
			if drop() {
				err = fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
			}
			sd.err, sd.kind = fmt.Sprintf("read body: %v", err), Classify(err, 0)
			return sd
		}
		_ = res.Body.Close()
		sd := side{status: int32(res.StatusCode), body: b, latency: time.Since(start), timing: tb.Done()}
		inTime, kept := timer.Stop(), slot.Release()
		if inTime && kept && !res.Close {
			s.c.Put(pc)
		} else {
			_ = pc.Close()
		}
		sd.kind = Classify(nil, res.StatusCode)
		return sd
	}
}
