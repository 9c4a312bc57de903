package record

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// client is the proxy's HTTP/1.1 client to its one upstream: a
// pool of idle keep-alive connections that each handler uses on its own
// goroutine, start to end. http.Transport runs two goroutines per connection
// and hands every request and response between them and the handler through
// channels; for a sidecar's small requests those hand-offs and wake-ups cost
// about as much CPU as the whole server side (README, Performance).
// Responses are parsed by the standard library (http.ReadResponse).
//
// It is as strict as http.Transport about reuse: a connection goes back to
// the pool only when its response was read to the end of its framing with
// nothing buffered beyond it, and it is taken from the pool only when no
// byte (nor the upstream's close) arrived while it sat idle (see clean).
// Anything else and it is closed: bytes the framing did not announce are
// never read as the next request's answer. (http.Transport is not as
// strict: it reuses a connection after a 204, 304 or HEAD answer that
// carried a body, and one whose extra bytes arrive as it is taken again;
// TestProxyNeverHandsOneClientAnothersAnswer shows both.)
type client struct {
	addr          string      // host:port
	tls           *tls.Config // nil for http://
	prefix        string      // the upstream URL's path, escaped, without a final '/'
	query         string      // the upstream URL's raw query
	dialer        net.Dialer
	headerTimeout time.Duration // wait for the response head after the request
	readTimeout   time.Duration // wait for each further read of the body
	maxHead       int64         // bytes of the response head read at most

	mu     sync.Mutex
	idle   []*upConn // oldest first
	closed bool
}

const (
	// maxIdleConns bounds the idle connections kept to the upstream.
	maxIdleConns = 1024
	// maxIdleAge: an idle connection is closed rather than reused after
	// this long. Servers close idle keep-alive connections after a few
	// seconds (gunicorn 2 s, uvicorn 5 s), and a request sent as they do
	// fails; under load connections are reused within milliseconds.
	maxIdleAge = time.Second
	// tlsHandshakeTimeout bounds the TLS handshake with the upstream.
	tlsHandshakeTimeout = 10 * time.Second
)

// newClient makes the client of the http:// or https:// upstream u.
func newClient(u *url.URL, opts ProxyOptions) *client {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	c := &client{
		addr:          net.JoinHostPort(u.Hostname(), port),
		prefix:        strings.TrimSuffix(u.EscapedPath(), "/"),
		query:         u.RawQuery,
		headerTimeout: opts.UpstreamTimeout,
		readTimeout:   opts.UpstreamReadTimeout,
		maxHead:       opts.MaxResponseHeaderBytes,
		dialer:        net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second},
	}
	if u.Scheme == "https" {
		cfg := &tls.Config{}
		if opts.TLSConfig != nil {
			cfg = opts.TLSConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		cfg.NextProtos = []string{"http/1.1"}
		c.tls = cfg
	}
	return c
}

// target is the request target the upstream gets for the client's: the
// upstream URL's path before it and its query joined to the client's (as
// ReverseProxy joins them), or the client's unchanged.
func (c *client) target(t string) string {
	if (c.prefix == "" && c.query == "") || !strings.HasPrefix(t, "/") {
		return t // "*" of OPTIONS stays as it is
	}
	path, q, hasQ := strings.Cut(t, "?")
	path = c.prefix + path
	switch {
	case c.query == "" && hasQ:
		return path + "?" + q
	case c.query == "":
		return path
	case hasQ && q != "":
		return path + "?" + c.query + "&" + q
	}
	return path + "?" + c.query
}

// upConn is one connection to the upstream.
type upConn struct {
	c      net.Conn
	br     *bufio.Reader // reads through wire
	bw     *bufio.Writer
	idleAt time.Time
	reused bool

	mu       sync.Mutex
	canceled bool  // the client went away: deadlines stay in the past
	armed    bool  // a read deadline bounds the wait for the response head
	answered bool  // the response head was read (or the wait ended)
	headLeft int64 // while reading a response head: bytes it may still take
	timeout  time.Duration
}

// errHeadTooLarge is the upstream's response head over the limit.
var errHeadTooLarge = errors.New("response header too large")

// wire is what the connection's bufio.Reader reads from: it caps what a
// response head may take (as http.Transport's MaxResponseHeaderBytes does)
// and, once the head is in, bounds each read of the body (nginx's
// proxy_read_timeout).
type wire struct{ pc *upConn }

func (w wire) Read(p []byte) (int, error) {
	pc := w.pc
	pc.mu.Lock()
	if pc.headLeft >= 0 {
		if pc.headLeft == 0 {
			pc.mu.Unlock()
			return 0, errHeadTooLarge
		}
		if int64(len(p)) > pc.headLeft {
			p = p[:pc.headLeft]
		}
	} else if pc.answered && pc.timeout > 0 && !pc.canceled {
		_ = pc.c.SetReadDeadline(time.Now().Add(pc.timeout))
	}
	pc.mu.Unlock()
	n, err := pc.c.Read(p)
	if n > 0 {
		pc.mu.Lock()
		if pc.headLeft >= 0 {
			pc.headLeft -= int64(n)
		}
		pc.mu.Unlock()
	}
	return n, err
}

// aLongTimeAgo is a deadline that makes blocked reads and writes return.
var aLongTimeAgo = time.Unix(1, 0)

// abort makes every read and write on the connection fail now.
func (pc *upConn) abort() {
	pc.mu.Lock()
	pc.canceled = true
	_ = pc.c.SetDeadline(aLongTimeAgo)
	pc.mu.Unlock()
}

// startHead begins the wait for a response head: at most max bytes.
func (pc *upConn) startHead(max int64) {
	pc.mu.Lock()
	pc.headLeft = max
	pc.mu.Unlock()
}

// armHeaderTimeout bounds the wait for the response head to d from now
// (0: no bound), once the request is sent. The body's writer may call it
// after the head came: then it does nothing.
func (pc *upConn) armHeaderTimeout(d time.Duration) {
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

// endHead ends the wait for the response head: no more cap, no header
// deadline; later reads are bounded by the read timeout.
func (pc *upConn) endHead() {
	pc.mu.Lock()
	pc.answered = true
	pc.headLeft = -1
	if pc.armed && !pc.canceled {
		_ = pc.c.SetReadDeadline(time.Time{})
	}
	pc.armed = false
	pc.mu.Unlock()
}

// get returns a clean idle connection, or dials a new one.
func (c *client) get(ctx context.Context) (*upConn, error) {
	for {
		pc := c.takeIdle()
		if pc == nil {
			return c.dial(ctx)
		}
		if pc.clean() {
			pc.reused, pc.answered, pc.armed, pc.headLeft = true, false, false, -1
			return pc, nil
		}
		// Bytes nobody asked for, or the upstream's close: never read
		// them as an answer.
		_ = pc.c.Close()
	}
}

// takeIdle takes the newest idle connection, closing those idle too long.
func (c *client) takeIdle() *upConn {
	now := time.Now()
	c.mu.Lock()
	var stale []*upConn
	for len(c.idle) > 0 && now.Sub(c.idle[0].idleAt) > maxIdleAge {
		stale = append(stale, c.idle[0])
		c.idle[0] = nil
		c.idle = c.idle[1:]
	}
	var pc *upConn
	if n := len(c.idle); n > 0 {
		pc = c.idle[n-1]
		c.idle[n-1] = nil
		c.idle = c.idle[:n-1]
	}
	c.mu.Unlock()
	for _, s := range stale {
		_ = s.c.Close()
	}
	return pc
}

// clean reports whether an idle connection can carry a request: nothing
// arrived on the socket, and for TLS nothing either that the TLS layer had
// read ahead (a read that must not wait finds no record).
func (pc *upConn) clean() bool {
	tc, ok := pc.c.(*tls.Conn)
	if !ok {
		return idleClean(pc.c)
	}
	if !idleClean(tc.NetConn()) {
		return false
	}
	var b [1]byte
	_ = tc.SetReadDeadline(aLongTimeAgo)
	n, err := tc.Read(b[:])
	_ = tc.SetReadDeadline(time.Time{})
	var ne net.Error
	return n == 0 && errors.As(err, &ne) && ne.Timeout()
}

func (c *client) dial(ctx context.Context) (*upConn, error) {
	conn, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, err
	}
	if c.tls != nil {
		tc := tls.Client(conn, c.tls)
		hctx, cancel := context.WithTimeout(ctx, tlsHandshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			_ = conn.Close()
			return nil, err
		}
		conn = tc
	}
	pc := &upConn{c: conn, headLeft: -1, timeout: c.readTimeout}
	pc.br = bufio.NewReaderSize(wire{pc}, 16<<10)
	pc.bw = bufio.NewWriterSize(conn, 16<<10)
	return pc, nil
}

// put returns a connection whose exchange ended cleanly to the pool: its
// response was read to the end and nothing came after it.
func (c *client) put(pc *upConn) {
	if pc.br.Buffered() > 0 {
		// More bytes than the response's framing said: the upstream is
		// out of step with us (http.Transport: "Unsolicited response").
		_ = pc.c.Close()
		return
	}
	if pc.timeout > 0 {
		_ = pc.c.SetReadDeadline(time.Time{})
	}
	pc.idleAt = time.Now()
	c.mu.Lock()
	if c.closed || len(c.idle) >= maxIdleConns {
		c.mu.Unlock()
		_ = pc.c.Close()
		return
	}
	c.idle = append(c.idle, pc)
	c.mu.Unlock()
}

// close drops the idle connections; later ones are closed when put back.
func (c *client) close() {
	c.mu.Lock()
	idle := c.idle
	c.idle, c.closed = nil, true
	c.mu.Unlock()
	for _, pc := range idle {
		_ = pc.c.Close()
	}
}

// hopByHop are the headers a proxy does not forward (RFC 9110 section 7.6.1,
// and those ReverseProxy drops), besides those the Connection header names.
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

// endToEnd reports which headers of h are forwarded: all but the hop-by-hop
// ones and those its Connection header names.
type endToEnd struct{ named []string }

func newEndToEnd(h http.Header) endToEnd {
	var e endToEnd
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.Trim(f, " \t"); f != "" {
				e.named = append(e.named, http.CanonicalHeaderKey(f))
			}
		}
	}
	return e
}

func (e endToEnd) keep(k string) bool {
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

// writeRequestHead writes the request line and headers the upstream gets:
// the client's method, target, Host and end-to-end headers, and the body's
// framing (length, or chunked when the client's length is unknown).
func writeRequestHead(bw *bufio.Writer, r *http.Request, target, host string, keep endToEnd, chunked bool) {
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(target)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	for k, vs := range r.Header {
		if !keep.keep(k) || k == "Host" || k == "Content-Length" {
			continue
		}
		for _, v := range vs {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	if te := r.Header["Te"]; len(te) > 0 && hasToken(te, "trailers") {
		bw.WriteString("Te: trailers\r\n")
	}
	switch {
	case chunked:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case r.ContentLength > 0:
		bw.WriteString("Content-Length: ")
		bw.WriteString(strconv.FormatInt(r.ContentLength, 10))
		bw.WriteString("\r\n")
	case r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch:
		bw.WriteString("Content-Length: 0\r\n")
	}
	bw.WriteString("\r\n")
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

// errUnrequestedUpgrade is a 101 answer to a request that asked for no
// protocol switch (ReverseProxy answers 502 too).
var errUnrequestedUpgrade = errors.New("101 Switching Protocols to a request without Upgrade")

// readResponse reads the upstream's response head. Interim responses are
// handed to interim (103 Early Hints and the like; 100 Continue is the
// proxy's own business with its client and is skipped). A 101 is an error:
// requests that ask for an upgrade do not come this way.
func readResponse(br *bufio.Reader, req *http.Request, interim func(*http.Response)) (*http.Response, error) {
	for range 10 {
		res, err := http.ReadResponse(br, req)
		if err != nil {
			return nil, err
		}
		switch {
		case res.StatusCode == http.StatusSwitchingProtocols:
			return nil, errUnrequestedUpgrade
		case res.StatusCode >= 200:
			return res, nil
		case res.StatusCode != http.StatusContinue && interim != nil:
			interim(res)
		}
	}
	return nil, errors.New("too many 1xx responses")
}

// staleConnError reports whether err, on a reused connection before any
// byte of a response, means the upstream had closed it as the request went
// out.
func staleConnError(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// retryable reports whether r may be sent again after a kept-alive
// connection failed before any byte of its answer: the upstream may have
// acted on it, so only requests that are safe to repeat are (http.Transport's
// rule: idempotent methods, or an Idempotency-Key).
func retryable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return r.Header["Idempotency-Key"] != nil || r.Header["X-Idempotency-Key"] != nil
}
