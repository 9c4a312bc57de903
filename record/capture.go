package record

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The body capture: what each exchange keeps of its request and response
// bodies while they pass through.

// reqBody passes the request body through, keeping up to max bytes and
// counting all. The transport reads it on its own goroutine, hence the lock.
type reqBody struct {
	rc   io.ReadCloser
	src  clientBody // reads rc
	mu   sync.Mutex
	k    kept
	n    int64
	done bool
	err  error // the client's body failed (not at its end)
	// size is the body's length (-1: chunked) and eof says it was read
	// to its end: a body not read to its end (the upstream answered
	// early, the client stopped) is stored cut.
	size int64
	eof  bool
	// preloaded: buf is the whole body, read before the request went
	// upstream (see preload), and mem reads it.
	preloaded bool
	mem       memBody
}

// memBody is a preloaded body as a request body, kept in its reqBody so
// that it costs no allocation of its own.
type memBody struct{ bytes.Reader }

func (*memBody) Close() error { return nil }

// init starts the capture of body rc of the request w answers: each read
// waits at most timeout (0: forever), up to max bytes are kept.
func (b *reqBody) init(rc io.ReadCloser, w http.ResponseWriter, timeout time.Duration, bud *budget, max, size int64) {
	b.rc = rc
	b.size = size
	b.src = clientBody{rc: rc, timeout: timeout}
	if timeout > 0 {
		// A copy, not the pointer: one allocation fewer per request.
		b.src.ctl = *http.NewResponseController(w)
	}
	b.k.init(bud, max, size)
}

// canPreload reports whether room for the whole body of size bytes is
// reserved.
func (b *reqBody) canPreload(size int64) bool { return int64(cap(b.k.buf)) >= size }

func (b *reqBody) Read(p []byte) (int, error) {
	n, err := b.src.Read(p)
	if n > 0 || err != nil {
		b.mu.Lock()
		if !b.done && n > 0 {
			b.n += int64(n)
			b.k.add(p[:n])
		}
		if err == io.EOF {
			b.eof = true
		} else if err != nil && b.err == nil {
			b.err = err
		}
		b.mu.Unlock()
	}
	return n, err
}

// failure is the error that ended the client's body before its end, if any.
func (b *reqBody) failure() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// clientBody reads a client's request body, each read bounded by timeout
// (nginx's client_body_timeout), so that a stalled upload cannot hold the
// upstream connection it opened.
type clientBody struct {
	rc      io.Reader
	ctl     http.ResponseController // set when timeout is
	timeout time.Duration           // 0: none
}

func (c *clientBody) Read(p []byte) (int, error) {
	if c.timeout <= 0 {
		return c.rc.Read(p)
	}
	_ = c.ctl.SetReadDeadline(time.Now().Add(c.timeout))
	n, err := c.rc.Read(p)
	if err == io.EOF {
		// At the end, the server's own read of the connection goes on
		// without our deadline. After a failure it stays: the server
		// must not wait for the rest of a stalled body either.
		_ = c.ctl.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (b *reqBody) Close() error {
	if b.rc == nil {
		return nil
	}
	return b.rc.Close()
}

// preloadMax bounds the request bodies read whole before the request goes
// upstream. Like nginx (proxy_request_buffering on), a small body with a
// known length is read first: the transport then sends headers and body in
// one write instead of two, which is most of a model request's cost here.
// Larger or chunked bodies, and those after Expect: 100-continue, stream.
const preloadMax = 64 << 10

// preload reads the whole body (its length is known and at most max) and
// returns what the transport should send: the bytes in memory, or, if the
// client failed mid-body, the bytes read and then the client's error, so the
// exchange ends as it would have while streaming.
func (b *reqBody) preload() io.ReadCloser {
	b.mu.Lock()
	defer b.mu.Unlock()
	buf := b.k.buf[:cap(b.k.buf)]
	n, err := io.ReadFull(&b.src, buf)
	b.k.buf, b.n = buf[:n], int64(n)
	buf = b.k.buf
	if err != nil {
		b.err = err
	}
	if err == nil {
		b.rc = nil // the server closes the client's body after the handler
		b.preloaded = true
		b.mem.Reset(buf)
		return &b.mem
	}
	rc := b.rc
	b.rc = nil
	return &failedBody{r: bytes.NewReader(buf), err: err, rc: rc}
}

// failedBody replays the bytes read before the client's body failed, then
// the failure.
type failedBody struct {
	r   *bytes.Reader
	err error
	rc  io.Closer
}

func (f *failedBody) Read(p []byte) (int, error) {
	if f.r.Len() > 0 {
		return f.r.Read(p)
	}
	return 0, f.err
}

func (f *failedBody) Close() error { return f.rc.Close() }

// fill reads the body up to what is stored (and a byte more, to know if it
// was cut) when nobody else reads it.
func (b *reqBody) fill() {
	b.mu.Lock()
	room := b.k.max - int64(len(b.k.buf))
	b.mu.Unlock()
	if b.rc == nil || room <= 0 {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(b, room+1))
}

// snapshot stops the capture and returns what was kept, the bytes that
// passed and whether what was kept is cut, giving its reservation back. A
// body not read to its end is cut: an upstream that answered a large
// upload early (413) leaves the rest unread, and a replay must not send
// the part kept as the whole request.
func (b *reqBody) snapshot() ([]byte, int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
	b.k.release()
	hasBody := b.src.rc != nil // init was called (preload clears b.rc)
	cut := b.n > int64(len(b.k.buf)) ||
		hasBody && !b.preloaded && !b.eof && !(b.size >= 0 && b.n >= b.size)
	return b.k.buf, b.n, cut
}

// respBody passes the response body to the client, keeping up to max bytes
// and counting all; its end (EOF, or Close before it) ends the exchange.
type respBody struct {
	rc  io.ReadCloser
	st  *exchange
	k   kept
	n   int64
	err error
	// flush: the proxy flushes the client's response itself, before each
	// read after the first, so bytes never wait for the upstream's next
	// ones; pending marks bytes handed out since the last flush, held an
	// error kept until they are flushed.
	flush, pending bool
	held           error
	// timer, when set, cancels a read that waits longer than timeout.
	timer    *time.Timer
	timeout  time.Duration
	timedOut atomic.Bool
	tm       StreamTiming // capture_timing.go
}

// isEventStream is ReverseProxy's test for Server-Sent Events, which it
// flushes at every write.
func isEventStream(h http.Header) bool {
	v := h.Get("Content-Type")
	if !strings.Contains(strings.ToLower(v), "event-stream") {
		return false // the common case, without ParseMediaType's allocations
	}
	ct, _, _ := mime.ParseMediaType(v)
	return ct == "text/event-stream"
}

func (b *respBody) init(rc io.ReadCloser, st *exchange, max, size int64) {
	b.rc, b.st = rc, st
	b.k.init(st.p.budget, max, size)
}

func (b *respBody) Read(p []byte) (int, error) {
	if b.pending {
		b.pending = false
		_ = http.NewResponseController(b.st.w).Flush() // a failed client shows on the next write
	}
	if b.held != nil {
		return 0, b.held
	}
	if b.timer != nil {
		b.timer.Reset(b.timeout)
	}
	n, err := b.rc.Read(p)
	if b.timer != nil {
		b.timer.Stop() // writing to a slow client is no upstream stall
	}
	if n > 0 {
		b.n += int64(n)
		b.k.add(p[:n])
		b.observe(p[:n])
	}
	switch {
	case err == io.EOF:
		b.st.finish("")
	case err != nil && b.err == nil:
		b.err = err
	}
	if b.flush && n > 0 && err != io.EOF {
		// More is to come, or an error that ends the response: either way
		// the client gets these bytes first.
		b.pending, b.held = true, err
		return n, nil
	}
	return n, err
}

// watch ends the response with cancel when a read of its body waits longer
// than d (for http.Transport, which has no such timeout of its own).
func (b *respBody) watch(d time.Duration, cancel func()) {
	b.timeout = d
	b.timer = time.AfterFunc(d, func() {
		b.timedOut.Store(true)
		cancel()
	})
	b.timer.Stop() // armed by each read
}

func (b *respBody) Close() error {
	if b.timer != nil {
		b.timer.Stop()
	}
	err := b.rc.Close()
	if !b.st.done {
		msg := ErrorClientCanceled
		switch {
		case b.timedOut.Load():
			msg = "upstream body: read timeout after " + b.timeout.String()
		case b.err != nil && b.st.ctx.Err() == nil:
			msg = "upstream body: " + b.err.Error()
		}
		b.st.finish(msg)
	}
	return err
}

// bufferPool lends ReverseProxy its copy buffers.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *copyBuffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(&b) }
