package record

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httputil"

	"github.com/shadowctl/shadowctl/internal/h1"
)

// The proxy's side of its own upstream client (internal/h1): sending one
// request on a pooled connection, reading the head of its answer, and
// giving the connection back only when it is known clean.

// call is a request sent upstream and the head of its response.
type call struct {
	pc    *h1.Conn
	res   *http.Response
	wrote <-chan error // a streamed body's writer; nil for a body in memory
	stop  func() bool  // stops aborting pc when the client goes away
}

// offerLate offers the mirror a request whose body streamed: held when
// the whole body has come from the client by the time the answer's head
// has (the usual case: the upstream read it, then answered), unheld
// otherwise (an early answer: the rest may never come).
func (p *Proxy) offerLate(st *exchange, r *http.Request, keep h1.EndToEnd) {
	var body []byte
	held := false
	st.req.mu.Lock()
	if n := int64(len(st.req.k.buf)); n == r.ContentLength && st.req.n == n {
		body, held = st.req.k.buf, true
	}
	st.req.mu.Unlock()
	p.offerMirror(st, r, keep, body, held)
}

// send writes the request to the upstream and reads the response head.
// When there is none it answers the client and ends the exchange (see
// upstreamFailed) and returns nil.
func (p *Proxy) send(st *exchange, w http.ResponseWriter, r *http.Request) *call {
	ctx := r.Context()
	keep := h1.NewEndToEnd(r.Header)
	if st.sampled {
		st.x.RequestHeaders = headersFrom(r.Header, p.opts.Redact, keep.Keep)
	}
	var mem []byte     // the whole body, in memory (or none)
	var body io.Reader // the body, to stream
	chunked := false
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		if st.req.preloaded {
			mem = st.req.k.buf
		} else {
			body, chunked = r.Body, r.ContentLength < 0
		}
	}
	target, host := p.client.Target(requestTarget(r)), r.Host
	if host == "" {
		host = p.opts.Upstream.Host
	}
	// The copy goes out at the moment the request does, so that both are
	// measured under the same load; a small body sent after Expect goes
	// once it has been read (offerLate), or is unheld if no answer came.
	late := body != nil && p.opts.Mirror != nil && heldOnceRead(r)
	if !late {
		p.offerMirror(st, r, keep, mem, body == nil)
	}
	failed := func(err error) {
		if late {
			p.offerMirror(st, r, keep, nil, false)
		}
		p.upstreamFailed(st, w, r, err)
	}
	interim := func(res *http.Response) { forwardInterim(w, r, res) }
	for attempt := 0; ; attempt++ {
		pc, err := p.client.Get(ctx)
		if err != nil {
			failed(err)
			return nil
		}
		c := &call{pc: pc, stop: context.AfterFunc(ctx, pc.Abort)}
		stale := pc.Reused()
		st.sent = p.opts.Now()
		bw := pc.Writer()
		h1.WriteRequestHead(bw, r, target, host, keep, chunked)
		// The header timeout (--upstream-timeout) is armed once the whole
		// request is sent, as http.Transport's ResponseHeaderTimeout is: a
		// slow upload is not an upstream timeout.
		if body == nil {
			_, _ = bw.Write(mem)
			if err = bw.Flush(); err == nil {
				pc.ArmHeaderTimeout()
			}
		} else {
			ch := make(chan error, 1)
			// body and chunked as arguments: captured, they would be
			// moved to the heap for every request, streamed or not.
			go func(body io.Reader, chunked bool) {
				err := writeBody(pc, body, r, chunked)
				if err == nil {
					pc.ArmHeaderTimeout()
				}
				ch <- err
			}(body, chunked)
			c.wrote = ch
		}
		if err == nil {
			// Peek first: an error before the response's first byte
			// may mean a connection the upstream had closed.
			br := pc.Reader()
			if _, err = br.Peek(1); err == nil {
				c.res, err = pc.ReadResponse(r, interim)
				stale = false
			}
			pc.EndHead()
		}
		if err == nil {
			if late {
				p.offerLate(st, r, keep)
			}
			return c
		}
		c.drop()
		// A kept-alive connection the upstream closed as the request went
		// out (idle ones it had closed before are never taken, see h1.Client.Get):
		// it may have acted on the request, so only a request that is
		// safe to repeat, with its body in memory, is sent again.
		if attempt == 0 && stale && body == nil && ctx.Err() == nil && h1.StaleConnError(err) && h1.Retryable(r) {
			continue
		}
		if c.wrote != nil && ctx.Err() != nil {
			// The server cancels the request when a read of the client's
			// connection fails, before the body's writer sees the error:
			// wait for it (the failed connection ends its read), so the
			// answer says what the client did (see upstreamFailed).
			<-c.wrote
		}
		failed(err)
		return nil
	}
}

// drop closes the call's connection.
func (c *call) drop() {
	c.stop()
	_ = c.pc.Close()
}

// release returns the connection of a call whose response was read to its
// end to the pool, unless it cannot carry another request: the upstream
// asked to close it, the client went away, or a streamed request body is
// not all sent (the upstream answered before reading it).
func (c *call) release(cl *h1.Client) {
	reusable := c.stop() && !c.res.Close
	if c.wrote != nil {
		select {
		case werr := <-c.wrote:
			reusable = reusable && werr == nil
		default:
			reusable = false
		}
	}
	if !reusable {
		c.pc.Abort()
		_ = c.pc.Close()
		return
	}
	cl.Put(c.pc)
}

// writeBody streams a request body that is not in memory to the upstream,
// r.ContentLength bytes long, or chunked and ended with r's trailer fields
// (Go's server fills r.Trailer as the body's end is read). On failure it
// aborts the connection, so that the upstream does not wait for the rest.
func writeBody(pc *h1.Conn, body io.Reader, r *http.Request, chunked bool) error {
	n := r.ContentLength
	bw := pc.Writer()
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	var err error
	if chunked {
		cw := httputil.NewChunkedWriter(flushWriter{bw})
		if _, err = io.CopyBuffer(cw, onlyReader{body}, *bp); err == nil {
			h1.WriteTrailer(bw, r.Trailer) // the last chunk, then the trailers
		}
	} else {
		var m int64
		m, err = io.CopyBuffer(bw, io.LimitReader(body, n), *bp)
		if err == nil && m < n {
			err = io.ErrUnexpectedEOF
		}
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		pc.Abort()
	}
	return err
}

// flushWriter flushes after every write: each chunk of a streamed request
// body goes out as it comes.
type flushWriter struct{ w *bufio.Writer }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.w.Flush()
	}
	return n, err
}

// onlyReader hides any WriterTo of a body, so that CopyBuffer reads it in
// pieces that are sent as they come.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }
