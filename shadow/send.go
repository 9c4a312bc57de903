package shadow

import (
	"context"
	"errors"
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
//
// The copy is bounded by one timer that aborts its connection, and Close's
// deadline finds the connection in w's slot, rather than a context per
// copy and a callback on it (both registered on the shadow's context, a
// lock every worker shares): only a dial gets a context.
func (s *Shadow) sendH1(w *worker, r *record.MirrorRequest, h http.Header) answer {
	start := time.Now()
	deadline := start.Add(s.opts.Timeout)
	// why names what cut the copy, when it was not the shadow: Close's
	// deadline (canceled: no row) or the copy's timeout.
	why := func(err error, timedOut bool) error {
		switch {
		case s.ctx.Err() != nil:
			return fmt.Errorf("%w (%v)", context.Canceled, err)
		case timedOut:
			return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
		}
		return err
	}
	fail := func(err error, timedOut bool) answer {
		err = why(err, timedOut)
		return answer{Answer: replay.Answer{Err: err.Error(), Kind: replay.Classify(err, 0), Latency: time.Since(start)}}
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	req := &http.Request{Method: method, Header: h, ContentLength: int64(len(r.Body))}
	var (
		pc    *h1.Conn
		res   *http.Response
		timer *time.Timer
	)
	// drop closes the connection and tells whether the timeout had
	// aborted it.
	drop := func() bool {
		fired := !timer.Stop()
		w.slot.Release()
		_ = pc.Close()
		return fired
	}
	for attempt := 0; ; attempt++ {
		if pc = s.h1.Idle(); pc == nil {
			dctx, cancel := context.WithDeadline(s.ctx, deadline)
			var err error
			pc, err = s.h1.Get(dctx)
			timedOut := errors.Is(dctx.Err(), context.DeadlineExceeded)
			cancel()
			if err != nil {
				return fail(err, timedOut)
			}
		}
		timer = time.AfterFunc(time.Until(deadline), pc.Abort)
		w.slot.Hold(pc) // aborted at once if Close's deadline came first
		bw := pc.Writer()
		h1.WriteRequestHead(bw, req, s.h1.Target(r.Target), s.opts.Target.Host, h1.NewEndToEnd(h), false)
		_, _ = bw.Write(r.Body)
		stale := pc.Reused()
		err := bw.Flush()
		if err == nil {
			// Peek first: a failure before the answer's first byte, on
			// a kept-alive connection, is the shadow's close of it as
			// the copy went out (an idle timeout of a few ms).
			if _, err = pc.Reader().Peek(1); err == nil {
				stale = false
				res, err = pc.ReadResponse(req, nil)
			}
		}
		pc.EndHead()
		if err == nil {
			break
		}
		timedOut := drop()
		// Sent once more on a new connection, whatever the method, unlike
		// the proxy's requests: the shadow is the model under test, and a
		// copy it may see twice is better than a row that blames it for
		// closing a connection it was right to close.
		if attempt == 0 && stale && !timedOut && s.ctx.Err() == nil && h1.StaleConnError(err) {
			continue
		}
		return fail(err, timedOut)
	}
	a := answer{Answer: replay.Answer{Status: int32(res.StatusCode)}, header: res.Header}
	tb := record.TimeBody(res, start)
	body, held, err := s.readBody(res)
	a.timing = tb.Done()
	a.held = held
	switch {
	case errors.Is(err, errNotHeld):
		drop()
		a.notKept = true
	case err != nil:
		err = why(err, drop())
		a.Err, a.Kind = "read body: "+err.Error(), replay.Classify(err, 0)
	default:
		a.Body, a.Kind = body, replay.Classify(nil, res.StatusCode)
		inTime, kept := timer.Stop(), w.slot.Release()
		// Put back only when neither the timeout nor Close's deadline
		// may have aborted it.
		if inTime && kept && !res.Close {
			s.h1.Put(pc)
		} else {
			_ = pc.Close()
		}
	}
	a.Latency = time.Since(start)
	return a
}

// answer is the shadow's answer to a copy: what a results row keeps of it,
// its timing, and its header (which says how to read its body). held is
// what its body reserves of MaxHeld; notKept says the body was not read
// because the bodies held had reached MaxHeld.
type answer struct {
	replay.Answer
	sent    time.Time // when it left
	timing  record.AnswerTiming
	header  http.Header
	held    int64
	notKept bool
}

// errNotHeld says an answer's body would take the bodies held past MaxHeld.
var errNotHeld = errors.New("the bodies held reached their bound")

// readBody reads res's body, up to MaxBody bytes, reserving each byte it
// keeps of MaxHeld (held says how many; the caller gives them back once
// the row is made): the answers being read and waiting for their
// primary's are bodies in memory too, and concurrency × --max-body of
// them would pass the recorder's memory limit. A body of known length is
// read into one buffer of its size; its framing ends it, and a short one
// is an error (the connection ended early). A longer one than MaxBody is
// replay.ErrBodyTooLarge, found before reading when its length says so.
func (s *Shadow) readBody(res *http.Response) (body []byte, held int64, err error) {
	limit := s.opts.MaxBody
	if res.Body == http.NoBody {
		return []byte{}, 0, nil // HEAD, 204, 304: a Content-Length but no body
	}
	tooLarge := func() error { return fmt.Errorf("%w: more than %d bytes", replay.ErrBodyTooLarge, limit) }
	if n := res.ContentLength; n > limit {
		return nil, 0, tooLarge()
	} else if n >= 0 {
		if !s.hold(n) {
			return nil, 0, errNotHeld
		}
		b := make([]byte, n)
		k, err := io.ReadFull(res.Body, b)
		return b[:k], n, err
	}
	// Unknown length (chunked, or to the close): grown by doubling up to
	// limit+1 bytes (one more tells it is too long), each growth reserved
	// before it is made; all given back on failure.
	defer func() {
		if err != nil {
			s.held.Add(-held)
			body, held = nil, 0
		}
	}()
	var b []byte
	for {
		if len(b) == cap(b) {
			if int64(len(b)) > limit {
				return nil, held, tooLarge()
			}
			grow := min(max(int64(cap(b)), 512), limit+1-int64(len(b)))
			if !s.hold(grow) {
				return nil, held, errNotHeld
			}
			held += grow
			nb := make([]byte, len(b), int64(cap(b))+grow)
			copy(nb, b)
			b = nb
		}
		n, err := res.Body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		switch {
		case err == io.EOF && int64(len(b)) > limit:
			return nil, held, tooLarge()
		case err == io.EOF:
			if len(b) < cap(b)/2 {
				// Waiting for the primary's answer, then queued as a row:
				// kept at its size, the rest of its reservation given back.
				b = append(make([]byte, 0, len(b)), b...)
				s.held.Add(int64(len(b)) - held)
				held = int64(len(b))
			}
			return b, held, nil
		case err != nil:
			return nil, held, err
		}
	}
}
