package record

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shadowctl/shadowctl/internal/h1"
	"golang.org/x/net/http/httpguts"
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
	// UpstreamReadTimeout bounds the wait for each further read of the
	// upstream's response body (nginx's proxy_read_timeout): a stalled
	// response is cut after it. 0 waits forever.
	UpstreamReadTimeout time.Duration
	// ClientBodyTimeout bounds the wait for each further read of the
	// client's request body (nginx's client_body_timeout): a stalled upload
	// is ended with 408 and its upstream connection closed. 0 waits forever.
	ClientBodyTimeout time.Duration
	// MaxResponseHeaderBytes caps the upstream's response head (status line
	// and headers); a larger one is a 502. 0 means DefaultMaxResponseHeaderBytes.
	MaxResponseHeaderBytes int64
	// BodyMemory bounds the bytes of request and response bodies held in
	// memory at once by exchanges in flight (for recording and preloading);
	// past it, bodies stream through whole, stored cut and flagged. 0 means
	// DefaultBodyMemory.
	BodyMemory int64
	// TLSConfig is used for an https:// upstream (CAs, verification).
	TLSConfig *tls.Config
	// Transport, when set, sends every request upstream through
	// httputil.ReverseProxy. By default the proxy uses its own lean
	// HTTP/1.1 client (internal/h1), and ReverseProxy with
	// NewTransport(UpstreamTimeout) only for protocol upgrades.
	Transport http.RoundTripper
	// Mirror, when set, gets a copy of each plain request and the answer
	// the client got (the live shadow); nil mirrors nothing.
	Mirror Mirror
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
	budget *budget // bodies held by exchanges in flight
	rp     *httputil.ReverseProxy
	client *h1.Client // nil: every request goes through rp
	// upErrs limits the warnings of an upstream that fails.
	upErrs errorLog
	// active counts the exchanges in ServeHTTP, so that a drain cut short
	// can wait for them to end (and be recorded) before the sink closes.
	active atomic.Int64
}

// Active is the number of exchanges being served.
func (p *Proxy) Active() int64 { return p.active.Load() }

// WaitIdle waits up to d for the exchanges being served to end, and
// reports whether they all did. It polls: it runs once, at a drain cut
// short, and keeps the request path at one atomic add each way.
func (p *Proxy) WaitIdle(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for p.active.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// errorLog logs a kind of error at most once per errorLogEvery, with the
// count of those not logged since: an upstream that is down fails every
// request, and a line per request would bury the log.
type errorLog struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int64
}

const errorLogEvery = 30 * time.Second

// due reports whether to log an error now, and how many were not logged
// since the last one.
func (l *errorLog) due(now time.Time) (bool, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < errorLogEvery {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return true, n
}

// Defaults of the proxy's limits.
const (
	DefaultMaxResponseHeaderBytes = 1 << 20
	DefaultBodyMemory             = 128 << 20
)

// StatusClientClosed is counted in the requests metric for a client that went
// away before the upstream answered (nginx's convention).
const StatusClientClosed = 499

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
	if opts.MaxResponseHeaderBytes <= 0 {
		opts.MaxResponseHeaderBytes = DefaultMaxResponseHeaderBytes
	}
	if opts.UpstreamReadTimeout < 0 || opts.ClientBodyTimeout < 0 {
		return nil, fmt.Errorf("timeouts: want 0 (none) or a positive duration")
	}
	if opts.BodyMemory <= 0 {
		opts.BodyMemory = DefaultBodyMemory
	}
	p := &Proxy{opts: opts, budget: newBudget(opts.BodyMemory)}
	opts.Metrics.watchBudget(p.budget)
	if opts.Transport == nil {
		t := NewTransport(opts.UpstreamTimeout)
		t.TLSClientConfig = opts.TLSConfig
		t.MaxResponseHeaderBytes = opts.MaxResponseHeaderBytes
		// Only upgrades go this way: a new connection each (a switched
		// one is the client's until it ends), so none is ever reused
		// after an answer that did not switch. http.Transport reuses a
		// connection after a 204, 304 or HEAD answer that carried a body
		// (see internal/h1): its bytes would be the next answer.
		t.DisableKeepAlives = true
		p.opts.Transport = t
		// Every request but upgrades goes through the own client, which
		// is stricter than http.Transport about reusing a connection.
		c, err := h1.NewClient(u, h1.Options{
			HeaderTimeout:  opts.UpstreamTimeout,
			ReadTimeout:    opts.UpstreamReadTimeout,
			MaxHeaderBytes: opts.MaxResponseHeaderBytes,
			TLS:            opts.TLSConfig,
		})
		if err != nil {
			return nil, err
		}
		p.client = c
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
		body := st.req.k.buf
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
		p.client.Close()
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
	cancel   func() // ends the upstream request (ReverseProxy's path)
	req      reqBody
	resp     respBody
	start    time.Time
	mirrored Mirrored    // the mirror took the request
	respHead http.Header // the upstream's end-to-end headers, for the mirror
}

// ServeHTTP proxies one request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.active.Add(1)
	defer p.active.Add(-1)
	start := p.opts.Now()
	st := &exchange{p: p, ctx: r.Context(), w: w, sampled: p.sample(), start: start}
	if st.sampled {
		st.x = Exchange{
			ID:        NewID(start),
			StartedAt: start.UTC(),
			Method:    r.Method,
			Host:      r.Host,
			Path:      requestTarget(r),
			Instance:  p.opts.Instance,
		}
	}
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		// Every body is read through reqBody, recorded or not: it bounds
		// each read by ClientBodyTimeout and notes the client's failures.
		max := int64(0)
		if st.sampled {
			max = p.opts.MaxBody
		}
		small := r.ContentLength > 0 && r.ContentLength <= preloadMax && r.Header.Get("Expect") == ""
		if !st.sampled && small && p.client != nil {
			// Not recorded, but sent the same way: one write, no goroutine.
			max = r.ContentLength
		}
		if !st.sampled && p.opts.Mirror != nil && p.client != nil && heldOnceRead(r) {
			// Streamed (after Expect), not recorded, and kept whole as it
			// passes for the mirror (see offerLate); a recorded one keeps
			// up to --max-body, as the mirror does.
			max = r.ContentLength
		}
		st.req.init(r.Body, w, p.opts.ClientBodyTimeout, p.budget, max, r.ContentLength)
		r.Body = &st.req
		if small && r.ContentLength <= max && st.req.canPreload(r.ContentLength) {
			r.Body = st.req.preload()
		}
	}
	// Whatever path the proxy takes (even a panic to abort the handler),
	// the exchange ends here at the latest.
	defer st.finish("proxy: exchange ended without a complete response")
	if r.Method == http.MethodConnect {
		refuseConnect(st, w)
		return
	}
	if p.client != nil && !isUpgrade(r) {
		p.forward(st, w, r)
		return
	}
	// http.Transport has no timeout between two reads of a body: a
	// watchdog (see respBody) cancels the upstream request instead.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	st.cancel = cancel
	p.rp.ServeHTTP(transparentWriter{w}, r.WithContext(context.WithValue(ctx, stateKey{}, st)))
}

// refuseConnect answers a CONNECT with 405 and records it: a tunnel is no
// exchange with a model server (ReverseProxy would send it as "CONNECT /"
// and hand a 2xx back as an open tunnel).
func refuseConnect(st *exchange, w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Connection", "close")
	w.WriteHeader(http.StatusMethodNotAllowed)
	_, _ = io.WriteString(w, "Method Not Allowed: CONNECT is not forwarded\n")
	st.status = http.StatusMethodNotAllowed
	st.finish("proxy: CONNECT is not forwarded")
}

// heldOnceRead reports whether r's body, streamed, is small enough to be
// kept whole as it passes: a known length up to preloadMax sent after
// Expect: 100-continue (which must not be read before the upstream says).
func heldOnceRead(r *http.Request) bool {
	return r.ContentLength > 0 && r.ContentLength <= preloadMax && r.Header.Get("Expect") != ""
}

// isUpgrade reports whether r asks for a protocol switch (an Upgrade
// header named by Connection, as RFC 9110 §7.8 and ReverseProxy have it).
// An Upgrade header alone is a hop-by-hop header like any other: the
// request goes the proxy's own way, without it.
func isUpgrade(r *http.Request) bool {
	return r.Header["Upgrade"] != nil && httpguts.HeaderValuesContainsToken(r.Header["Connection"], "upgrade")
}

// transparentWriter is the client's ResponseWriter as ReverseProxy sees it:
// it keeps Go's server from adding headers to the upstream's (see
// suppressAdded). Unwrap lets ReverseProxy flush and hijack through it.
type transparentWriter struct{ http.ResponseWriter }

func (t transparentWriter) WriteHeader(code int) {
	if code >= 200 {
		suppressAdded(t.Header())
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t transparentWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// forward is the proxy's own path for plain requests: the request goes to
// the upstream on a pooled connection, and the response comes back, on the
// handler's goroutine (see internal/h1). It does what ReverseProxy does with
// the proxy's Rewrite and ModifyResponse: end-to-end headers both ways, the
// client's Host, target and query unchanged, trailers passed on, and a
// response cut by the upstream cut for the client too.
func (p *Proxy) forward(st *exchange, w http.ResponseWriter, r *http.Request) {
	c := p.send(st, w, r)
	if c == nil {
		return // answered and ended by upstreamFailed
	}
	res := c.res
	h1.RemoveHopByHop(res.Header)
	st.status, st.answered = res.StatusCode, true
	if st.sampled {
		st.x.Status = int32(res.StatusCode)
		st.x.ResponseHeaders = HeadersFrom(res.Header, p.opts.Redact)
	}
	st.respHead = res.Header
	h := w.Header()
	for k, vs := range res.Header {
		h[k] = vs
	}
	suppressAdded(h)
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
	if st.sampled || st.mirrored != nil {
		max = p.opts.MaxBody
	}
	st.resp.init(res.Body, st, max, res.ContentLength)
	st.timeAnswer(isEventStream(res.Header))
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

// suppressAdded keeps Go's server from adding to a response headers the
// upstream did not send: a sniffed Content-Type and a Date (a nil value
// means "present, write nothing").
func suppressAdded(h http.Header) {
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil
	}
	if _, ok := h["Date"]; !ok {
		h["Date"] = nil
	}
}

// forwardInterim passes an interim response (103 Early Hints, say) on to
// the client as it came, as ReverseProxy does, unless the client speaks
// HTTP/1.0, which has no 1xx (RFC 9110 §15.2: it would take it as the
// answer).
func forwardInterim(w http.ResponseWriter, r *http.Request, res *http.Response) {
	if !r.ProtoAtLeast(1, 1) {
		return
	}
	h := w.Header()
	h1.RemoveHopByHop(res.Header)
	for k, vs := range res.Header {
		h[k] = vs
	}
	w.WriteHeader(res.StatusCode)
	clear(h) // WriteHeader leaves a 1xx's headers in the map
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
	if d := p.opts.UpstreamReadTimeout; d > 0 && st.cancel != nil {
		st.resp.watch(d, st.cancel)
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
	var bodyErr error
	if st != nil {
		bodyErr = st.req.failure()
	}
	switch {
	case bodyErr != nil && errors.Is(bodyErr, os.ErrDeadlineExceeded):
		// The client stalled mid-upload (ClientBodyTimeout).
		code, reason, stored = http.StatusRequestTimeout, "client body timeout", "client body: "+bodyErr.Error()
	case bodyErr != nil && r.Context().Err() == nil && !errors.Is(bodyErr, io.ErrUnexpectedEOF):
		// A body the server could not read (bad chunked framing): the
		// client's error, not the upstream's.
		code, reason, stored = http.StatusBadRequest, "malformed request body", "client body: "+bodyErr.Error()
	case errors.Is(err, h1.ErrHeadTooLarge):
		reason = "upstream sent too big header"
	case errors.Is(err, h1.ErrInvalidResponse):
		reason = "upstream sent an invalid header"
	case r.Context().Err() != nil:
		code, reason, stored = StatusClientClosed, "", ErrorClientCanceled
	case errors.As(err, &ne) && ne.Timeout():
		code, reason, stored = http.StatusGatewayTimeout, "upstream timeout", "upstream timeout: "+err.Error()
	}
	if reason != "" {
		h := w.Header()
		clear(h) // what a 103 left, say
		if code == http.StatusRequestTimeout || code == http.StatusBadRequest {
			h.Set("Connection", "close")
		}
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, http.StatusText(code)+": "+reason+"\n")
	}
	if code == http.StatusBadGateway || code == http.StatusGatewayTimeout {
		// The upstream's fault, not the client's: an operator needs to
		// see it without --log-level debug.
		if ok, n := p.upErrs.due(time.Now()); ok {
			p.opts.Logger.Warn("upstream failed; the client got "+strconv.Itoa(code)+" (logged at most once per 30 s)",
				"path", r.URL.Path, "err", err, "errors_not_logged", n)
		}
	} else {
		p.opts.Logger.Debug("upstream error", "path", r.URL.Path, "err", err)
	}
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
	if code == StatusClientClosed {
		// The client went away (Go's server saw its connection end,
		// which a client that only half-closed also does): write
		// nothing, or the server would end the handler with a 200 of its
		// own that the upstream never sent. nginx closes too (its 499).
		panic(http.ErrAbortHandler)
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
			errMsg = ErrorClientCanceled
		}
	}
	p.opts.Metrics.observe(status, latency, st.answered)
	st.answerMirror(latency, errMsg)
	if !st.sampled {
		st.req.snapshot()
		st.resp.k.release()
		st.resp.tm.Reset()
		return
	}
	x := &st.x
	x.LatencyNs = int64(latency)
	x.Error = errMsg
	x.RequestBody, x.RequestBodySize, x.RequestBodyTruncated = st.req.snapshot()
	st.resp.k.release()
	x.ResponseBody, x.ResponseBodySize, x.ResponseBodyTruncated = st.resp.k.buf, st.resp.n, st.resp.n > int64(len(st.resp.k.buf))
	st.storeTiming(x)
	p.opts.Sink.Offer(x)
}
