package h1

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// Conn is one connection to the upstream, carrying one exchange at a time
// for the goroutine that got it from Client.Get. Only Abort and
// ArmHeaderTimeout may be called from another goroutine (a context's
// AfterFunc, a request body's writer).
type Conn struct {
	c             net.Conn
	br            *bufio.Reader // reads through wire
	bw            *bufio.Writer
	idleAt        time.Time
	reused        bool
	maxHead       int64
	headerTimeout time.Duration
	timeout       time.Duration
	idle          idleCheck
	// Only the goroutine that got the Conn reads it, so these need no lock
	// (one lock fewer per read).
	headLeft int64 // while reading a response head: bytes it may still take
	deadline bool  // a read deadline may be set: Put clears it

	mu       sync.Mutex
	canceled bool // the caller went away: deadlines stay in the past
	armed    bool // a read deadline bounds the wait for the response head
	answered bool // the response head was read (or the wait ended)
}

// Reader reads the response: its head is capped until EndHead, and each
// read after it is bounded by the read timeout.
func (pc *Conn) Reader() *bufio.Reader { return pc.br }

// Writer buffers the request; flush it to send.
func (pc *Conn) Writer() *bufio.Writer { return pc.bw }

// Reused reports whether the connection carried an exchange before: a
// failure before the first byte of its answer may then mean the upstream
// had closed it as the request went out (see StaleConnError).
func (pc *Conn) Reused() bool { return pc.reused }

// Close closes the connection; it is not put back.
func (pc *Conn) Close() error { return pc.c.Close() }

// ErrHeadTooLarge is the upstream's response head over MaxHeaderBytes, so
// that callers can answer it apart from other failures (a 502 saying why).
var ErrHeadTooLarge = errors.New("response header too large")

// wire is what the connection's bufio.Reader reads from: it caps what a
// response head may take (as http.Transport's MaxResponseHeaderBytes does)
// and, once the head is in, bounds each read of the body (nginx's
// proxy_read_timeout).
type wire struct{ pc *Conn }

func (w wire) Read(p []byte) (int, error) {
	pc := w.pc
	if pc.headLeft >= 0 {
		if pc.headLeft == 0 {
			return 0, ErrHeadTooLarge
		}
		if int64(len(p)) > pc.headLeft {
			p = p[:pc.headLeft]
		}
		n, err := pc.c.Read(p)
		pc.headLeft -= int64(n)
		return n, err
	}
	if pc.timeout > 0 {
		// Under the lock, so that an Abort is never undone.
		pc.mu.Lock()
		if !pc.canceled {
			_ = pc.c.SetReadDeadline(time.Now().Add(pc.timeout))
			pc.deadline = true
		}
		pc.mu.Unlock()
	}
	return pc.c.Read(p)
}

// aLongTimeAgo is a deadline that makes blocked reads and writes return.
var aLongTimeAgo = time.Unix(1, 0)

// Abort makes every read and write on the connection fail now, from any
// goroutine: it is how a caller that went away stops the exchange.
func (pc *Conn) Abort() {
	pc.mu.Lock()
	pc.canceled = true
	_ = pc.c.SetDeadline(aLongTimeAgo)
	pc.mu.Unlock()
}

// ArmHeaderTimeout starts the HeaderTimeout wait for the response head, to
// be called once the request is sent (a slow upload is no slow upstream).
// A streamed body's writer may call it after the head came: then it does
// nothing.
func (pc *Conn) ArmHeaderTimeout() {
	d := pc.headerTimeout
	if d <= 0 {
		return
	}
	pc.mu.Lock()
	if !pc.canceled && !pc.answered {
		pc.armed = true
		_ = pc.c.SetReadDeadline(time.Now().Add(d))
	}
	pc.mu.Unlock()
}

// EndHead ends the wait for the response head, read or not: no more cap, no
// header deadline; later reads are bounded by the read timeout.
func (pc *Conn) EndHead() {
	pc.headLeft = -1
	pc.mu.Lock()
	pc.answered = true
	if pc.armed && !pc.canceled {
		if pc.timeout > 0 {
			// Left as it is: each read of the body sets its own deadline
			// first, and Put clears what is left (one call fewer per
			// exchange, whose body is most often in the buffer already).
			pc.deadline = true
		} else {
			_ = pc.c.SetReadDeadline(time.Time{})
		}
	}
	pc.armed = false
	pc.mu.Unlock()
}

// clean reports whether an idle connection can carry a request: nothing
// arrived on the socket, and for TLS nothing either that the TLS layer had
// read ahead (a read that must not wait finds no record).
func (pc *Conn) clean() bool {
	if !pc.idle.idle() {
		return false
	}
	tc, ok := pc.c.(*tls.Conn)
	if !ok {
		return true
	}
	var b [1]byte
	_ = tc.SetReadDeadline(aLongTimeAgo)
	n, err := tc.Read(b[:])
	_ = tc.SetReadDeadline(time.Time{})
	var ne net.Error
	return n == 0 && errors.As(err, &ne) && ne.Timeout()
}

// ReadResponse reads the response head from the connection (see the
// package's ReadResponse). A head that used up MaxHeaderBytes and did not
// end there is ErrHeadTooLarge wherever the cap cut it: cut between a
// line's CR and LF, the parser would call it malformed instead.
func (pc *Conn) ReadResponse(req *http.Request, interim func(*http.Response)) (*http.Response, error) {
	res, err := ReadResponse(pc.br, req, interim)
	if err != nil && pc.headLeft == 0 {
		return nil, ErrHeadTooLarge
	}
	return res, err
}
