package record

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The hostile-peer suite (hostile_*_test.go) puts hand-written peers on both
// sides of the proxy: a raw upstream that breaks HTTP framing on purpose, and
// raw clients where the client's framing is the point. Every request carries
// its own id (X-Req-Id and the path); a well-behaved upstream echoes it in
// X-Resp-Id and the body, so a client that gets anyone else's answer shows.

// rawUpstream is a hand-written HTTP/1.1 server: it reads each request with
// http.ReadRequest and answers with the bytes its script writes, so it can
// break the protocol in ways net/http never would.
type rawUpstream struct {
	ln     net.Listener
	url    *url.URL
	prefix string // the path of the upstream URL the proxy was given
	script func(*upCall) (keep bool)

	accepted, closed atomic.Int64
	done             chan struct{}
	wg               sync.WaitGroup

	mu         sync.Mutex
	conns      map[net.Conn]bool
	seen       map[string]int // request target → times it arrived
	violations []string
	stopped    bool
}

// upCall is one request the raw upstream read, and the connection to answer
// it on.
type upCall struct {
	up      *rawUpstream
	conn    net.Conn
	req     *http.Request
	body    []byte
	onConn  int // requests read on this connection before this one
	seen    int // times this target arrived, this one included
	tainted *string
}

// newRawUpstream listens on loopback; script answers each request and says
// whether the connection carries on. Its goroutines stop at cleanup (see
// newRawRig for the order).
func newRawUpstream(t *testing.T, script func(*upCall) bool) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := &rawUpstream{ln: ln, script: script, done: make(chan struct{}),
		conns: map[net.Conn]bool{}, seen: map[string]int{}}
	up.url, _ = url.Parse("http://" + ln.Addr().String())
	up.wg.Add(1)
	go up.accept()
	return up
}

func (up *rawUpstream) accept() {
	defer up.wg.Done()
	for {
		c, err := up.ln.Accept()
		if err != nil {
			return
		}
		up.mu.Lock()
		if up.stopped {
			up.mu.Unlock()
			_ = c.Close()
			return
		}
		up.conns[c] = true
		up.accepted.Add(1)
		up.wg.Add(1)
		up.mu.Unlock()
		go up.serve(c)
	}
}

func (up *rawUpstream) serve(c net.Conn) {
	defer up.wg.Done()
	defer func() {
		_ = c.Close()
		up.mu.Lock()
		delete(up.conns, c)
		up.mu.Unlock()
		up.closed.Add(1)
	}()
	br := bufio.NewReader(c)
	var tainted string
	for n := 0; ; n++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		target := req.RequestURI
		if tainted != "" {
			up.violate("%s %s arrived on a connection that should have been discarded: %s", req.Method, target, tainted)
		}
		up.mu.Lock()
		prefix := up.prefix
		up.mu.Unlock()
		if !strings.HasPrefix(target, prefix+"/") {
			up.violate("request %s lacks the upstream URL's path %q", target, prefix)
		}
		if id := req.Header.Get("X-Req-Id"); id != "" && !strings.Contains(target, id) {
			up.violate("request %s carries X-Req-Id %s", target, id)
		}
		body, err := io.ReadAll(req.Body)
		up.mu.Lock()
		up.seen[target]++
		seen := up.seen[target]
		up.mu.Unlock()
		if err != nil {
			return // the proxy gave up on the request mid-body
		}
		call := &upCall{up: up, conn: c, req: req, body: body, onConn: n, seen: seen, tainted: &tainted}
		if !up.script(call) {
			return
		}
	}
}

func (up *rawUpstream) violate(format string, args ...any) {
	up.mu.Lock()
	up.violations = append(up.violations, fmt.Sprintf(format, args...))
	up.mu.Unlock()
}

// stop closes the listener and every connection, and waits for the
// goroutines.
func (up *rawUpstream) stop() {
	up.mu.Lock()
	if up.stopped {
		up.mu.Unlock()
		return
	}
	up.stopped = true
	close(up.done)
	for c := range up.conns {
		_ = c.Close()
	}
	up.mu.Unlock()
	_ = up.ln.Close()
	up.wg.Wait()
}

// open is the number of connections accepted and not yet closed.
func (up *rawUpstream) open() int64 { return up.accepted.Load() - up.closed.Load() }

// times reports how often a request target arrived.
func (up *rawUpstream) times(target string) int {
	up.mu.Lock()
	defer up.mu.Unlock()
	return up.seen[target]
}

// targets lists the request targets that arrived.
func (up *rawUpstream) targets() []string {
	up.mu.Lock()
	defer up.mu.Unlock()
	var out []string
	for k := range up.seen {
		out = append(out, k)
	}
	return out
}

// checkNoViolations fails the test for every request the upstream saw on a
// connection the proxy should have dropped, or with a mixed-up id.
func (up *rawUpstream) checkNoViolations(t *testing.T) {
	t.Helper()
	up.mu.Lock()
	defer up.mu.Unlock()
	for i, v := range up.violations {
		if i == 5 {
			t.Errorf("upstream: ... and %d more", len(up.violations)-5)
			break
		}
		t.Errorf("upstream: %s", v)
	}
}

// write sends raw bytes; a failed write shows as the proxy's problem later.
func (c *upCall) write(s string) {
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c.conn, s)
}

// taint marks the connection as one no further request may arrive on.
func (c *upCall) taint(why string) { *c.tainted = why }

// kind is the first segment of the client's path: it picks the script's
// behaviour.
func (c *upCall) kind() string {
	p := strings.TrimPrefix(strings.TrimPrefix(c.req.URL.Path, pathPrefix), "/")
	kind, _, _ := strings.Cut(p, "/")
	return kind
}

// id is the request's id, from its header.
func (c *upCall) id() string { return c.req.Header.Get("X-Req-Id") }

// okResponse is the well-behaved answer to id.
func okResponse(id string, extra ...string) string {
	body := "id=" + id
	var h strings.Builder
	for _, e := range extra {
		h.WriteString(e + "\r\n")
	}
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Resp-Id: %s\r\nContent-Type: text/plain\r\n%sContent-Length: %d\r\n\r\n%s",
		id, h.String(), len(body), body)
}

// forgedResponse is a whole response a misbehaving upstream hides in the
// bytes after its answer: a proxy that reads it as the next answer hands a
// client this id.
func forgedResponse(id string) string { return okResponse("FORGED-by-" + id) }

// The upstream URL may have a path, which the proxy puts before the
// client's; it may take another road upstream for such a URL (it did:
// ReverseProxy over http.Transport). Tests of the upstream's misbehaviour
// run with both.
const pathPrefix = "/base"

var routes = []struct{ name, prefix string }{
	{"upstream URL without a path", ""},
	{"upstream URL with a path", pathPrefix},
}

// eachRoute runs f as a subtest for each kind of upstream URL; prefix is
// its path.
func eachRoute(t *testing.T, f func(t *testing.T, prefix string)) {
	for _, r := range routes {
		t.Run(r.name, func(t *testing.T) { f(t, r.prefix) })
	}
}

// newRawRig is newRig in front of a raw upstream, whose URL has the path
// prefix. The upstream stops first at cleanup: a proxy handler stuck on it
// would otherwise hold the front server's Close forever.
func newRawRig(t *testing.T, up *rawUpstream, prefix string, popts ProxyOptions) *rig {
	t.Helper()
	u := *up.url
	u.Path = prefix
	up.mu.Lock()
	up.prefix = prefix
	up.mu.Unlock()
	popts.Upstream = &u
	rg := newRig(t, http.NotFoundHandler(), popts, SinkOptions{})
	t.Cleanup(up.stop)
	return rg
}

// outcome is what one client got for one request.
type outcome struct {
	id, method, kind string
	status           int
	respID           string
	body             string
	err              error
}

// pickFunc picks the method and kind of request seq of client i.
type pickFunc func(client, seq int) (method, kind string)

// hammer runs clients goroutines of each requests at once against base,
// each request with a unique id, and returns what every one got.
func hammer(t *testing.T, base string, clients, each int, pick pickFunc) []outcome {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: clients, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: 3 * time.Second}
	out := make([]outcome, clients*each)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			for j := range each {
				method, kind := pick(i, j)
				id := fmt.Sprintf("%s-c%02d-r%02d", kind, i, j)
				out[i*each+j] = sendID(hc, base, method, kind, id)
			}
		})
	}
	wg.Wait()
	return out
}

// sendID makes one request with id in its header, path and query.
func sendID(hc *http.Client, base, method, kind, id string) outcome {
	return sendIDHeader(hc, base, method, kind, id, nil)
}

// sendIDHeader is sendID with more headers.
func sendIDHeader(hc *http.Client, base, method, kind, id string, hdr http.Header) outcome {
	r := outcome{id: id, method: method, kind: kind}
	req, err := http.NewRequest(method, fmt.Sprintf("%s/%s/%s?id=%s", base, kind, id, id), nil)
	if err != nil {
		r.err = err
		return r
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	req.Header.Set("X-Req-Id", id)
	res, err := hc.Do(req)
	if err != nil {
		r.err = err
		return r
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	r.status, r.respID, r.body, r.err = res.StatusCode, res.Header.Get("X-Resp-Id"), string(b), err
	return r
}

// expect is the answer a client must get for a kind of request.
type expect struct {
	status int
	body   string // the body, unless own
	own    bool   // the body is the request's own "id=<id>"
}

func (w expect) bodyFor(id string) string {
	if w.own {
		return "id=" + id
	}
	return w.body
}

// checkResults fails for every client that did not get its own answer.
func checkResults(t *testing.T, rs []outcome, wants map[string]expect) {
	t.Helper()
	bad := 0
	for _, r := range rs {
		w := wants[r.kind]
		msg := ""
		switch {
		case r.err != nil:
			msg = fmt.Sprintf("error %v", r.err)
		case r.status != w.status:
			msg = fmt.Sprintf("status %d, want %d", r.status, w.status)
		case r.respID != r.id:
			msg = fmt.Sprintf("got the answer to %q (X-Resp-Id), not its own", r.respID)
		case r.body != w.bodyFor(r.id):
			msg = fmt.Sprintf("body %q, want %q", trimS(r.body), w.bodyFor(r.id))
		}
		if msg == "" {
			continue
		}
		if bad++; bad <= 8 {
			t.Errorf("client %s %s: %s", r.method, r.id, msg)
		}
	}
	if bad > 8 {
		t.Errorf("... %d clients of %d in all got a wrong answer", bad, len(rs))
	}
}

// checkRows reads the recording back and fails for every row whose request
// and response do not belong together.
func checkRows(t *testing.T, rg *rig, rs []outcome, wants map[string]expect) {
	t.Helper()
	byID := map[string]outcome{}
	for _, r := range rs {
		byID[r.id] = r
	}
	rows := rg.rows(int64(len(rs)))
	if len(rows) != len(rs) {
		t.Errorf("%d rows recorded, want %d", len(rows), len(rs))
	}
	bad := 0
	for _, x := range rows {
		u, _ := url.Parse(x.Path)
		id := u.Query().Get("id")
		r, ok := byID[id]
		w := wants[r.kind]
		msg := ""
		switch {
		case !ok:
			msg = "no such request was sent"
		case HTTPHeader(x.RequestHeaders).Get("X-Req-Id") != id || x.Method != r.method:
			msg = fmt.Sprintf("request %s with X-Req-Id %q", x.Method, HTTPHeader(x.RequestHeaders).Get("X-Req-Id"))
		case int(x.Status) != w.status:
			msg = fmt.Sprintf("status %d, want %d (error %q)", x.Status, w.status, x.Error)
		case HTTPHeader(x.ResponseHeaders).Get("X-Resp-Id") != id:
			msg = fmt.Sprintf("paired with the response to %q", HTTPHeader(x.ResponseHeaders).Get("X-Resp-Id"))
		case string(x.ResponseBody) != w.bodyFor(id):
			msg = fmt.Sprintf("response body %q, want %q", trimS(string(x.ResponseBody)), w.bodyFor(id))
		}
		if msg == "" {
			continue
		}
		if bad++; bad <= 8 {
			t.Errorf("row %s: %s", x.Path, msg)
		}
	}
	if bad > 8 {
		t.Errorf("... %d rows of %d in all are wrong", bad, len(rows))
	}
}

func trimS(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}

// dialFront opens a raw client connection to the proxy, closed at cleanup
// (before the front server's Close, which waits for its handlers).
func dialFront(t *testing.T, rg *rig) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(rg.front.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// rawExchange writes raw request bytes on a new connection and reads one
// response (the first, 1xx included) within d.
func rawExchange(t *testing.T, rg *rig, raw string, d time.Duration) (*http.Response, string, error) {
	t.Helper()
	c := dialFront(t, rg)
	_ = c.SetDeadline(time.Now().Add(d))
	writeAside(t, c, raw) // a big request must not block the read
	return readRaw(bufio.NewReader(c), "GET")
}

// writeAside writes raw on its own goroutine, which cleanup waits for
// (after closing c).
func writeAside(t *testing.T, c net.Conn, raw string) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.WriteString(c, raw)
	}()
	t.Cleanup(func() {
		_ = c.Close()
		<-done
	})
}

// readRaw reads one response and its whole body.
func readRaw(br *bufio.Reader, method string) (*http.Response, string, error) {
	res, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(res.Body)
	return res, string(b), err
}
