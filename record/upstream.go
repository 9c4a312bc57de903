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

// client is the proxy's HTTP/1.1 client to its one upstream: a pool of idle
// keep-alive connections that each handler uses on its own goroutine, start
// to end. http.Transport runs two goroutines per connection and hands every
// request and response between them and the handler through channels; for a
// sidecar's small requests those hand-offs and wake-ups cost about as much
// CPU as the whole server side (README, Performance). Responses are still
// parsed by the standard library (http.ReadResponse).
type client struct {
	addr          string      // host:port
	tls           *tls.Config // nil for http://
	dialer        net.Dialer
	headerTimeout time.Duration

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
func newClient(u *url.URL, tlsConfig *tls.Config, headerTimeout time.Duration) *client {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	c := &client{
		addr:          net.JoinHostPort(u.Hostname(), port),
		headerTimeout: headerTimeout,
		dialer:        net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second},
	}
	if u.Scheme == "https" {
		cfg := &tls.Config{}
		if tlsConfig != nil {
			cfg = tlsConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		cfg.NextProtos = []string{"http/1.1"}
		c.tls = cfg
	}
	return c
}

// upConn is one connection to the upstream.
type upConn struct {
	c      net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
	reused bool

	mu       sync.Mutex
	canceled bool // the client went away: deadlines stay in the past
	armed    bool // a read deadline bounds the wait for the response head
	answered bool // the response head was read (or the wait ended)
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

// disarmHeaderTimeout ends the wait for the response head.
func (pc *upConn) disarmHeaderTimeout() {
	pc.mu.Lock()
	pc.answered = true
	if pc.armed && !pc.canceled {
		_ = pc.c.SetReadDeadline(time.Time{})
	}
	pc.armed = false
	pc.mu.Unlock()
}

// get returns an idle connection, or dials a new one.
func (c *client) get(ctx context.Context) (*upConn, error) {
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
	if pc != nil {
		pc.reused, pc.answered, pc.armed = true, false, false
		return pc, nil
	}
	return c.dial(ctx)
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
	return &upConn{c: conn, br: bufio.NewReaderSize(conn, 16<<10), bw: bufio.NewWriterSize(conn, 16<<10)}, nil
}

// put returns a connection whose exchange ended cleanly to the pool.
func (c *client) put(pc *upConn) {
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

// readResponse reads the upstream's response head, skipping interim 1xx
// responses (100 Continue, 103 Early Hints) but not 101.
func readResponse(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	for range 10 {
		res, err := http.ReadResponse(br, req)
		if err != nil {
			return nil, err
		}
		if res.StatusCode >= 200 || res.StatusCode == http.StatusSwitchingProtocols {
			return res, nil
		}
	}
	return nil, errors.New("too many 1xx responses")
}

// staleConnError reports whether err, on a reused connection before any
// byte of a response, means the upstream had closed it: the request never
// reached it and can be sent again on a new connection.
func staleConnError(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
