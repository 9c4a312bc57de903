package record

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Hostile upstreams: answers whose framing lies, heads that never end,
// connections closed after a request, heads a transparent proxy must pass
// as they are. Each runs with and without a path in the upstream URL (see
// eachRoute). Slow upstreams are in hostile_client_test.go, beside the slow
// clients.

// desyncScript answers "ok" requests well and the others with bytes past
// their declared end: a whole forged response, which a proxy that reuses the
// connection would hand to the next client.
func desyncScript(c *upCall) bool {
	id, forged := c.id(), forgedResponse(c.id())
	switch c.kind() {
	case "ok":
		c.write(okResponse(id))
		return true
	case "short":
		c.write(fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Resp-Id: %s\r\nContent-Length: 2\r\n\r\nok%s", id, forged))
	case "nocontent":
		c.write(fmt.Sprintf("HTTP/1.1 204 No Content\r\nX-Resp-Id: %s\r\nContent-Length: %d\r\n\r\n%s", id, len(forged), forged))
	case "notmodified":
		c.write(fmt.Sprintf("HTTP/1.1 304 Not Modified\r\nX-Resp-Id: %s\r\nEtag: \"v1\"\r\n\r\n%s", id, forged))
	case "head":
		c.write(fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Resp-Id: %s\r\nContent-Length: %d\r\n\r\n%s", id, len(forged), forged))
	case "chunked":
		c.write(fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Resp-Id: %s\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n%s", id, forged))
	case "http10":
		c.write(fmt.Sprintf("HTTP/1.0 200 OK\r\nX-Resp-Id: %s\r\nContent-Length: 2\r\n\r\nok%s", id, forged))
	default:
		c.write("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
		return true
	}
	c.taint(c.req.Method + " " + c.req.RequestURI + " was answered with bytes past its end")
	return true
}

// Finding 1 (a-c): a misbehaving answer mixed into concurrent traffic never
// reaches another client, its own client gets the declared framing, and the
// connection it came on carries no further request.
func TestProxyNeverHandsOneClientAnothersAnswer(t *testing.T) {
	const clients, each = 32, 20
	eachRoute(t, func(t *testing.T, prefix string) {
		for _, tc := range []struct {
			name, method, kind string
			want               expect
		}{
			{"content-length shorter than the body", "GET", "short", expect{status: 200, body: "ok"}},
			{"204 with a body", "GET", "nocontent", expect{status: 204}},
			{"304 with a body", "GET", "notmodified", expect{status: 304}},
			{"body on a HEAD answer", "HEAD", "head", expect{status: 200}},
			{"bytes after the last chunk", "GET", "chunked", expect{status: 200, body: "ok"}},
			{"HTTP/1.0 answer with bytes after its length", "GET", "http10", expect{status: 200, body: "ok"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				up := newRawUpstream(t, desyncScript)
				rg := newRawRig(t, up, prefix, ProxyOptions{UpstreamTimeout: 2 * time.Second})
				wants := map[string]expect{"ok": {status: 200, own: true}, tc.kind: tc.want}
				rs := hammer(t, rg.front.URL, clients, each, func(i, j int) (string, string) {
					if (i+j)%4 == 0 {
						return tc.method, tc.kind
					}
					return "GET", "ok"
				})
				// The recorder keeps serving afterwards.
				hc := &http.Client{Timeout: 5 * time.Second}
				for k := range 5 {
					rs = append(rs, sendID(hc, rg.front.URL, "GET", "ok", fmt.Sprintf("ok-after-%d", k)))
				}
				checkResults(t, rs, wants)
				up.checkNoViolations(t)
				checkRows(t, rg, rs, wants)
			})
		}
	})
}

// Finding 1 (d): bytes the upstream writes on an idle kept-alive connection,
// after a complete answer, are no one's answer: the connection is dropped.
func TestProxyDropsAConnectionWithUnsolicitedBytes(t *testing.T) {
	eachRoute(t, func(t *testing.T, prefix string) {
		sent := make(chan struct{}, 16)
		up := newRawUpstream(t, func(c *upCall) bool {
			c.write(okResponse(c.id()))
			if c.kind() != "unsolicited" {
				return true
			}
			select {
			case <-time.After(20 * time.Millisecond): // the proxy has read the whole answer by now
			case <-c.up.done:
				return false
			}
			c.write(forgedResponse(c.id()))
			c.taint("the upstream wrote unsolicited bytes on it")
			sent <- struct{}{}
			return true
		})
		rg := newRawRig(t, up, prefix, ProxyOptions{UpstreamTimeout: 2 * time.Second})
		hc := &http.Client{Timeout: 3 * time.Second}
		var rs []outcome
		// One after another, so each unsolicited answer sits in an idle
		// pooled connection before the next request is sent.
		for k := range 4 {
			rs = append(rs, sendID(hc, rg.front.URL, "GET", "unsolicited", fmt.Sprintf("unsolicited-%d", k)))
			select {
			case <-sent:
			case <-time.After(5 * time.Second):
				t.Fatal("the upstream did not write its unsolicited bytes")
			}
		}
		rs = append(rs, hammer(t, rg.front.URL, 32, 20, func(i, j int) (string, string) { return "GET", "ok" })...)
		wants := map[string]expect{"ok": {status: 200, own: true}, "unsolicited": {status: 200, own: true}}
		checkResults(t, rs, wants)
		up.checkNoViolations(t)
		checkRows(t, rg, rs, wants)
	})
}

// headerScript answers "big" with a head of the size in X-Size, "endless"
// with a header line that never ends.
func headerScript(c *upCall) bool {
	id := c.id()
	switch c.kind() {
	case "big":
		var n, lines int
		fmt.Sscan(c.req.Header.Get("X-Size"), &n)
		fmt.Sscan(c.req.Header.Get("X-Lines"), &lines)
		per := n / lines
		var b strings.Builder
		fmt.Fprintf(&b, "HTTP/1.1 200 OK\r\nX-Resp-Id: %s\r\n", id)
		for i := range lines {
			fmt.Fprintf(&b, "X-Big-%d: %s\r\n", i, strings.Repeat("b", per))
		}
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\nid=%s", len("id=")+len(id), id)
		c.write(b.String())
		return true
	case "endless":
		c.write(fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Resp-Id: %s\r\nX-Endless: ", id))
		chunk := strings.Repeat("a", 64<<10)
		// Bounded: 128 MiB or 1.5 s, or until the proxy hangs up or the
		// test ends.
		end := time.Now().Add(1500 * time.Millisecond)
		for sent := 0; sent < 128<<20 && time.Now().Before(end); sent += len(chunk) {
			select {
			case <-c.up.done:
				return false
			default:
			}
			_ = c.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
			if _, err := io.WriteString(c.conn, chunk); err != nil {
				return false
			}
		}
		return false
	}
	c.write(okResponse(id))
	return true
}

// Finding 2: the upstream's response head is capped like http.Transport's
// MaxResponseHeaderBytes.
func TestProxyCapsUpstreamResponseHeaders(t *testing.T) {
	eachRoute(t, testHeaderCaps)
}

func testHeaderCaps(t *testing.T, prefix string) {
	up := newRawUpstream(t, headerScript)
	rg := newRawRig(t, up, prefix, ProxyOptions{MaxResponseHeaderBytes: 1 << 20, UpstreamTimeout: 5 * time.Second})
	hc := &http.Client{Timeout: 8 * time.Second}
	cases := []struct {
		name         string
		size, lines  int
		status       int
		rowErrSubstr string
	}{
		{"512 KiB header under a 1 MiB cap", 512 << 10, 1, 200, ""},
		{"one 2 MiB header line over a 1 MiB cap", 2 << 20, 1, 502, "header"},
		{"2048 headers of 1 KiB over a 1 MiB cap", 2 << 20, 2048, 502, "header"},
	}
	for i, tc := range cases {
		id := fmt.Sprintf("big-%d", i)
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/big/%s?id=%s", rg.front.URL, id, id), nil)
		req.Header.Set("X-Req-Id", id)
		req.Header.Set("X-Size", fmt.Sprint(tc.size))
		req.Header.Set("X-Lines", fmt.Sprint(tc.lines))
		res, err := hc.Do(req)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != tc.status {
			t.Errorf("%s: client got %d, want %d", tc.name, res.StatusCode, tc.status)
		}
		if tc.status == 200 && len(res.Header.Get("X-Big-0")) != tc.size {
			t.Errorf("%s: X-Big-0 is %d bytes, want %d", tc.name, len(res.Header.Get("X-Big-0")), tc.size)
		}
	}
	rows := rg.rows(int64(len(cases)))
	for _, x := range rows {
		var i int
		fmt.Sscanf(x.Path, "/big/big-%d", &i)
		tc := cases[i]
		if tc.status == 200 && (x.Status != 200 || x.Error != "") {
			t.Errorf("%s: row status %d error %q, want 200 and no error", tc.name, x.Status, x.Error)
		}
		if tc.status == 502 && (x.Status != 0 || !strings.Contains(x.Error, tc.rowErrSubstr)) {
			t.Errorf("%s: row status %d error %q, want 0 and an error about the %s", tc.name, x.Status, x.Error, tc.rowErrSubstr)
		}
	}
}

// Finding 2: a header line that never ends is a quick 502, and the proxy
// holds no more of it than the cap.
func TestProxyEndlessUpstreamHeader(t *testing.T) {
	eachRoute(t, testEndlessHeader)
}

func testEndlessHeader(t *testing.T, prefix string) {
	const limit = 1 << 20
	up := newRawUpstream(t, headerScript)
	rg := newRawRig(t, up, prefix, ProxyOptions{MaxResponseHeaderBytes: limit, UpstreamTimeout: 3 * time.Second})
	hc := &http.Client{Timeout: 8 * time.Second}
	stop := heapPeak()
	start := time.Now()
	r := sendID(hc, rg.front.URL, "GET", "endless", "endless-1")
	took := time.Since(start)
	grew := stop()
	if r.err != nil || r.status != 502 {
		t.Errorf("client got %d (%v), want 502", r.status, r.err)
	}
	if took > 2*time.Second {
		t.Errorf("the 502 took %v, want it as soon as the cap is reached", took.Round(time.Millisecond))
	}
	if grew > limit+64<<20 {
		t.Errorf("heap grew by %d MiB while reading an endless header, want at most the cap and 64 MiB", grew>>20)
	}
	x := rg.rows(1)[0]
	if x.Status != 0 || !strings.Contains(x.Error, "header") {
		t.Errorf("row status %d error %q, want 0 and an error about the header", x.Status, trimS(x.Error))
	}
}

// Finding 5: a request the upstream read but never answered is sent again
// only when that is safe: GET yes, POST no, POST with Idempotency-Key may be.
func TestProxyNeverSendsAPostTwice(t *testing.T) {
	eachRoute(t, testPostTwice)
}

func testPostTwice(t *testing.T, prefix string) {
	for _, tc := range []struct {
		name, method string
		key          bool
		mustRetry    bool // retried: 200 after two sends; else 502 after one
		mayRetry     bool
	}{
		{name: "POST", method: "POST"},
		{name: "GET", method: "GET", mustRetry: true},
		{name: "POST with Idempotency-Key", method: "POST", key: true, mayRetry: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			firstOnReused := make(chan bool, 1)
			up := newRawUpstream(t, func(c *upCall) bool {
				if c.kind() == "drop" && c.seen == 1 {
					firstOnReused <- c.onConn > 0
					return false // read it all, then hang up without a word
				}
				c.write(okResponse(c.id()))
				return true
			})
			rg := newRawRig(t, up, prefix, ProxyOptions{UpstreamTimeout: 3 * time.Second})
			hc := &http.Client{Timeout: 5 * time.Second}
			warm := sendID(hc, rg.front.URL, "GET", "warm", "warm-1")
			checkResults(t, []outcome{warm}, map[string]expect{"warm": {status: 200, own: true}})

			id := "drop-1"
			target := "/drop/" + id + "?id=" + id
			req, _ := http.NewRequest(tc.method, rg.front.URL+target, strings.NewReader(`{"x":1}`))
			if tc.method == "GET" {
				req.Body, req.ContentLength = nil, 0
			}
			req.Header.Set("X-Req-Id", id)
			if tc.key {
				req.Header.Set("Idempotency-Key", "k-1")
			}
			res, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if !<-firstOnReused {
				t.Fatal("the request did not go on the kept-alive connection: the test proves nothing")
			}
			sends := up.times(prefix + target)
			retried := res.StatusCode == 200 && res.Header.Get("X-Resp-Id") == id && string(b) == "id="+id && sends == 2
			notRetried := res.StatusCode == 502 && sends == 1
			switch {
			case tc.mustRetry && !retried:
				t.Errorf("%s: client got %d %q and the upstream saw it %d times; want it sent again once and answered", tc.method, res.StatusCode, b, sends)
			case tc.mayRetry && !retried && !notRetried:
				t.Errorf("%s: client got %d %q and the upstream saw it %d times; want 200 after 2 sends or 502 after 1", tc.method, res.StatusCode, b, sends)
			case !tc.mustRetry && !tc.mayRetry && !notRetried:
				t.Errorf("%s: the upstream saw it %d times and the client got %d %q; want it sent once and a 502", tc.method, sends, res.StatusCode, b)
			}
			rg.rows(2)
		})
	}
}

// Finding 6: what the upstream did not send the client does not get, and
// interim answers pass; an upgrade nobody asked for is a 502. (The one
// known exception: Go's server writes its own reason phrase, "200 OK"
// whatever the upstream's; not tested.)
func TestProxyIsTransparentToUpstreamHeads(t *testing.T) {
	eachRoute(t, testTransparentHeads)
}

func testTransparentHeads(t *testing.T, prefix string) {
	up := newRawUpstream(t, func(c *upCall) bool {
		id := c.id()
		switch c.kind() {
		case "bare":
			c.write(fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Resp-Id: %s\r\nContent-Length: %d\r\n\r\nid=%s", id, len(id)+3, id))
		case "hints":
			c.write("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
			c.write(okResponse(id))
		case "switch":
			c.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: evil\r\n\r\n" + forgedResponse(id))
			return false
		}
		return true
	})
	rg := newRawRig(t, up, prefix, ProxyOptions{UpstreamTimeout: 3 * time.Second})
	for _, tc := range []struct {
		kind  string
		check func(br *bufio.Reader, id string) string // what is wrong, or ""
	}{
		{"bare", func(br *bufio.Reader, id string) string {
			res, body, err := readRaw(br, "GET")
			if err != nil {
				return err.Error()
			}
			if res.StatusCode != 200 || body != "id="+id {
				return fmt.Sprintf("got %d %q", res.StatusCode, body)
			}
			var added []string
			for _, k := range []string{"Content-Type", "Date"} {
				if v, ok := res.Header[k]; ok {
					added = append(added, k+": "+strings.Join(v, ","))
				}
			}
			if added != nil {
				return fmt.Sprintf("the client got %q, which the upstream never sent", added)
			}
			return ""
		}},
		{"hints", func(br *bufio.Reader, id string) string {
			res, _, err := readRaw(br, "GET")
			if err != nil {
				return err.Error()
			}
			if res.StatusCode != 103 || res.Header.Get("Link") != "</style.css>; rel=preload" {
				return fmt.Sprintf("first response %d with Link %q, want the upstream's 103 Early Hints with its Link", res.StatusCode, res.Header.Get("Link"))
			}
			res, body, err := readRaw(br, "GET")
			if err != nil || res.StatusCode != 200 || body != "id="+id {
				return fmt.Sprintf("after the 103: %v %v %q, want 200 %q", err, res, body, "id="+id)
			}
			return ""
		}},
		{"switch", func(br *bufio.Reader, id string) string {
			res, body, err := readRaw(br, "GET")
			if err != nil {
				return err.Error()
			}
			if res.StatusCode != 502 {
				return fmt.Sprintf("got %d %q, want 502 for a 101 to a request without Upgrade", res.StatusCode, trimS(body))
			}
			return ""
		}},
	} {
		id := tc.kind + "-1"
		c := dialFront(t, rg)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET /%s/%s?id=%s HTTP/1.1\r\nHost: model\r\nX-Req-Id: %s\r\n\r\n", tc.kind, id, id, id)
		if msg := tc.check(bufio.NewReader(c), id); msg != "" {
			t.Errorf("%s: %s", tc.kind, msg)
		}
		_ = c.Close()
	}
}

// Finding 8 (held before): answers no HTTP/1.1 client may accept are a 502,
// and the proxy serves on.
func TestProxyRejectsBrokenUpstreamAnswers(t *testing.T) {
	eachRoute(t, testBrokenAnswers)
}

func testBrokenAnswers(t *testing.T, prefix string) {
	answers := map[string]string{
		"negative-length": "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"two-lengths":     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk",
		"nul-in-header":   "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok",
		"no-status-line":  "Content-Length: 2\r\n\r\nok",
		"garbage":         "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
		"bad-status-code": "HTTP/1.1 20 OK\r\nContent-Length: 2\r\n\r\nok",
	}
	up := newRawUpstream(t, func(c *upCall) bool {
		if a, ok := answers[c.kind()]; ok {
			c.write(a + forgedResponse(c.id()))
			return false
		}
		c.write(okResponse(c.id()))
		return true
	})
	rg := newRawRig(t, up, prefix, ProxyOptions{UpstreamTimeout: 3 * time.Second})
	hc := &http.Client{Timeout: 5 * time.Second}
	var rs []outcome
	for kind := range answers {
		r := sendID(hc, rg.front.URL, "GET", kind, kind+"-1")
		if r.err != nil || r.status != 502 {
			t.Errorf("%s: client got %d %q (%v), want 502", kind, r.status, trimS(r.body), r.err)
		}
		rs = append(rs, r, sendID(hc, rg.front.URL, "GET", "ok", kind+"-then-ok"))
	}
	var oks []outcome
	for _, r := range rs {
		if r.kind == "ok" {
			oks = append(oks, r)
		}
	}
	checkResults(t, oks, map[string]expect{"ok": {status: 200, own: true}})
	for _, x := range rg.rows(int64(len(rs))) {
		if strings.HasPrefix(x.Path, "/ok/") {
			continue
		}
		if x.Status != 0 || !strings.HasPrefix(x.Error, "upstream") {
			t.Errorf("row %s: status %d error %q, want 0 and an upstream error", x.Path, x.Status, x.Error)
		}
	}
}

// heapPeak samples the heap until stop is called and returns the largest
// growth over the heap when it started.
func heapPeak() (stop func() uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > base && ms.HeapAlloc-base > peak.Load() {
				peak.Store(ms.HeapAlloc - base)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return func() uint64 {
		cancel()
		wg.Wait()
		return peak.Load()
	}
}
