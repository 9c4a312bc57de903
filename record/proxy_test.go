package record

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/poll"
)

// rig is an upstream, a sink in a temporary folder and the proxy between.
type rig struct {
	t        *testing.T
	dir      string
	upstream *httptest.Server
	sink     *Sink
	proxy    *Proxy
	front    *httptest.Server
}

func newRig(t *testing.T, upstream http.Handler, popts ProxyOptions, sopts SinkOptions) *rig {
	t.Helper()
	r := &rig{t: t, dir: t.TempDir()}
	r.upstream = httptest.NewServer(upstream)
	t.Cleanup(r.upstream.Close)
	sopts.Dir, sopts.Instance = r.dir, "test"
	sink, err := NewSink(sopts)
	if err != nil {
		t.Fatal(err)
	}
	r.sink = sink
	t.Cleanup(func() { _ = sink.Close(context.Background()) })
	if popts.Upstream == nil {
		popts.Upstream, _ = url.Parse(r.upstream.URL)
	}
	if popts.Sample == 0 {
		popts.Sample = 1
	}
	if popts.MaxBody == 0 {
		popts.MaxBody = 4 << 20
	}
	if popts.Redact == nil {
		popts.Redact = RedactSet(DefaultRedact)
	}
	popts.Instance, popts.Sink = "test", sink
	p, err := NewProxy(popts)
	if err != nil {
		t.Fatal(err)
	}
	r.proxy = p
	r.front = httptest.NewUnstartedServer(p)
	r.front.Config.DisableGeneralOptionsHandler = true // as NewRecorder's server
	r.front.Start()
	t.Cleanup(r.front.Close)
	t.Cleanup(p.Close)
	return r
}

// rows waits for n offers, closes the sink and reads the recording back.
func (r *rig) rows(n int64) []Exchange {
	r.t.Helper()
	poll.Until(r.t, func() bool { return r.sink.Stats().Offered >= n })
	if err := r.sink.Close(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	if n == 0 {
		return nil
	}
	rd, err := Open([]string{r.dir})
	if err != nil {
		r.t.Fatal(err)
	}
	defer rd.Close()
	return readAll(r.t, rd)
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// response is what a client saw, comparable between direct and proxied.
type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, c *http.Client, req *http.Request) response {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	h := res.Header.Clone()
	h.Del("Date")
	return response{res.StatusCode, h, body}
}

func TestProxyPassesBytesThroughAndRecords(t *testing.T) {
	bin := randomBytes(64<<10, 1)
	big := randomBytes(10<<20, 2)
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/json":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"query":%q,"len":%d,"host":%q}`, r.URL.RawQuery, len(body), r.Host)
		case "/binary":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(bin)
		case "/big":
			// echo 10 MiB back, after checking it arrived whole
			if !bytes.Equal(body, big) {
				w.WriteHeader(400)
				return
			}
			w.Write(big)
		case "/multi":
			w.Header()["X-Multi"] = r.Header["X-Multi"]
			w.Header().Add("Set-Cookie", "a=SECRET1")
			w.Header().Add("Set-Cookie", "b=SECRET2")
			w.Header().Add("Vary", "Accept")
			w.Header().Add("Vary", "Origin")
			w.WriteHeader(201)
			w.Write([]byte("made"))
		case "/empty":
			w.WriteHeader(204)
		default:
			http.NotFound(w, r)
		}
	})
	rg := newRig(t, upstream, ProxyOptions{MaxBody: 1 << 20}, SinkOptions{})
	type want struct {
		status                int32
		reqStored, respStored []byte
		reqSize, respSize     int64
		reqCut, respCut       bool
	}
	cases := []struct {
		name   string
		method string
		target string // path and query
		body   []byte
		header http.Header
		want   want
	}{
		{name: "json with query", method: "POST", target: "/json?b=x%20y&a=1&a=2&c;d",
			body:   []byte(`{"instances":[[1.5,2]]}`),
			header: http.Header{"Content-Type": {"application/json"}},
			want: want{status: 200, reqStored: []byte(`{"instances":[[1.5,2]]}`), reqSize: 23,
				respStored: []byte(`{"query":"b=x%20y&a=1&a=2&c;d","len":23,"host":"model.example"}`), respSize: 63}},
		{name: "binary", method: "PUT", target: "/binary", body: bin[:1000],
			want: want{status: 200, reqStored: bin[:1000], reqSize: 1000, respStored: bin, respSize: int64(len(bin))}},
		{name: "10 MiB both ways, stored cut", method: "POST", target: "/big", body: big,
			want: want{status: 200, reqStored: big[:1<<20], reqSize: 10 << 20, reqCut: true,
				respStored: big[:1<<20], respSize: 10 << 20, respCut: true}},
		{name: "multi-valued headers", method: "GET", target: "/multi",
			header: http.Header{"X-Multi": {"one", "two"}},
			want:   want{status: 201, respStored: []byte("made"), respSize: 4}},
		{name: "no content", method: "DELETE", target: "/empty", want: want{status: 204}},
		{name: "head", method: "HEAD", target: "/binary", want: want{status: 200}},
	}
	client := &http.Client{}
	for _, tc := range cases {
		req := func(base string) *http.Request {
			r, err := http.NewRequest(tc.method, base+tc.target, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			r.Host = "model.example"
			for k, v := range tc.header {
				r.Header[k] = v
			}
			return r
		}
		direct := do(t, client, req(rg.upstream.URL))
		proxied := do(t, client, req(rg.front.URL))
		if direct.status != proxied.status || !bytes.Equal(direct.body, proxied.body) {
			t.Errorf("%s: proxied %d with %d bytes, direct %d with %d bytes", tc.name,
				proxied.status, len(proxied.body), direct.status, len(direct.body))
		}
		if fmt.Sprint(direct.header) != fmt.Sprint(proxied.header) {
			t.Errorf("%s: headers differ:\nproxied %v\ndirect  %v", tc.name, proxied.header, direct.header)
		}
	}
	rows := rg.rows(int64(len(cases)))
	if len(rows) != len(cases) {
		t.Fatalf("%d rows, want %d", len(rows), len(cases))
	}
	for i, tc := range cases {
		x, w := rows[i], tc.want
		if x.Method != tc.method || x.Path != tc.target || x.Host != "model.example" || x.Instance != "test" {
			t.Errorf("%s: row %s %s host %s instance %s", tc.name, x.Method, x.Path, x.Host, x.Instance)
		}
		if x.Status != w.status || x.Error != "" || x.LatencyNs <= 0 {
			t.Errorf("%s: status %d error %q latency %d", tc.name, x.Status, x.Error, x.LatencyNs)
		}
		if !bytes.Equal(x.RequestBody, w.reqStored) || x.RequestBodySize != w.reqSize || x.RequestBodyTruncated != w.reqCut {
			t.Errorf("%s: request body %d bytes of %d, cut %v; want %d of %d, cut %v", tc.name,
				len(x.RequestBody), x.RequestBodySize, x.RequestBodyTruncated, len(w.reqStored), w.reqSize, w.reqCut)
		}
		if !bytes.Equal(x.ResponseBody, w.respStored) || x.ResponseBodySize != w.respSize || x.ResponseBodyTruncated != w.respCut {
			t.Errorf("%s: response body %q (%d bytes of %d, cut %v); want %d of %d, cut %v", tc.name,
				trim(x.ResponseBody), len(x.ResponseBody), x.ResponseBodySize, x.ResponseBodyTruncated,
				len(w.respStored), w.respSize, w.respCut)
		}
	}
	multi := rows[3]
	if got := HTTPHeader(multi.RequestHeaders)["X-Multi"]; !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("stored request X-Multi %q", got)
	}
	rh := HTTPHeader(multi.ResponseHeaders)
	if !slices.Equal(rh["Vary"], []string{"Accept", "Origin"}) || !slices.Equal(rh["Set-Cookie"], []string{Redacted, Redacted}) {
		t.Errorf("stored response headers %v", rh)
	}
}

func trim(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}

func TestProxyStreamsChunksAsTheyArrive(t *testing.T) {
	release := make(chan struct{})
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte("data: first\n\n"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Write([]byte("data: second\n\n"))
	})
	rg := newRig(t, upstream, ProxyOptions{}, SinkOptions{})
	res, err := http.Get(rg.front.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if len(res.TransferEncoding) == 0 || res.TransferEncoding[0] != "chunked" {
		t.Errorf("transfer encoding %v, want chunked", res.TransferEncoding)
	}
	// The upstream is held until the client saw the first chunk: a proxy that
	// buffers would never deliver it.
	first := make([]byte, len("data: first\n\n"))
	got := make(chan error, 1)
	go func() { _, err := io.ReadFull(res.Body, first); got <- err }()
	select {
	case err := <-got:
		if err != nil || string(first) != "data: first\n\n" {
			t.Fatalf("first chunk %q, %v", first, err)
		}
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("first chunk did not reach the client before the upstream finished")
	}
	close(release)
	rest, err := io.ReadAll(res.Body)
	if err != nil || string(rest) != "data: second\n\n" {
		t.Fatalf("rest %q, %v", rest, err)
	}
	rows := rg.rows(1)
	if string(rows[0].ResponseBody) != "data: first\n\ndata: second\n\n" || rows[0].Error != "" {
		t.Errorf("stored %q, error %q", rows[0].ResponseBody, rows[0].Error)
	}
}

func TestProxyUpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down, _ := url.Parse("http://" + ln.Addr().String())
	ln.Close()
	logs := &lockedBuffer{}
	rg := newRig(t, http.NotFoundHandler(), ProxyOptions{Upstream: down,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))}, SinkOptions{})
	const n = 3
	for range n {
		res, err := http.Post(rg.front.URL+"/predict", "application/json", strings.NewReader(`{"x":1}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 502 || string(body) != "Bad Gateway: upstream unreachable\n" ||
			res.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("got %d %q %v", res.StatusCode, body, res.Header)
		}
	}
	rows := rg.rows(n)
	x := rows[0]
	if x.Status != 0 || !strings.Contains(x.Error, "connection refused") || string(x.RequestBody) != `{"x":1}` {
		t.Errorf("row status %d error %q body %q", x.Status, x.Error, x.RequestBody)
	}
	// An operator sees the upstream down at the default level, once per
	// 30 s however many requests fail.
	if got := logs.String(); strings.Count(got, "level=WARN msg=\"upstream failed; the client got 502") != 1 ||
		!strings.Contains(got, "connection refused") {
		t.Errorf("log = %q, want one warning naming the error", got)
	}
}

func TestProxySlowUpstreamTimesOut(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	rg := newRig(t, upstream, ProxyOptions{UpstreamTimeout: 50 * time.Millisecond}, SinkOptions{})
	res, err := http.Get(rg.front.URL + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 504 || string(body) != "Gateway Timeout: upstream timeout\n" {
		t.Errorf("got %d %q", res.StatusCode, body)
	}
	x := rg.rows(1)[0]
	if x.Status != 0 || !strings.HasPrefix(x.Error, "upstream timeout:") || x.LatencyNs < int64(50*time.Millisecond) {
		t.Errorf("row status %d error %q latency %v", x.Status, x.Error, time.Duration(x.LatencyNs))
	}
}

func TestProxyClientCancels(t *testing.T) {
	upstreamDone := make(chan struct{})
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(upstreamDone)
		w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		<-r.Context().Done() // held until the proxy gives up on it
	})
	rg := newRig(t, upstream, ProxyOptions{}, SinkOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", rg.front.URL+"/gen", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := io.ReadFull(res.Body, buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	res.Body.Close()
	select {
	case <-upstreamDone: // the cancellation reached the upstream
	case <-time.After(10 * time.Second):
		t.Fatal("upstream request not canceled")
	}
	x := rg.rows(1)[0]
	if x.Status != 200 || x.Error != ErrorClientCanceled || string(x.ResponseBody) != "partial" {
		t.Errorf("row status %d error %q body %q", x.Status, x.Error, x.ResponseBody)
	}
}

func TestProxyRedactsSecrets(t *testing.T) {
	const secret = "s3cr3t-TOKEN-9f8e7d"
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", "session="+secret)
		w.Header().Set("X-Internal-Token", secret)
		w.Write([]byte("ok"))
	})
	redact := RedactSet(append(slices.Clone(DefaultRedact), "x-internal-token"))
	rg := newRig(t, upstream, ProxyOptions{Redact: redact}, SinkOptions{})
	req, _ := http.NewRequest("GET", rg.front.URL+"/", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Cookie", "id="+secret)
	req.Header.Set("X-Api-Key", secret)
	req.Header.Set("Proxy-Authorization", "Basic "+secret) // hop-by-hop: not forwarded at all
	req.Header.Set("X-Internal-Token", secret)
	res := do(t, http.DefaultClient, req)
	if res.header.Get("X-Internal-Token") != secret {
		t.Errorf("the client must still get the header: %v", res.header)
	}
	rows := rg.rows(1)
	x := rows[0]
	for _, h := range append(x.RequestHeaders, x.ResponseHeaders...) {
		if strings.Contains(h.Value, secret) {
			t.Errorf("header %s stored in clear", h.Name)
		}
	}
	rh, sh := HTTPHeader(x.RequestHeaders), HTTPHeader(x.ResponseHeaders)
	for _, v := range []string{rh.Get("Authorization"), rh.Get("Cookie"), rh.Get("X-Api-Key"), rh.Get("X-Internal-Token"),
		sh.Get("Set-Cookie"), sh.Get("X-Internal-Token")} {
		if v != Redacted {
			t.Errorf("stored %q, want %q (headers %v / %v)", v, Redacted, rh, sh)
		}
	}
	// The raw bytes too: zstd could hide a secret, so look for it compressed
	// as well as in clear (a secret in a row would compress the same way).
	files, _ := filepath.Glob(filepath.Join(rg.dir, "*.parquet"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte("s3cr3t")) {
			t.Errorf("%s holds the secret in clear", f)
		}
	}
}

func TestProxySamples(t *testing.T) {
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	for _, tc := range []struct {
		sample   float64
		min, max int64
	}{
		{sample: 1, min: 200, max: 200},
		{sample: 0.5, min: 60, max: 140}, // binomial(200, .5): sd 7
		{sample: 1e-9, min: 0, max: 0},
	} {
		rg := newRig(t, upstream, ProxyOptions{Sample: tc.sample}, SinkOptions{})
		for range 200 {
			if res := do(t, http.DefaultClient, mustRequest(t, "GET", rg.front.URL+"/x")); res.status != 200 {
				t.Fatalf("status %d", res.status)
			}
		}
		if err := rg.sink.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		st := rg.sink.Stats()
		if st.Recorded < tc.min || st.Recorded > tc.max || st.Offered != st.Recorded {
			t.Errorf("sample %v: recorded %d of 200 (offered %d), want %d..%d", tc.sample, st.Recorded, st.Offered, tc.min, tc.max)
		}
	}
}

func mustRequest(t *testing.T, method, u string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNewProxyRejectsBadOptions(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:1")
	for _, tc := range []struct {
		name string
		opts ProxyOptions
		want string
	}{
		{"no upstream", ProxyOptions{}, "want an http:// or https:// URL"},
		{"ftp", ProxyOptions{Upstream: &url.URL{Scheme: "ftp", Host: "x"}}, "want an http:// or https:// URL"},
		{"sample", ProxyOptions{Upstream: u, Sample: 1.5}, "between 0 and 1"},
		{"max body", ProxyOptions{Upstream: u, MaxBody: -1}, "0 or more"},
	} {
		_, err := NewProxy(tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}
