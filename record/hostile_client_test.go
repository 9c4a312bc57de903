package record

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/poll"
)

// Hostile clients: uploads that stall, chunked bodies that lie, smuggling
// attempts, odd line endings, pipelining, and crowds of connections that
// never finish a request; and, beside the stalled uploads, the stalled
// upstream answer and the timeouts' other side. See hostile_helpers_test.go.

// echoScript answers every request with its own id; with Connection: close
// when the request's kind is "close".
func echoScript(c *upCall) bool {
	if c.kind() == "close" {
		c.write(okResponse(c.id(), "Connection: close"))
		return false
	}
	c.write(okResponse(c.id()))
	return true
}

// Finding 3: uploads that send a byte and stall are ended after
// ClientBodyTimeout (408 or a closed connection), their upstream
// connections closed, while other clients are served.
func TestProxyEndsStalledUploads(t *testing.T) {
	eachRoute(t, testStalledUploads)
}

func testStalledUploads(t *testing.T, prefix string) {
	up := newRawUpstream(t, echoScript)
	rg := newRawRig(t, up, prefix, ProxyOptions{ClientBodyTimeout: 300 * time.Millisecond, UpstreamTimeout: 5 * time.Second})
	kinds := []struct{ name, head, first string }{
		{"chunked", "Transfer-Encoding: chunked\r\n", "a\r\nx"},
		{"content-length 100000", "Content-Length: 100000\r\n", "x"},
		{"expect 100-continue", "Content-Length: 100000\r\nExpect: 100-continue\r\n", "x"},
		{"content-length 1000", "Content-Length: 1000\r\n", "x"},
	}
	const slow = 50
	problems := make([]string, slow)
	conns := make([]net.Conn, slow)
	for i := range conns {
		conns[i] = dialFront(t, rg)
	}
	var wg sync.WaitGroup
	for i := range slow {
		k := kinds[i%len(kinds)]
		wg.Go(func() {
			id := fmt.Sprintf("slow-%02d", i)
			if msg := stallUpload(conns[i], id, k.head, k.first); msg != "" {
				problems[i] = k.name + " " + id + ": " + msg
			}
		})
	}
	// Meanwhile everyone else is served.
	oks := hammer(t, rg.front.URL, 4, 5, func(i, j int) (string, string) { return "GET", "close" })
	wg.Wait()
	checkResults(t, oks, map[string]expect{"close": {status: 200, own: true}})
	failed := 0
	for _, p := range problems {
		if p == "" {
			continue
		}
		if failed++; failed <= 5 {
			t.Error(p)
		}
	}
	if failed > 5 {
		t.Errorf("... %d of %d stalled uploads in all were not ended", failed, slow)
	}
	if !poll.Within(3*time.Second, func() bool { return up.open() == 0 }) {
		t.Errorf("%d upstream connections still open 3s after the stalled uploads, want 0", up.open())
	}
	for _, c := range conns {
		_ = c.Close() // ends the exchanges also where the proxy did not
	}
	bad := 0
	for _, x := range rg.rows(slow + int64(len(oks))) {
		if strings.HasPrefix(x.Path, "/slow/") && !strings.Contains(x.Error, "client body") {
			if bad++; bad <= 5 {
				t.Errorf("row %s: status %d error %q, want an error about the client body", x.Path, x.Status, x.Error)
			}
		}
	}
	if bad > 5 {
		t.Errorf("... %d stalled uploads in all recorded without a client body error", bad)
	}
}

// stallUpload sends a request head and one byte of its body, then waits:
// the proxy must answer 408 or close the connection within 3 s. It says what
// went wrong, or "".
func stallUpload(c net.Conn, id, head, first string) string {
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	br := bufio.NewReader(c)
	fmt.Fprintf(c, "POST /slow/%s?id=%s HTTP/1.1\r\nHost: model\r\nX-Req-Id: %s\r\n%s\r\n", id, id, id, head)
	if strings.Contains(head, "Expect") {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			if msg := endedWell(err); msg != "" {
				return "waiting for 100 Continue: " + msg
			}
			return ""
		}
		if res.StatusCode != 100 {
			return finalStatus(res)
		}
	}
	if _, err := io.WriteString(c, first); err != nil {
		return "" // the proxy already closed the connection
	}
	for {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			return endedWell(err)
		}
		if res.StatusCode >= 200 {
			return finalStatus(res)
		}
	}
}

func finalStatus(res *http.Response) string {
	if res.StatusCode == http.StatusRequestTimeout {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 200))
	return fmt.Sprintf("got %d (X-Resp-Id %q, body %q), want 408", res.StatusCode, res.Header.Get("X-Resp-Id"), b)
}

// endedWell accepts a connection the proxy closed, not one it left hanging.
func endedWell(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "no answer after 3s, and the connection is still open"
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return ""
	}
	return "reading the answer: " + err.Error()
}

// Finding 4: a response body that stalls is cut after UpstreamReadTimeout,
// and its upstream connection closed.
func TestProxyCutsAStalledUpstreamBody(t *testing.T) {
	eachRoute(t, testStalledResponse)
}

func testStalledResponse(t *testing.T, prefix string) {
	hungUp := make(chan struct{}, 1)
	up := newRawUpstream(t, func(c *upCall) bool {
		if c.kind() != "stall" {
			c.write(okResponse(c.id()))
			return true
		}
		c.write(fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Resp-Id: %s\r\nContent-Length: 100\r\n\r\n0123456789", c.id()))
		_, _ = io.Copy(io.Discard, c.conn) // until the proxy (or the test's end) closes it
		hungUp <- struct{}{}
		return false
	})
	rg := newRawRig(t, up, prefix, ProxyOptions{UpstreamReadTimeout: 300 * time.Millisecond, UpstreamTimeout: 3 * time.Second})
	hc := &http.Client{Timeout: 3 * time.Second}
	start := time.Now()
	r := sendID(hc, rg.front.URL, "GET", "stall", "stall-1")
	took := time.Since(start)
	if r.status != 200 || r.body != "0123456789" || r.err == nil || took > 2*time.Second {
		t.Errorf("client got %d, body %q, error %v after %v; want 200, the 10 bytes, then a cut response within 2s",
			r.status, r.body, r.err, took.Round(time.Millisecond))
	}
	var ne interface{ Timeout() bool }
	if errors.As(r.err, &ne) && ne.Timeout() {
		t.Errorf("the client's own timeout ended the response: the proxy never cut it")
	}
	select {
	case <-hungUp:
	case <-time.After(2 * time.Second):
		t.Errorf("the stalled upstream connection is still open 2s after the client gave up")
	}
	after := sendID(hc, rg.front.URL, "GET", "ok", "ok-after")
	checkResults(t, []outcome{after}, map[string]expect{"ok": {status: 200, own: true}})
	for _, x := range rg.rows(2) {
		if !strings.HasPrefix(x.Path, "/stall/") {
			continue
		}
		if x.Status != 200 || !strings.HasPrefix(x.Error, "upstream body") || !strings.Contains(x.Error, "timeout") ||
			string(x.ResponseBody) != "0123456789" {
			t.Errorf("row status %d body %q error %q, want 200, the 10 bytes, and an upstream body timeout", x.Status, x.ResponseBody, x.Error)
		}
	}
}

// The timeouts bound each read, not the whole body: an upload and an answer
// that come a piece at a time, each within the timeout, pass whole.
func TestProxyTimeoutsAllowSlowSteadyBodies(t *testing.T) {
	eachRoute(t, testSlowSteadyBodies)
}

func testSlowSteadyBodies(t *testing.T, prefix string) {
	// Each gap is well under the per-read timeouts (a loaded machine
	// stretches sleeps: 80 ms against 300 ms flaked), and all of them
	// together are over it: the timeouts are per read, not per body.
	const pieces, gap, perRead = 6, 200 * time.Millisecond, time.Second
	up := newRawUpstream(t, func(c *upCall) bool {
		if string(c.body) != strings.Repeat("q", pieces) {
			c.write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			return false
		}
		c.write(fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Resp-Id: %s\r\nContent-Length: %d\r\n\r\n", c.id(), pieces))
		for range pieces {
			select {
			case <-time.After(gap):
			case <-c.up.done:
				return false
			}
			c.write("r")
		}
		return true
	})
	rg := newRawRig(t, up, prefix, ProxyOptions{ClientBodyTimeout: perRead,
		UpstreamReadTimeout: perRead, UpstreamTimeout: 5 * time.Second})
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range pieces {
			time.Sleep(gap) // the client's pace, not a wait for something
			if _, err := pw.Write([]byte("q")); err != nil {
				return
			}
		}
		_ = pw.Close()
	}()
	t.Cleanup(func() {
		_ = pr.Close()
		<-done
	})
	req, _ := http.NewRequest("POST", rg.front.URL+"/steady/steady-1?id=steady-1", pr)
	req.Header.Set("X-Req-Id", "steady-1")
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(b) != strings.Repeat("r", pieces) || err != nil {
		t.Errorf("got %d %q (%v), want 200 and all %d pieces", res.StatusCode, b, err, pieces)
	}
	x := rg.rows(1)[0]
	if x.Error != "" || string(x.RequestBody) != strings.Repeat("q", pieces) {
		t.Errorf("row error %q request body %q, want no error and all %d pieces", x.Error, x.RequestBody, pieces)
	}
}

// Finding 7: a chunked body that breaks the framing is the client's fault:
// 400, counted as such, not an upstream timeout.
func TestProxyRejectsMalformedChunkedBodies(t *testing.T) {
	eachRoute(t, testMalformedChunks)
}

func testMalformedChunks(t *testing.T, prefix string) {
	up := newRawUpstream(t, echoScript)
	m := NewMetrics()
	rg := newRawRig(t, up, prefix, ProxyOptions{Metrics: m, UpstreamTimeout: 3 * time.Second})
	cases := []struct{ name, body string }{
		{"negative chunk size", "-1\r\nx\r\n0\r\n\r\n"},
		{"chunk size overflowing int64", "ffffffffffffffffff\r\nx\r\n0\r\n\r\n"},
		{"chunk size not hex", "zz\r\nx\r\n0\r\n\r\n"},
		{"no CRLF after the chunk data", "5\r\nhelloXX0\r\n\r\n"},
		{"100 KiB chunk extension", "5;ext=" + strings.Repeat("e", 100<<10) + "\r\nhello\r\n0\r\n\r\n"},
	}
	for i, tc := range cases {
		id := fmt.Sprintf("bad-%d", i)
		raw := fmt.Sprintf("POST /bad/%s?id=%s HTTP/1.1\r\nHost: model\r\nX-Req-Id: %s\r\nTransfer-Encoding: chunked\r\n\r\n%s", id, id, id, tc.body)
		res, body, err := rawExchange(t, rg, raw, 3*time.Second)
		switch {
		case err != nil && res == nil:
			t.Errorf("%s: no answer: %v", tc.name, err)
		case res.StatusCode != 400:
			t.Errorf("%s: client got %d %q, want 400", tc.name, res.StatusCode, trimS(body))
		}
	}
	for _, x := range rg.rows(int64(len(cases))) {
		if !strings.Contains(x.Error, "client body") {
			t.Errorf("row %s: error %q, want an error about the client body", x.Path, x.Error)
		}
	}
	if n := requestsCounted(t, m, 400); n != float64(len(cases)) {
		t.Errorf("requests metric counts %v with code 400 (504: %v), want %d",
			n, requestsCounted(t, m, 504), len(cases))
	}
}

// Finding 8 (held before): requests that could be read two ways are
// rejected by the proxy's server, and never reach the upstream.
func TestProxyRejectsSmuggling(t *testing.T) {
	up := newRawUpstream(t, echoScript)
	rg := newRawRig(t, up, "", ProxyOptions{UpstreamTimeout: 3 * time.Second})
	const smuggled = "GET /smuggled/x HTTP/1.1\r\nHost: model\r\n\r\n"
	for _, tc := range []struct {
		name, raw string
		status    int
	}{
		{"differing Content-Lengths", "POST /attack/cl HTTP/1.1\r\nHost: model\r\nContent-Length: 5\r\nContent-Length: 47\r\n\r\nhello" + smuggled, 400},
		{"Transfer-Encoding: chunked, identity", "POST /attack/te-list HTTP/1.1\r\nHost: model\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + smuggled, 501},
		{"two Transfer-Encoding headers", "POST /attack/te-twice HTTP/1.1\r\nHost: model\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n" + smuggled, 501},
		{"space before the colon", "POST /attack/te-space HTTP/1.1\r\nHost: model\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"bare CR in a header", "GET /attack/cr HTTP/1.1\r\nHost: model\r\nX-A: a\rContent-Length: 47\r\n\r\n" + smuggled, 400},
		{"two Host headers", "GET /attack/hosts HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" + smuggled, 400},
		{"HTTP/0.9 request line", "GET /attack/09\r\n\r\n" + smuggled, 400},
	} {
		res, body, err := rawExchange(t, rg, tc.raw, 3*time.Second)
		switch {
		case err != nil && res == nil:
			t.Errorf("%s: no answer: %v", tc.name, err)
		case res.StatusCode != tc.status:
			t.Errorf("%s: client got %d %q, want %d", tc.name, res.StatusCode, trimS(body), tc.status)
		}
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	after := sendID(hc, rg.front.URL, "GET", "ok", "ok-after")
	checkResults(t, []outcome{after}, map[string]expect{"ok": {status: 200, own: true}})
	for _, target := range up.targets() {
		if !strings.HasPrefix(target, "/ok/") {
			t.Errorf("the upstream got %s", target)
		}
	}
}

// Finding 8 (held before): obs-fold and bare LF line endings are read one
// way only: each request gets its own answer or a 400, and the request
// pipelined behind gets its own.
func TestProxyHandlesObsFoldAndBareLF(t *testing.T) {
	up := newRawUpstream(t, echoScript)
	rg := newRawRig(t, up, "", ProxyOptions{UpstreamTimeout: 3 * time.Second})
	for _, tc := range []struct{ name, raw string }{
		{"obs-fold", "GET /fold/%[1]s?id=%[1]s HTTP/1.1\r\nHost: model\r\nX-Req-Id: %[1]s\r\nX-Fold: a\r\n Content-Length: 40\r\n\r\n"},
		{"obs-fold hiding Transfer-Encoding", "POST /fold/%[1]s?id=%[1]s HTTP/1.1\r\nHost: model\r\nX-Req-Id: %[1]s\r\nContent-Length: 2\r\nX-Fold: a\r\n\tTransfer-Encoding: chunked\r\n\r\nhi"},
		{"bare LF", "GET /lf/%[1]s?id=%[1]s HTTP/1.1\nHost: model\nX-Req-Id: %[1]s\n\n"},
		{"bare LF with a body", "POST /lf/%[1]s?id=%[1]s HTTP/1.1\nHost: model\nX-Req-Id: %[1]s\nContent-Length: 5\n\nhello"},
	} {
		id, next := strings.ReplaceAll(tc.name, " ", "-"), "next-"+strings.ReplaceAll(tc.name, " ", "-")
		c := dialFront(t, rg)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, tc.raw+"GET /ok/%[2]s?id=%[2]s HTTP/1.1\r\nHost: model\r\nX-Req-Id: %[2]s\r\n\r\n", id, next)
		br := bufio.NewReader(c)
		res, body, err := readRaw(br, "GET")
		if err != nil {
			t.Errorf("%s: no answer: %v", tc.name, err)
			continue
		}
		if res.StatusCode == 400 {
			t.Logf("%s: rejected with 400", tc.name)
			continue
		}
		if res.StatusCode != 200 || res.Header.Get("X-Resp-Id") != id || body != "id="+id {
			t.Errorf("%s: got %d X-Resp-Id %q body %q, want its own answer or 400", tc.name, res.StatusCode, res.Header.Get("X-Resp-Id"), trimS(body))
			continue
		}
		res, body, err = readRaw(br, "GET")
		if err != nil || res.StatusCode != 200 || res.Header.Get("X-Resp-Id") != next {
			t.Errorf("%s: the request pipelined behind got %v %q (%v), want its own answer", tc.name, res, trimS(body), err)
			continue
		}
		t.Logf("%s: answered, and the request behind it too", tc.name)
	}
	up.checkNoViolations(t)
}

// Finding 8 (held before): requests pipelined on one connection are
// answered in order, each with its own answer.
func TestProxyAnswersPipelinedRequestsInOrder(t *testing.T) {
	up := newRawUpstream(t, echoScript)
	rg := newRawRig(t, up, "", ProxyOptions{UpstreamTimeout: 3 * time.Second})
	c := dialFront(t, rg)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var raw strings.Builder
	var ids []string
	for i := range 12 {
		id := fmt.Sprintf("pipe-%02d", i)
		ids = append(ids, id)
		switch i % 3 {
		case 0:
			fmt.Fprintf(&raw, "GET /ok/%[1]s?id=%[1]s HTTP/1.1\r\nHost: model\r\nX-Req-Id: %[1]s\r\n\r\n", id)
		case 1:
			fmt.Fprintf(&raw, "POST /ok/%[1]s?id=%[1]s HTTP/1.1\r\nHost: model\r\nX-Req-Id: %[1]s\r\nContent-Length: 5\r\n\r\nhello", id)
		case 2:
			fmt.Fprintf(&raw, "POST /ok/%[1]s?id=%[1]s HTTP/1.1\r\nHost: model\r\nX-Req-Id: %[1]s\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", id)
		}
	}
	writeAside(t, c, raw.String())
	br := bufio.NewReader(c)
	for _, id := range ids {
		res, body, err := readRaw(br, "GET")
		if err != nil {
			t.Fatalf("answer to %s: %v", id, err)
		}
		if res.StatusCode != 200 || res.Header.Get("X-Resp-Id") != id || body != "id="+id {
			t.Errorf("answer to %s: %d X-Resp-Id %q body %q", id, res.StatusCode, res.Header.Get("X-Resp-Id"), body)
		}
	}
	up.checkNoViolations(t)
}

// Finding 8 (held before): crowds of idle and half-sent connections do not
// stop anyone else from being served.
func TestProxyServesBesideIdleAndHalfSentClients(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	// Each client connection is two descriptors here (both ends); leave
	// room for the rest.
	each := min(1000, (int(lim.Cur)-512)/4)
	if each < 50 {
		t.Skipf("ulimit -n %d leaves room for too few connections", lim.Cur)
	}
	up := newRawUpstream(t, echoScript)
	rg := newRawRig(t, up, "", ProxyOptions{UpstreamTimeout: 3 * time.Second})
	addr := strings.TrimPrefix(rg.front.URL, "http://")
	var mu sync.Mutex
	var crowd []net.Conn
	t.Cleanup(func() {
		for _, c := range crowd {
			_ = c.Close()
		}
	})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < 2*each; i += 16 {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				crowd = append(crowd, c)
				mu.Unlock()
				if i%2 == 1 { // half-sent: a head that never ends
					_, _ = fmt.Fprintf(c, "POST /half/%d HTTP/1.1\r\nHost: model\r\nContent-Length: 10\r\nX-Half: ", i)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("opening the crowd: %v", err)
	}
	start := time.Now()
	rs := hammer(t, rg.front.URL, 16, 10, func(i, j int) (string, string) { return "GET", "ok" })
	checkResults(t, rs, map[string]expect{"ok": {status: 200, own: true}})
	t.Logf("%d idle and %d half-sent connections open (ulimit -n %d); %d requests served in %v",
		each, each, lim.Cur, len(rs), time.Since(start).Round(time.Millisecond))
	for _, target := range up.targets() {
		if strings.HasPrefix(target, "/half/") {
			t.Errorf("the upstream got the half-sent %s", target)
		}
	}
}

// requestsCounted is the requests metric's count for a status code.
func requestsCounted(t *testing.T, m *Metrics, code int) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "shadowctl_record_requests_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "code" && l.GetValue() == fmt.Sprint(code) {
					return mt.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
