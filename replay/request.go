package replay

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/shadowctl/shadowctl/internal/h1"
	"github.com/shadowctl/shadowctl/record"
)

// NewClient returns an HTTP/1.1 client built for a load generator: up to
// concurrency keep-alive connections per host (so every worker keeps its
// connection), no proxy from the environment, no transparent compression (the
// recorded Accept-Encoding is sent as it was) and no redirects followed (a
// 3xx is an answer to compare, as the recorder saw it). tlsConf may be nil.
func NewClient(concurrency int, tlsConf *tls.Config) *http.Client {
	if concurrency < 1 {
		concurrency = 1
	}
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:               nil,
		DialContext:         d.DialContext,
		TLSClientConfig:     tlsConf,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConns:        2 * concurrency, // target and baseline
		MaxIdleConnsPerHost: concurrency,
		MaxConnsPerHost:     concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		// A non-nil empty map turns HTTP/2 off: the load is measured per
		// connection, as HTTP/1.1 clients in production send it.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	return &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// requestCache keeps, per worker, the URLs and the header built for the last
// exchange: recordings repeat paths and headers, and building them anew was
// a third of replay's own allocations per request. The client only reads a
// request's URL and header, so consecutive requests may share them.
type requestCache struct {
	ok               bool
	path             string
	target, baseline *url.URL
	pathErr          error

	recorded []record.Header
	hdr      http.Header
	hdrErr   error
	// rawHeader: the sender writes the header map as it is (internal/h1),
	// so it must not hold net/http's empty User-Agent, and nothing is
	// checked for it.
	rawHeader bool

	methodOK  bool
	method    string
	methodBad error
}

// methodErr is why method cannot be sent: http.NewRequest's check, done
// once per method instead of once per request.
func (c *requestCache) methodErr(method string) error {
	if !c.methodOK || method != c.method {
		c.methodOK, c.method = true, method
		_, c.methodBad = http.NewRequest(method, "/", nil)
	}
	return c.methodBad
}

// urls returns where path goes on the target and the baseline (nil without
// one), or why path cannot be sent.
func (c *requestCache) urls(o *Options, path string) (target, baseline *url.URL, err error) {
	if !c.ok || path != c.path {
		c.ok, c.path, c.target, c.baseline = true, path, nil, nil
		var u *url.URL
		if u, c.pathErr = url.ParseRequestURI(path); c.pathErr == nil {
			c.target = targetURL(o.Target, u)
			if o.Baseline != nil {
				c.baseline = targetURL(o.Baseline, u)
			}
		}
	}
	return c.target, c.baseline, c.pathErr
}

// header returns requestHeader(recorded, extra), extra being the same on
// every call, or why a recorded header cannot be sent (a recording is
// untrusted: a CR or LF in a value would split the request).
func (c *requestCache) header(recorded []record.Header, extra http.Header) (http.Header, error) {
	if c.hdr == nil || !slices.Equal(recorded, c.recorded) {
		c.hdr, c.recorded, c.hdrErr = requestHeader(recorded, extra), recorded, nil
		if c.rawHeader {
			for k, vs := range c.hdr {
				for _, v := range vs {
					if err := CheckHeader(k, v); err != nil && c.hdrErr == nil {
						c.hdrErr = err
					}
				}
			}
			if ua := c.hdr["User-Agent"]; len(ua) == 1 && ua[0] == "" {
				delete(c.hdr, "User-Agent") // net/http's "send none"
			}
		}
	}
	return c.hdr, c.hdrErr
}

// requestHeader rebuilds the headers to send from the recorded ones: without
// hop-by-hop headers (and those Connection names), without values that were
// redacted at recording time (the real value is unknown), with extra added or
// overriding.
func requestHeader(hs []record.Header, extra http.Header) http.Header {
	h := make(http.Header, len(hs)+len(extra)+1)
	var listed map[string]bool
	for _, x := range hs {
		if http.CanonicalHeaderKey(x.Name) != "Connection" {
			continue
		}
		for _, tok := range strings.Split(x.Value, ",") {
			if tok = strings.TrimSpace(tok); tok != "" {
				if listed == nil {
					listed = map[string]bool{}
				}
				listed[http.CanonicalHeaderKey(tok)] = true
			}
		}
	}
	for _, x := range hs {
		k := http.CanonicalHeaderKey(x.Name)
		// Host is set for the target and Content-Length recomputed from
		// the body, by net/http.
		if h1.IsHopByHop(k) || k == "Host" || k == "Content-Length" || listed[k] || x.Value == record.Redacted {
			continue
		}
		h[k] = append(h[k], x.Value)
	}
	for k, vs := range extra {
		h[http.CanonicalHeaderKey(k)] = vs
	}
	// net/http adds its own User-Agent when there is none; an empty value
	// tells it not to, so a request recorded without one is sent without one.
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""}
	}
	return h
}

// targetURL is where the recorded path goes on base: base's scheme and host,
// base's path (if any) followed by the recorded path and query, both kept
// byte-for-byte (escapes included: a base of /api%2Fv1 stays /api%2Fv1).
func targetURL(base *url.URL, recorded *url.URL) *url.URL {
	u := *recorded
	u.Scheme, u.Host, u.User = base.Scheme, base.Host, nil
	p, esc := base.Path, base.EscapedPath()
	if strings.HasSuffix(esc, "/") {
		// Only a literal slash is dropped: an escaped one (%2F) is part of
		// the name.
		p, esc = strings.TrimSuffix(p, "/"), strings.TrimSuffix(esc, "/")
	}
	if p != "" {
		u.Path = p + recorded.Path
		u.RawPath = ""
		if base.RawPath != "" || recorded.RawPath != "" {
			u.RawPath = esc + recorded.EscapedPath()
		}
	}
	return &u
}

// side is one request's outcome.
type side struct {
	status  int32
	body    []byte
	latency time.Duration
	err     string
	kind    string
	timing  record.AnswerTiming
}

// send sends one request to u and reads the whole answer, up to maxBody
// bytes. Latency runs from start (the due time in open loop) to the last
// byte of the body.
func send(ctx context.Context, c *http.Client, method string, u *url.URL, h http.Header, body []byte, start time.Time, maxBody int64) side {
	resp, err := c.Do(newRequest(ctx, method, u, h, body))
	if err != nil {
		return side{err: err.Error(), kind: Classify(err, 0), latency: time.Since(start)}
	}
	tb := record.TimeBody(resp, start)
	b, err := readBody(resp, maxBody)
	resp.Body.Close()
	s := side{status: int32(resp.StatusCode), body: b, latency: time.Since(start), timing: tb.Done()}
	if err != nil {
		s.err = fmt.Sprintf("read body: %v", err)
		s.kind = Classify(err, 0)
		return s
	}
	s.kind = Classify(nil, resp.StatusCode)
	return s
}

// newRequest is what http.NewRequestWithContext makes of method, u and a
// bytes.Reader of body, with header h, without parsing a URL already parsed
// nor making a header map to replace. The caller checked method (methodErr).
// Both sides may share u and h: the client only reads them.
func newRequest(ctx context.Context, method string, u *url.URL, h http.Header, body []byte) *http.Request {
	if method == "" {
		method = http.MethodGet
	}
	req := http.Request{Method: method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h, Host: u.Host}
	if len(body) > 0 {
		req.ContentLength = int64(len(body))
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return req.WithContext(ctx)
}

// Answer is what one request got, as a results row keeps it for a side
// (the live shadow's candidate side).
type Answer struct {
	Status  int32
	Body    []byte
	Latency time.Duration
	Err     string
	Kind    string // an error kind (Classify), "" for a 2xx/3xx answer
}
