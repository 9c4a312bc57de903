package shadow

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/shadowctl/shadowctl/internal/h1"
	"github.com/shadowctl/shadowctl/record"
	"github.com/shadowctl/shadowctl/replay"
)

// sendH1 sends a copy through the recorder's own HTTP/1.1 client: the
// shadow is one upstream, which is what internal/h1 is for, and it spares
// each copy http.Transport's hand-offs between its connection goroutines
// (a third of the recorder's CPU with a fast shadow went there). A
// connection is reused only when known clean, as the proxy's are.
func (s *Shadow) sendH1(r *record.MirrorRequest, h http.Header) answer {
	start := time.Now()
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.Timeout)
	defer cancel()
	fail := func(err error) answer {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return answer{Answer: replay.Answer{Err: err.Error(), Kind: replay.Classify(err, 0), Latency: time.Since(start)}}
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	req := &http.Request{Method: method, Header: h, ContentLength: int64(len(r.Body))}
	var (
		pc   *h1.Conn
		res  *http.Response
		stop func() bool
		drop func()
	)
	for attempt := 0; ; attempt++ {
		var err error
		if pc, err = s.h1.Get(ctx); err != nil {
			return fail(err)
		}
		stop = context.AfterFunc(ctx, pc.Abort)
		drop = func() { stop(); _ = pc.Close() }
		bw := pc.Writer()
		h1.WriteRequestHead(bw, req, s.h1.Target(r.Target), s.opts.Target.Host, h1.NewEndToEnd(h), false)
		_, _ = bw.Write(r.Body)
		stale := pc.Reused()
		if err = bw.Flush(); err == nil {
			pc.ArmHeaderTimeout()
			// Peek first: a failure before the answer's first byte, on
			// a kept-alive connection, is the shadow's close of it as
			// the copy went out (an idle timeout of a few ms).
			if _, err = pc.Reader().Peek(1); err == nil {
				stale = false
				res, err = pc.ReadResponse(req, nil)
			}
			pc.EndHead()
		}
		if err == nil {
			break
		}
		drop()
		// Sent once more on a new connection, whatever the method, unlike
		// the proxy's requests: the shadow is the model under test, and a
		// copy it may see twice is better than a row that blames it for
		// closing a connection it was right to close.
		if attempt == 0 && stale && ctx.Err() == nil && h1.StaleConnError(err) {
			continue
		}
		return fail(err)
	}
	a := answer{Answer: replay.Answer{Status: int32(res.StatusCode)}, header: res.Header}
	tb := record.TimeBody(res, start)
	body, err := readBody(res, s.opts.MaxBody)
	a.timing = tb.Done()
	switch {
	case err != nil:
		drop()
		a.Err, a.Kind = "read body: "+err.Error(), replay.Classify(err, 0)
	case int64(len(body)) > s.opts.MaxBody:
		drop()
		err = fmt.Errorf("%w: more than %d bytes", replay.ErrBodyTooLarge, s.opts.MaxBody)
		a.Err, a.Kind = err.Error(), replay.Classify(err, 0)
	default:
		a.Body, a.Kind = body, replay.Classify(nil, res.StatusCode)
		if stop() && !res.Close {
			s.h1.Put(pc)
		} else {
			_ = pc.Close()
		}
	}
	a.Latency = time.Since(start)
	return a
}

// answer is the shadow's answer to a copy: what a results row keeps of it,
// its timing, and its header (which says how to read its body).
type answer struct {
	replay.Answer
	timing record.AnswerTiming
	header http.Header
}

// readBody reads res's body, up to max+1 bytes (one more tells it is too
// long). A body of known length is read into one buffer of its size,
// rather than grown from 512 bytes as io.ReadAll grows it; its framing
// ends it, and a short one is an error (the connection ended early).
func readBody(res *http.Response, max int64) ([]byte, error) {
	if res.Body == http.NoBody {
		return []byte{}, nil // HEAD, 204, 304: a Content-Length but no body
	}
	if n := res.ContentLength; n >= 0 && n <= max {
		b := make([]byte, n)
		k, err := io.ReadFull(res.Body, b)
		return b[:k], err
	}
	return io.ReadAll(io.LimitReader(res.Body, max+1))
}
