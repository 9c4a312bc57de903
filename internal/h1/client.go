package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Options configures a Client. Every limit is the caller's: h1 reads no
// flags.
type Options struct {
	// HeaderTimeout bounds the wait for the response head once the request
	// is sent (http.Transport's ResponseHeaderTimeout: a slow upload is not
	// a slow upstream); 0 waits forever.
	HeaderTimeout time.Duration
	// ReadTimeout bounds each further read of the response body (nginx's
	// proxy_read_timeout), so that a stalled response ends; 0 waits forever.
	ReadTimeout time.Duration
	// MaxHeaderBytes caps the response head (status line and headers), as
	// http.Transport's MaxResponseHeaderBytes; 0 means DefaultMaxHeaderBytes.
	MaxHeaderBytes int64
	// TLS configures an https:// upstream (CAs, verification); nil is the
	// default configuration. It is cloned, its ServerName defaults to the
	// upstream's host, and only HTTP/1.1 is offered.
	TLS *tls.Config
}

// DefaultMaxHeaderBytes is the response head cap when Options leaves it 0:
// http.Transport's default.
const DefaultMaxHeaderBytes = http.DefaultMaxHeaderBytes

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
	// bufferSize is each connection's read and write buffer.
	bufferSize = 16 << 10
)

// Client is the pool of connections to one upstream. It is safe for
// concurrent use; each Conn it hands out is not.
type Client struct {
	addr          string      // host:port
	tls           *tls.Config // nil for http://
	prefix        string      // the upstream URL's path, escaped, without a final '/'
	query         string      // the upstream URL's raw query
	dialer        net.Dialer
	headerTimeout time.Duration
	readTimeout   time.Duration
	maxHead       int64

	mu     sync.Mutex
	idle   []*Conn // oldest first
	closed bool
}

// NewClient makes the client of the http:// or https:// upstream u. u's path
// and query are joined to every request's target (see Target).
func NewClient(u *url.URL, opts Options) (*Client, error) {
	if u == nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("upstream %v: want an http:// or https:// URL with a host", u)
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	if opts.MaxHeaderBytes <= 0 {
		opts.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	c := &Client{
		addr:          net.JoinHostPort(u.Hostname(), port),
		prefix:        strings.TrimSuffix(u.EscapedPath(), "/"),
		query:         u.RawQuery,
		headerTimeout: opts.HeaderTimeout,
		readTimeout:   opts.ReadTimeout,
		maxHead:       opts.MaxHeaderBytes,
		dialer:        net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second},
	}
	if u.Scheme == "https" {
		cfg := &tls.Config{}
		if opts.TLS != nil {
			cfg = opts.TLS.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		cfg.NextProtos = []string{"http/1.1"}
		c.tls = cfg
	}
	return c, nil
}

// Target is the request target the upstream gets for the caller's t: the
// upstream URL's path before it and its query joined to t's (as
// httputil.ReverseProxy joins them), or t unchanged.
func (c *Client) Target(t string) string {
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

// Get returns a clean idle connection, or dials a new one, ready for one
// exchange: its response head is capped at MaxHeaderBytes.
func (c *Client) Get(ctx context.Context) (*Conn, error) {
	if pc := c.Idle(); pc != nil {
		return pc, nil
	}
	return c.dial(ctx)
}

// Idle returns a clean idle connection ready for one exchange, as Get
// does, or nil when there is none: a caller then makes the context its
// dial needs only when it dials.
func (c *Client) Idle() *Conn {
	for {
		pc := c.takeIdle()
		if pc == nil {
			return nil
		}
		if pc.clean() {
			pc.reused, pc.answered, pc.armed, pc.headLeft = true, false, false, pc.maxHead
			return pc
		}
		// Bytes nobody asked for, or the upstream's close: never read
		// them as an answer.
		_ = pc.c.Close()
	}
}

// takeIdle takes the newest idle connection, closing those idle too long.
func (c *Client) takeIdle() *Conn {
	now := time.Now()
	c.mu.Lock()
	var stale []*Conn
	for len(c.idle) > 0 && now.Sub(c.idle[0].idleAt) > maxIdleAge {
		stale = append(stale, c.idle[0])
		c.idle[0] = nil
		c.idle = c.idle[1:]
	}
	var pc *Conn
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

func (c *Client) dial(ctx context.Context) (*Conn, error) {
	conn, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, err
	}
	sock := conn // under any TLS: what the idle check peeks at
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
	pc := &Conn{
		c:             conn,
		maxHead:       c.maxHead,
		headLeft:      c.maxHead,
		headerTimeout: c.headerTimeout,
		timeout:       c.readTimeout,
	}
	pc.idle.init(sock)
	pc.br = bufio.NewReaderSize(wire{pc}, bufferSize)
	pc.bw = bufio.NewWriterSize(conn, bufferSize)
	return pc, nil
}

// Put returns to the pool a connection whose exchange ended cleanly: its
// response was read to the end of its framing and nothing came after it.
// A connection with bytes beyond that is closed instead.
func (c *Client) Put(pc *Conn) {
	if pc.br.Buffered() > 0 {
		// More bytes than the response's framing said: the upstream is
		// out of step with us (http.Transport: "Unsolicited response").
		_ = pc.c.Close()
		return
	}
	if pc.deadline {
		// The next exchange starts without one (only when one may be
		// set: most small answers were read without a call to set it).
		_ = pc.c.SetReadDeadline(time.Time{})
		pc.deadline = false
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

// Close drops the idle connections; those in use are closed when put back.
func (c *Client) Close() {
	c.mu.Lock()
	idle := c.idle
	c.idle, c.closed = nil, true
	c.mu.Unlock()
	for _, pc := range idle {
		_ = pc.c.Close()
	}
}
