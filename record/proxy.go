package record

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Offerer takes finished exchanges without blocking (a *Sink).
type Offerer interface {
	Offer(*Exchange) bool
}

// ProxyOptions configures a Proxy.
type ProxyOptions struct {
	// Upstream is the server every request goes to (http or https).
	Upstream *url.URL
	// MaxBody is how many bytes of each body are stored; bodies pass through
	// whole whatever their size, and a longer body is stored cut and flagged.
	MaxBody int64
	// Sample is the fraction of exchanges recorded, in [0, 1].
	Sample float64
	// Redact names the headers (canonical names, see RedactSet) whose values
	// are stored as Redacted.
	Redact map[string]bool
	// Instance names this recorder in the rows.
	Instance string
	// Sink receives the rows; nil records nothing.
	Sink Offerer
	// UpstreamTimeout bounds the wait for the upstream's response headers
	// once the request is sent (a streaming body may take longer); 0 waits
	// forever. Ignored when Transport is set.
	UpstreamTimeout time.Duration
	// TLSConfig is used for an https:// upstream (CAs, verification).
	TLSConfig *tls.Config
	// Transport, when set, sends every request upstream through
	// httputil.ReverseProxy. By default the proxy uses its own lean
	// HTTP/1.1 client (see client), and ReverseProxy with
	// NewTransport(UpstreamTimeout) only for protocol upgrades and
	// upstream URLs with a path or query.
	Transport http.RoundTripper
	// Metrics counts requests and upstream latency; nil counts nothing.
	Metrics *Metrics
	// Now is the clock of started_at and latency; time.Now by default.
	Now func() time.Time
	// Logger receives debug messages about aborted exchanges; nil discards.
	Logger *slog.Logger
}

// Proxy is the recorder's reverse proxy: the client gets exactly what the
// upstream sent (status, end-to-end headers, body bytes, streamed as they
// arrive) while a copy of each exchange goes to the sink.
//
// It is transparent: the upstream sees the client's Host header, raw query
// and any Forwarded/X-Forwarded-* headers the client sent, and no
// X-Forwarded-* of its own (the model should see what it saw without the
// sidecar; an ingress in front already adds them).
type Proxy struct {
	opts   ProxyOptions
	rp     *httputil.ReverseProxy
	client *client // nil: every request goes through rp
}

// StatusClientClosed is counted in the requests metric for a client that went
// away before the upstream answered (nginx's convention).
const StatusClientClosed = 499

// Error messages stored in the error column.
const (
	ErrClientCanceled = "client canceled"
)

// NewProxy checks opts and builds the proxy.
func NewProxy(opts ProxyOptions) (*Proxy, error) {
	u := opts.Upstream
	if u == nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("upstream %v: want an http:// or https:// URL with a host", u)
	}
	if opts.Sample < 0 || opts.Sample > 1 {
		return nil, fmt.Errorf("sample %v: want a fraction between 0 and 1", opts.Sample)
	}
	if opts.MaxBody < 0 {
		return nil, fmt.Errorf("max body %d: want 0 or more bytes", opts.MaxBody)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{opts: opts}
	if opts.Transport == nil {
		t := NewTransport(opts.UpstreamTimeout)
		t.TLSClientConfig = opts.TLSConfig
		p.opts.Transport = t
		if (u.Path == "" || u.Path == "/") && u.RawQuery == "" {
			p.client = newClient(u, opts.TLSConfig, opts.UpstreamTimeout)
		}
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:   p.rewrite,
		Transport: roundTripper{p},
		// Streams (no length, or text/event-stream) ReverseProxy flushes at
		// every chunk itself. Responses of known length respBody flushes
		// before each further read of the upstream: same streaming, but a
		// body that comes in one read goes out in one write with its
		// headers. (FlushInterval -1 would flush the headers of every
		// response from a timer goroutine first: a second write and a
		// wake-up per request.)
		FlushInterval:  0,
		BufferPool:     bufferPool{},
		ErrorLog:       slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.errorHandler,
	}
	return p, nil
}

// NewTransport is an HTTP/1.1 transport tuned for a sidecar: many idle
// connections kept to the one upstream (the default of 2 throttles it), no
// proxy from the environment, no transparent decompression (bytes pass
// unchanged), and headerTimeout bounding the wait for response headers.
func NewTransport(headerTimeout time.Duration) *http.Transport {
	t := &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		ResponseHeaderTimeout: headerTimeout,
		DisableCompression:    true,
		ReadBufferSize:        16 << 10,
		WriteBufferSize:       16 << 10,
	}
	t.Protocols = new(http.Protocols)
	t.Protocols.SetHTTP1(true)
	return t
}

// roundTripper sends the proxy's upstream requests through its transport,
// first giving back a preloaded body as the in-memory reader it is:
// ReverseProxy wraps every body in a type of its own, and the transport then
// flushes the headers before copying the body (a second write(2) and TCP
// segment per request), which it skips for bytes.Reader bodies.
type roundTripper struct{ p *Proxy }

func (t roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	if st := stateOf(r); st != nil && st.req.preloaded {
		body := st.req.buf
		r2 := new(http.Request)
		*r2 = *r // RoundTrip must not change r
		r2.Body = io.NopCloser(bytes.NewReader(body))
		r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		r = r2
	}
	return t.p.opts.Transport.RoundTrip(r)
}

// Close drops the idle upstream connections.
func (p *Proxy) Close() {
	if p.client != nil {
		p.client.close()
	}
	if t, ok := p.opts.Transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

type stateKey struct{}

// exchange is the state of one proxied request. Its methods run on the
// handler's goroutine, except reqBody.Read (the transport's writer).
type exchange struct {
	p        *Proxy
	ctx      context.Context // the client's request
	w        http.ResponseWriter
	x        Exchange
	answered bool // the upstream sent a response
	sampled  bool
	sent     time.Time // request handed to the transport
	status   int       // what the client got
	done     bool
	req      reqBody
	resp     respBody
}

// ServeHTTP proxies one request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := p.opts.Now()
	st := &exchange{p: p, ctx: r.Context(), w: w, sampled: p.sample()}
	if st.sampled {
		st.x = Exchange{
			ID:        NewID(start),
			StartedAt: start.UTC(),
			Method:    r.Method,
			Host:      r.Host,
			Path:      requestTarget(r),
			Instance:  p.opts.Instance,
		}
		if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
			st.req.init(r.Body, p.opts.MaxBody, r.ContentLength)
			r.Body = &st.req
			if r.ContentLength > 0 && r.ContentLength <= min(p.opts.MaxBody, preloadMax) && r.Header.Get("Expect") == "" {
				r.Body = st.req.preload()
			}
		}
	} else if p.client != nil && r.ContentLength > 0 && r.ContentLength <= preloadMax && r.Header.Get("Expect") == "" {
		// Not recorded, but sent the same way: one write, no goroutine.
		st.req.init(r.Body, r.ContentLength, r.ContentLength)
		r.Body = st.req.preload()
	}
	// Whatever path the proxy takes (even a panic to abort the handler),
	// the exchange ends here at the latest.
	defer st.finish("proxy: exchange ended without a complete response")
	if p.client != nil && r.Header["Upgrade"] == nil && r.Method != http.MethodConnect {
		p.forward(st, w, r)
		return
	}
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
}

// forward is the proxy's own path for plain requests: the request goes to
// the upstream on a pooled connection, and the response comes back, on the
// handler's goroutine (see client). It does what ReverseProxy does with
// the proxy's Rewrite and ModifyResponse: end-to-end headers both ways, the
// client's Host, target and query unchanged, trailers passed on, and a
// response cut by the upstream cut for the client too.
func (p *Proxy) forward(st *exchange, w http.ResponseWriter, r *http.Request) {
	c := p.send(st, w, r)
	if c == nil {
		return // answered and ended by upstreamFailed
	}
	res := c.res
	removeHopByHop(res.Header)
	st.status, st.answered = res.StatusCode, true
	if st.sampled {
		st.x.Status = int32(res.StatusCode)
		st.x.ResponseHeaders = HeadersFrom(res.Header, p.opts.Redact)
	}
	h := w.Header()
	for k, vs := range res.Header {
		h[k] = vs
	}
	announced := len(res.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		h.Add("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(res.StatusCode)

	max := int64(0)
	if st.sampled {
		max = p.opts.MaxBody
	}
	st.resp.init(res.Body, st, max, res.ContentLength)
	flushEach := res.ContentLength < 0 || isEventStream(res.Header)
	st.resp.flush = !flushEach
	readErr, writeErr := copyBody(w, &st.resp, flushEach)
	if readErr != nil || writeErr != nil {
		// Close the connection first: closing a body that is not at its
		// end would read the rest of it.
		c.drop()
		_ = st.resp.Close()
		if readErr != nil && writeErr == nil {
			// The upstream cut the response: cut the client's too,
			// rather than end it as if it were complete.
			panic(http.ErrAbortHandler)
		}
		return
	}
	if len(res.Trailer) > 0 {
		// Force chunking, so the server does not compute a length and
		// drop the trailers.
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		for k, vs := range res.Trailer {
			if len(res.Trailer) == announced {
				h[k] = vs
				continue
			}
			for _, v := range vs {
				h.Add(http.TrailerPrefix+k, v)
			}
		}
	}
	c.release(p.client)
}

// call is a request sent upstream and the head of its response.
type call struct {
	pc    *upConn
	res   *http.Response
	wrote <-chan error // a streamed body's writer; nil for a body in memory
	stop  func() bool  // stops aborting pc when the client goes away
}

// send writes the request to the upstream and reads the response head.
// When there is none it answers the client and ends the exchange (see
// upstreamFailed) and returns nil.
func (p *Proxy) send(st *exchange, w http.ResponseWriter, r *http.Request) *call {
	ctx := r.Context()
	keep := newEndToEnd(r.Header)
	if st.sampled {
		st.x.RequestHeaders = headersFrom(r.Header, p.opts.Redact, keep.keep)
	}
	var mem []byte     // the whole body, in memory (or none)
	var body io.Reader // the body, to stream
	chunked := false
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		if st.req.preloaded {
			mem = st.req.buf
		} else {
			body, chunked = r.Body, r.ContentLength < 0
		}
	}
	target, host := requestTarget(r), r.Host
	if host == "" {
		host = p.opts.Upstream.Host
	}
	// --upstream-timeout runs from the end of the request, as
	// http.Transport's ResponseHeaderTimeout does: a slow upload is not an
	// upstream timeout.
	timeout := p.client.headerTimeout
	for attempt := 0; ; attempt++ {
		pc, err := p.client.get(ctx)
		if err != nil {
			p.upstreamFailed(st, w, r, err)
			return nil
		}
		c := &call{pc: pc, stop: context.AfterFunc(ctx, pc.abort)}
		stale := pc.reused
		st.sent = p.opts.Now()
		writeRequestHead(pc.bw, r, target, host, keep, chunked)
		if body == nil {
			_, _ = pc.bw.Write(mem)
			if err = pc.bw.Flush(); err == nil {
				pc.armHeaderTimeout(timeout)
			}
		} else {
			ch := make(chan error, 1)
			go func() {
				err := writeBody(pc, body, r.ContentLength, chunked)
				if err == nil {
					pc.armHeaderTimeout(timeout)
				}
				ch <- err
			}()
			c.wrote = ch
		}
		if err == nil {
			// Peek first: an error before the response's first byte
			// may mean a connection the upstream had closed.
			if _, err = pc.br.Peek(1); err == nil {
				c.res, err = readResponse(pc.br, r)
				stale = false
			}
			pc.disarmHeaderTimeout()
		}
		if err == nil {
			return c
		}
		c.drop()
		// A kept-alive connection the upstream had closed: the request
		// never reached it, and a body in memory can be sent again.
		if attempt == 0 && stale && body == nil && ctx.Err() == nil && staleConnError(err) {
			continue
		}
		p.upstreamFailed(st, w, r, err)
		return nil
	}
}

// drop closes the call's connection.
func (c *call) drop() {
	c.stop()
	_ = c.pc.c.Close()
}

// release returns the connection of a call whose response was read to its
// end to the pool, unless it cannot carry another request: the upstream
// asked to close it, the client went away, or a streamed request body is
// not all sent (the upstream answered before reading it).
func (c *call) release(cl *client) {
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
		c.pc.abort()
		_ = c.pc.c.Close()
		return
	}
	cl.put(c.pc)
}

// writeBody streams a request body that is not in memory to the upstream,
// n bytes long, or chunked. On failure it aborts the connection, so that the
// upstream does not wait for the rest.
func writeBody(pc *upConn, body io.Reader, n int64, chunked bool) error {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	var err error
	if chunked {
		cw := httputil.NewChunkedWriter(flushWriter{pc.bw})
		if _, err = io.CopyBuffer(cw, onlyReader{body}, *bp); err == nil {
			if err = cw.Close(); err == nil {
				_, err = pc.bw.WriteString("\r\n")
			}
		}
	} else {
		var m int64
		m, err = io.CopyBuffer(pc.bw, io.LimitReader(body, n), *bp)
		if err == nil && m < n {
			err = io.ErrUnexpectedEOF
		}
	}
	if err == nil {
		err = pc.bw.Flush()
	}
	if err != nil {
		pc.abort()
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

// copyBody copies the response body to the client, flushing after every
// write when flushEach (streams of unknown length, Server-Sent Events;
// otherwise the body flushes itself, see respBody). It returns the error
// that ended it, reading from the upstream or writing to the client; none
// at the body's end.
func copyBody(w http.ResponseWriter, body *respBody, flushEach bool) (readErr, writeErr error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	f, _ := w.(http.Flusher)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil, werr
			}
			if flushEach && f != nil {
				f.Flush()
			}
		}
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return err, nil
		}
	}
}

// removeHopByHop deletes the hop-by-hop headers of h, and those its
// Connection header names.
func removeHopByHop(h http.Header) {
	keep := newEndToEnd(h)
	for k := range h {
		if !keep.keep(k) {
			delete(h, k)
		}
	}
}

func (p *Proxy) sample() bool {
	if p.opts.Sink == nil {
		return false
	}
	switch {
	case p.opts.Sample >= 1:
		return true
	case p.opts.Sample <= 0:
		return false
	}
	return rand.Float64() < p.opts.Sample
}

// requestTarget is the path and raw query as the client sent them.
func requestTarget(r *http.Request) string {
	if len(r.RequestURI) > 0 && r.RequestURI[0] == '/' {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}

func stateOf(r *http.Request) *exchange {
	st, _ := r.Context().Value(stateKey{}).(*exchange)
	return st
}

// forwarded are the headers ReverseProxy strips before Rewrite; a
// transparent proxy passes the client's values on.
var forwarded = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"}

func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(p.opts.Upstream)
	pr.Out.Host = pr.In.Host
	// Pass the raw query as sent (ReverseProxy drops parameters it cannot
	// parse, e.g. with ';').
	switch q := pr.In.URL.RawQuery; {
	case p.opts.Upstream.RawQuery == "":
		pr.Out.URL.RawQuery = q
	case q != "":
		pr.Out.URL.RawQuery = p.opts.Upstream.RawQuery + "&" + q
	}
	for _, k := range forwarded {
		if v, ok := pr.In.Header[k]; ok {
			pr.Out.Header[k] = v
		}
	}
	st := stateOf(pr.In)
	if st == nil {
		return
	}
	if st.sampled {
		st.x.RequestHeaders = HeadersFrom(pr.Out.Header, p.opts.Redact)
	}
	st.sent = p.opts.Now()
}

func (p *Proxy) modifyResponse(res *http.Response) error {
	st := stateOf(res.Request)
	if st == nil {
		return nil
	}
	st.status, st.answered = res.StatusCode, true
	if st.sampled {
		st.x.Status = int32(res.StatusCode)
		st.x.ResponseHeaders = HeadersFrom(res.Header, p.opts.Redact)
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		// The body is the upgraded connection: leave it alone.
		st.finish("")
		return nil
	}
	max := int64(0)
	if st.sampled {
		max = p.opts.MaxBody
	}
	st.resp.init(res.Body, st, max, res.ContentLength)
	if res.ContentLength >= 0 && !isEventStream(res.Header) {
		st.resp.flush = true // ReverseProxy will not (see NewProxy)
	}
	res.Body = &st.resp
	return nil
}

// errorHandler answers when the upstream gave no response: 502 (504 when it
// timed out), a short plain-text reason, and the exchange is recorded with
// its error and status 0.
func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	p.upstreamFailed(stateOf(r), w, r, err)
}

// upstreamFailed answers the client when the upstream gave no response and
// ends the exchange st (which may be nil) with the error.
func (p *Proxy) upstreamFailed(st *exchange, w http.ResponseWriter, r *http.Request, err error) {
	code, reason, stored := http.StatusBadGateway, "upstream unreachable", "upstream: "+err.Error()
	var ne net.Error
	switch {
	case r.Context().Err() != nil:
		code, reason, stored = StatusClientClosed, "", ErrClientCanceled
	case errors.As(err, &ne) && ne.Timeout():
		code, reason, stored = http.StatusGatewayTimeout, "upstream timeout", "upstream timeout: "+err.Error()
	}
	if reason != "" {
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, http.StatusText(code)+": "+reason+"\n")
	}
	p.opts.Logger.Debug("upstream error", "path", r.URL.Path, "err", err)
	var oe *net.OpError
	if st != nil && st.sampled && errors.As(err, &oe) && oe.Op == "dial" {
		// The transport never touched the body: read what is stored of it
		// anyway, so a replay can send the request the upstream missed.
		st.req.fill()
	}
	if st != nil {
		st.status = code
		st.finish(stored)
	}
}

// finish ends the exchange once: counts it and hands its row to the sink.
func (st *exchange) finish(errMsg string) {
	if st.done {
		return
	}
	st.done = true
	p := st.p
	end := p.opts.Now()
	var latency time.Duration
	if !st.sent.IsZero() {
		latency = end.Sub(st.sent)
	}
	status := st.status
	if status == 0 {
		status = StatusClientClosed
		if errMsg == "" {
			errMsg = ErrClientCanceled
		}
	}
	p.opts.Metrics.observe(status, latency, st.answered)
	if !st.sampled {
		return
	}
	x := &st.x
	x.LatencyNs = int64(latency)
	x.Error = errMsg
	x.RequestBody, x.RequestBodySize, x.RequestBodyTruncated = st.req.snapshot()
	x.ResponseBody, x.ResponseBodySize, x.ResponseBodyTruncated = st.resp.buf, st.resp.n, st.resp.n > int64(len(st.resp.buf))
	p.opts.Sink.Offer(x)
}

// reqBody passes the request body through, keeping up to max bytes and
// counting all. The transport reads it on its own goroutine, hence the lock.
type reqBody struct {
	rc   io.ReadCloser
	mu   sync.Mutex
	buf  []byte
	max  int64
	n    int64
	done bool
	// preloaded: buf is the whole body, read before the request went
	// upstream (see preload).
	preloaded bool
}

func (b *reqBody) init(rc io.ReadCloser, max, size int64) {
	b.rc, b.max = rc, max
	if size > 0 {
		b.buf = make([]byte, 0, min(size, max))
	}
}

func (b *reqBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.mu.Lock()
		if !b.done {
			b.n += int64(n)
			if room := b.max - int64(len(b.buf)); room > 0 {
				b.buf = append(b.buf, p[:min(int64(n), room)]...)
			}
		}
		b.mu.Unlock()
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
	buf := b.buf[:cap(b.buf)]
	n, err := io.ReadFull(b.rc, buf)
	b.buf, b.n = buf[:n], int64(n)
	if err == nil {
		b.rc = nil // the server closes the client's body after the handler
		b.preloaded = true
		return io.NopCloser(bytes.NewReader(b.buf))
	}
	rc := b.rc
	b.rc = nil
	return &failedBody{r: bytes.NewReader(b.buf), err: err, rc: rc}
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
	if b.rc == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(b, b.max-int64(len(b.buf))+1))
}

// snapshot stops the capture and returns what was kept.
func (b *reqBody) snapshot() ([]byte, int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
	return b.buf, b.n, b.n > int64(len(b.buf))
}

// respBody passes the response body to the client, keeping up to max bytes
// and counting all; its end (EOF, or Close before it) ends the exchange.
type respBody struct {
	rc  io.ReadCloser
	st  *exchange
	buf []byte
	max int64
	n   int64
	err error
	// flush: the proxy flushes the client's response itself, before each
	// read after the first, so bytes never wait for the upstream's next
	// ones; pending marks bytes handed out since the last flush, held an
	// error kept until they are flushed.
	flush, pending bool
	held           error
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
	b.rc, b.st, b.max = rc, st, max
	if size > 0 && max > 0 {
		b.buf = make([]byte, 0, min(size, max))
	}
}

func (b *respBody) Read(p []byte) (int, error) {
	if b.pending {
		b.pending = false
		_ = http.NewResponseController(b.st.w).Flush() // a failed client shows on the next write
	}
	if b.held != nil {
		return 0, b.held
	}
	n, err := b.rc.Read(p)
	if n > 0 {
		b.n += int64(n)
		if room := b.max - int64(len(b.buf)); room > 0 {
			b.buf = append(b.buf, p[:min(int64(n), room)]...)
		}
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

func (b *respBody) Close() error {
	err := b.rc.Close()
	if !b.st.done {
		msg := ErrClientCanceled
		if b.err != nil && b.st.ctx.Err() == nil {
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
