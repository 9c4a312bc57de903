package replay

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/shadowctl/shadowctl/internal/h1"
)

// sender sends one request to u and reads the whole answer, up to maxBody
// bytes. Latency runs from start (the due time in open loop) to the last
// byte of the body. Both sides may share u and h: a sender only reads them.
type sender interface {
	send(ctx context.Context, method string, u *url.URL, h http.Header, body []byte, start time.Time, maxBody int64) side
}

// httpSender sends through a net/http client (Options.Client).
type httpSender struct{ c *http.Client }

func (s httpSender) send(ctx context.Context, method string, u *url.URL, h http.Header, body []byte, start time.Time, maxBody int64) side {
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

func (s h1Sender) send(ctx context.Context, method string, u *url.URL, h http.Header, body []byte, start time.Time, maxBody int64) side {
	if method == "" {
		method = http.MethodGet
	}
	req := &http.Request{Method: method, Header: h, ContentLength: int64(len(body))}
	fail := func(err error) side {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return side{err: fmt.Sprintf("%s %s: %v", method, u.Redacted(), err), kind: Classify(err, 0), latency: time.Since(start)}
	}
	target := u.RequestURI()
	for attempt := 0; ; attempt++ {
		pc, err := s.c.Get(ctx)
		if err != nil {
			return fail(err)
		}
		stop := context.AfterFunc(ctx, pc.Abort)
		drop := func() { stop(); _ = pc.Close() }
		stale := pc.Reused()
		bw := pc.Writer()
		h1.WriteRequestHead(bw, req, target, u.Host, h1.EndToEnd{}, false)
		_, _ = bw.Write(body)
		err = bw.Flush()
		var res *http.Response
		if err == nil {
			// Peek first: an error before the answer's first byte on a
			// kept-alive connection may be the target's close.
			if _, err = pc.Reader().Peek(1); err == nil {
				stale = false
				res, err = h1.ReadResponse(pc.Reader(), req, nil)
			}
		}
		pc.EndHead()
		if err != nil {
			drop()
			// The target closed a kept-alive connection as the request
			// went out: only a request safe to repeat goes again
			// (http.Transport's rule).
			if attempt == 0 && stale && ctx.Err() == nil && h1.StaleConnError(err) && h1.Retryable(req) {
				continue
			}
			return fail(err)
		}
		b, err := readBody(res, maxBody)
		_ = res.Body.Close()
		sd := side{status: int32(res.StatusCode), body: b, latency: time.Since(start)}
		if err != nil {
			drop()
			if ctx.Err() != nil {
				err = fmt.Errorf("%w (%v)", ctx.Err(), err)
			}
			sd.err, sd.kind = fmt.Sprintf("read body: %v", err), Classify(err, 0)
			return sd
		}
		if stop() && !res.Close {
			s.c.Put(pc)
		} else {
			_ = pc.Close()
		}
		sd.kind = Classify(nil, res.StatusCode)
		return sd
	}
}
