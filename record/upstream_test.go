package record

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The proxy's own client (client, forward) against what ReverseProxy and
// http.Transport handled before it: streamed bodies of unknown length,
// trailers, 100-continue, upgrades, an upstream that answers before reading
// the body, and kept-alive connections the upstream closed.

func TestProxyStreamsChunkedRequestBody(t *testing.T) {
	body := randomBytes(300<<10, 7)
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, err := io.ReadAll(r.Body)
		if err != nil || !bytes.Equal(got, body) || r.ContentLength != -1 || r.TransferEncoding[0] != "chunked" {
			w.WriteHeader(400)
			return
		}
		w.Write([]byte("ok"))
	})
	rg := newRig(t, upstream, ProxyOptions{MaxBody: 1 << 10}, SinkOptions{})
	// A reader without a length: the client sends it chunked.
	req, _ := http.NewRequest("POST", rg.front.URL+"/up", io.MultiReader(bytes.NewReader(body)))
	got := do(t, http.DefaultClient, req)
	if got.status != 200 || string(got.body) != "ok" {
		t.Fatalf("got %d %q, want 200 ok", got.status, got.body)
	}
	rows := rg.rows(1)
	x := rows[0]
	if x.RequestBodySize != int64(len(body)) || !x.RequestBodyTruncated || !bytes.Equal(x.RequestBody, body[:1<<10]) {
		t.Errorf("stored request body: size %d truncated %v, %d bytes", x.RequestBodySize, x.RequestBodyTruncated, len(x.RequestBody))
	}
}

func TestProxyPassesTrailers(t *testing.T) {
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		w.Write([]byte("streamed"))
		w.(http.Flusher).Flush()
		w.Header().Set("X-Checksum", "abc123")
	})
	rg := newRig(t, upstream, ProxyOptions{}, SinkOptions{})
	res, err := http.Get(rg.front.URL + "/t")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "streamed" || res.Trailer.Get("X-Checksum") != "abc123" {
		t.Fatalf("got body %q trailer %v, want streamed and X-Checksum abc123", b, res.Trailer)
	}
	rg.rows(1)
}

func TestProxyExpectContinue(t *testing.T) {
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(bytes.ToUpper(b))
	})
	rg := newRig(t, upstream, ProxyOptions{}, SinkOptions{})
	req, _ := http.NewRequest("POST", rg.front.URL+"/c", strings.NewReader("hello"))
	req.Header.Set("Expect", "100-continue")
	got := do(t, &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 5 * time.Second}}, req)
	if got.status != 200 || string(got.body) != "HELLO" {
		t.Fatalf("got %d %q, want 200 HELLO", got.status, got.body)
	}
	if x := rg.rows(1)[0]; string(x.RequestBody) != "hello" || string(x.ResponseBody) != "HELLO" {
		t.Errorf("stored %q -> %q", x.RequestBody, x.ResponseBody)
	}
}

func TestProxyUpstreamAnswersBeforeReadingBody(t *testing.T) {
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/upload" {
			w.Header().Set("Connection", "close")
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		w.Write([]byte("fine"))
	})
	rg := newRig(t, upstream, ProxyOptions{}, SinkOptions{})
	big := randomBytes(8<<20, 3)
	req, _ := http.NewRequest("POST", rg.front.URL+"/upload", bytes.NewReader(big))
	if got := do(t, http.DefaultClient, req); got.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("upload: got %d, want 413", got.status)
	}
	// The next request must not go down the abandoned connection.
	for range 3 {
		res, err := http.Get(rg.front.URL + "/after")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(b) != "fine" {
			t.Fatalf("after: got %d %q, want 200 fine", res.StatusCode, b)
		}
	}
	rg.rows(4)
}

// A kept-alive connection the upstream closed while it sat in the pool: the
// request goes again on a new connection, the client never sees it.
func TestProxyRetriesOnAConnectionTheUpstreamClosed(t *testing.T) {
	closed := make(chan struct{}, 16)
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	up := httptest.NewUnstartedServer(upstream)
	up.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	rg := newRig(t, http.NotFoundHandler(), ProxyOptions{Upstream: u}, SinkOptions{})
	post := func(body string) {
		t.Helper()
		res, err := http.Post(rg.front.URL+"/echo", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(b) != body {
			t.Fatalf("got %d %q, want 200 %q", res.StatusCode, b, body)
		}
	}
	post("first")
	// The upstream drops its idle connections (as servers with a short
	// keep-alive timeout do); the proxy still holds its end in the pool.
	up.Config.SetKeepAlivesEnabled(false)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream did not close its idle connection")
	}
	up.Config.SetKeepAlivesEnabled(true)
	post("second")
	rows := rg.rows(2)
	if rows[1].Status != 200 || rows[1].Error != "" {
		t.Errorf("second exchange recorded as %d %q", rows[1].Status, rows[1].Error)
	}
}

// Upgrades (WebSocket and the like) go through ReverseProxy, which bridges
// the two connections after 101 Switching Protocols.
func TestProxyPassesUpgrades(t *testing.T) {
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want an upgrade", 400)
			return
		}
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "echo")
		w.WriteHeader(http.StatusSwitchingProtocols)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo: " + line)
		brw.Flush()
	})
	rg := newRig(t, upstream, ProxyOptions{}, SinkOptions{})
	u, _ := url.Parse(rg.front.URL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("got %d, want 101", res.StatusCode)
	}
	io.WriteString(conn, "ping\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo: ping\n" {
		t.Fatalf("after the upgrade got %q, %v; want %q", line, err, "echo: ping\n")
	}
	conn.Close()
	if x := rg.rows(1)[0]; x.Status != http.StatusSwitchingProtocols {
		t.Errorf("recorded status %d, want 101", x.Status)
	}
}

// An upstream URL with a path is joined to the client's target (h1.Client.Target).
func TestProxyUpstreamWithPath(t *testing.T) {
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.RequestURI())
	})
	rg := newRig(t, upstream, ProxyOptions{}, SinkOptions{})
	u, _ := url.Parse(rg.upstream.URL + "/base")
	p, err := NewProxy(ProxyOptions{Upstream: u, MaxBody: 1 << 10, Sample: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	req, _ := http.NewRequest("GET", "/v1/models/m?x=1", nil)
	rec := &recorderWriter{header: http.Header{}}
	req.RequestURI = "/v1/models/m?x=1"
	p.ServeHTTP(rec, req)
	if got := rec.body.String(); got != "/base/v1/models/m?x=1" {
		t.Errorf("upstream saw %q, want /base/v1/models/m?x=1", got)
	}
}

// recorderWriter is a minimal ResponseWriter (httptest.ResponseRecorder
// would do, but this one also flushes, like a server's).
type recorderWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorderWriter) Header() http.Header         { return r.header }
func (r *recorderWriter) WriteHeader(code int)        { r.code = code }
func (r *recorderWriter) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorderWriter) Flush()                      {}

// --upstream-timeout bounds the wait for the answer once the request is
// sent, not a slow upload (as http.Transport's ResponseHeaderTimeout).
func TestProxyUpstreamTimeoutStartsAfterTheUpload(t *testing.T) {
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/slow-answer" {
			time.Sleep(600 * time.Millisecond)
		}
		io.WriteString(w, strings.Repeat("x", int(n%7)))
	})
	rg := newRig(t, upstream, ProxyOptions{UpstreamTimeout: 300 * time.Millisecond}, SinkOptions{})
	// The client sends its body in pieces over about 0.9 s: 3 × the timeout.
	pr, pw := io.Pipe()
	go func() {
		for range 6 {
			pw.Write(bytes.Repeat([]byte("a"), 1000))
			time.Sleep(150 * time.Millisecond)
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", rg.front.URL+"/upload", pr)
	if got := do(t, http.DefaultClient, req); got.status != 200 || string(got.body) != strings.Repeat("x", 6000%7) {
		t.Fatalf("slow upload: got %d %q, want 200", got.status, got.body)
	}
	// A slow answer still times out, on a kept-alive connection too.
	req, _ = http.NewRequest("POST", rg.front.URL+"/slow-answer", strings.NewReader("q"))
	if got := do(t, http.DefaultClient, req); got.status != http.StatusGatewayTimeout {
		t.Fatalf("slow answer: got %d, want 504", got.status)
	}
	rows := rg.rows(2)
	if rows[0].Status != 200 || rows[1].Status != 0 || !strings.HasPrefix(rows[1].Error, "upstream timeout") {
		t.Errorf("recorded %d %q and %d %q", rows[0].Status, rows[0].Error, rows[1].Status, rows[1].Error)
	}
}
