package record

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Findings of a hostile-peer audit: requests that took another path than
// the proxy's own client, answers Go's server finished on its own, and
// heads the parsers let through.

// An Upgrade header, with or without Connection: upgrade, never lets a
// misbehaving answer (a 204 or 304 with a body, bytes past a length)
// reach another client: a request with only the header goes the proxy's
// own way (the header is hop-by-hop), a real upgrade on a connection of
// its own that is never reused.
func TestProxyUpgradeRequestsNeverGetAnothersAnswer(t *testing.T) {
	const clients, each = 32, 12
	for _, tc := range []struct {
		name string
		hdr  http.Header
	}{
		{"Upgrade alone", http.Header{"Upgrade": {"foo"}}},
		{"Connection: Upgrade", http.Header{"Upgrade": {"foo"}, "Connection": {"Upgrade"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newRawUpstream(t, desyncScript)
			rg := newRawRig(t, up, "", ProxyOptions{UpstreamTimeout: 2 * time.Second})
			tr := &http.Transport{MaxIdleConnsPerHost: clients, DisableCompression: true}
			t.Cleanup(tr.CloseIdleConnections)
			hc := &http.Client{Transport: tr, Timeout: 3 * time.Second}
			kinds := []string{"ok", "nocontent", "ok", "notmodified", "ok", "short"}
			wants := map[string]expect{"ok": {status: 200, own: true}, "nocontent": {status: 204},
				"notmodified": {status: 304}, "short": {status: 200, body: "ok"}}
			out := make([]outcome, clients*each)
			var wg sync.WaitGroup
			for i := range clients {
				wg.Go(func() {
					for j := range each {
						kind := kinds[(i+j)%len(kinds)]
						id := fmt.Sprintf("%s-c%02d-r%02d", kind, i, j)
						out[i*each+j] = sendIDHeader(hc, rg.front.URL, "GET", kind, id, tc.hdr)
					}
				})
			}
			wg.Wait()
			checkResults(t, out, wants)
			up.checkNoViolations(t)
		})
	}
}

// A client that sends its request and half-closes (shutdown(SHUT_WR)) is
// one Go's server takes for gone: it gets nothing, not a 200 of the
// server's own with an empty body that the upstream never sent.
func TestProxyWritesNothingToAClientThatWentAway(t *testing.T) {
	release := make(chan struct{})
	up := newRawUpstream(t, func(c *upCall) bool {
		select {
		case <-release:
		case <-time.After(time.Second):
		}
		c.write("HTTP/1.1 201 Created\r\nContent-Length: 7\r\n\r\ncreated")
		return true
	})
	rg := newRawRig(t, up, "", ProxyOptions{UpstreamTimeout: 5 * time.Second})
	defer close(release)
	c := dialFront(t, rg)
	defer c.Close()
	if _, err := io.WriteString(c, "GET /predict HTTP/1.1\r\nHost: m\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	got, _ := io.ReadAll(c)
	if len(got) > 0 {
		t.Errorf("a client that went away got %q", got)
	}
}

// Heads http.ReadResponse lets through are a 502 (nginx's "upstream sent
// invalid header"): a header name with a space before its colon, which
// Go's server would drop on the way to the client and redaction would miss
// in the row; a status below 100, which made the handler panic.
func TestProxyRefusesAnInvalidUpstreamHead(t *testing.T) {
	for _, tc := range []struct{ name, answer string }{
		{"space before the colon", "HTTP/1.1 200 OK\r\nSet-Cookie : session=TOPSECRET\r\nContent-Length: 2\r\n\r\nok"},
		{"status 000", "HTTP/1.1 000 X\r\nContent-Length: 2\r\n\r\nok"},
		{"status 099", "HTTP/1.1 099 X\r\nContent-Length: 2\r\n\r\nok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newRawUpstream(t, func(c *upCall) bool {
				c.write(tc.answer)
				c.taint("an invalid head")
				return true
			})
			rg := newRawRig(t, up, "", ProxyOptions{UpstreamTimeout: 2 * time.Second})
			res, body, err := rawExchange(t, rg, "GET /x HTTP/1.1\r\nHost: m\r\n\r\n", 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != http.StatusBadGateway || !strings.Contains(body, "invalid header") {
				t.Errorf("got %d %q, want 502 saying the upstream sent an invalid header", res.StatusCode, body)
			}
			rows := rg.rows(1)
			if rows[0].Status != 0 || !strings.Contains(rows[0].Error, "invalid response head") || strings.Contains(fmt.Sprint(rows[0].ResponseHeaders), "TOPSECRET") {
				t.Errorf("row: status %d, error %q, headers %v", rows[0].Status, rows[0].Error, rows[0].ResponseHeaders)
			}
		})
	}
}

// A header the client spells with "_" (x_api_key), which CGI- and
// WSGI-style servers read as X-Api-Key, is redacted as that name.
func TestRedactionReadsUnderscoresAsDashes(t *testing.T) {
	hs := HeadersFrom(http.Header{"X_api_key": {"TOPSECRET"}, "Authorization": {"Bearer x"}, "X-Trace": {"t"}},
		RedactSet([]string{"X-Api-Key", "Authorization"}))
	if len(hs) != 3 {
		t.Fatalf("%d headers stored, want 3: %v", len(hs), hs)
	}
	for _, h := range hs {
		if h.Name != "X-Trace" && h.Value != Redacted {
			t.Errorf("header %s stored as %q, want it redacted", h.Name, h.Value)
		}
	}
}

// A name given to --redact-header with "_" (copied from a WSGI app, say)
// redacts the header in either spelling, as README promises.
func TestRedactionFlagNamesReadUnderscoresAsDashes(t *testing.T) {
	hs := HeadersFrom(http.Header{"X-Custom": {"secret1"}, "X_custom": {"secret2"}, "X-Trace": {"t"}},
		RedactSet([]string{"x_custom"}))
	for _, h := range hs {
		if h.Name != "X-Trace" && h.Value != Redacted {
			t.Errorf("header %s stored as %q, want it redacted", h.Name, h.Value)
		}
	}
}

// An HTTP/1.0 client has no 1xx: an upstream's 103 is not passed on to
// it (it would take it as the answer and read the 200 as its body).
func TestProxyPassesNoInterimAnswerToHTTP10(t *testing.T) {
	up := newRawUpstream(t, func(c *upCall) bool {
		c.write("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	rg := newRawRig(t, up, "", ProxyOptions{UpstreamTimeout: 2 * time.Second})
	for _, tc := range []struct {
		proto string
		hints bool
	}{{"HTTP/1.0", false}, {"HTTP/1.1", true}} {
		c := dialFront(t, rg)
		_, _ = io.WriteString(c, "GET /a "+tc.proto+"\r\nHost: m\r\nConnection: close\r\n\r\n")
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		got, _ := io.ReadAll(bufio.NewReader(c))
		c.Close()
		if strings.Contains(string(got), " 103 ") != tc.hints || !strings.HasSuffix(string(got), "\r\n\r\nok") {
			t.Errorf("%s client got %q; want the 200 and ok, with the 103 %v", tc.proto, got, tc.hints)
		}
	}
}

// OPTIONS * and CONNECT: the first is the upstream's to answer (and
// recorded), not Go's server's; the second is no exchange with a model
// and is refused, not sent on as "CONNECT /".
func TestProxyOptionsStarAndConnect(t *testing.T) {
	up := newRawUpstream(t, func(c *upCall) bool {
		c.write(fmt.Sprintf("HTTP/1.1 204 No Content\r\nX-Target: %s %s\r\n\r\n", c.req.Method, c.req.RequestURI))
		return true
	})
	rg := newRawRig(t, up, "", ProxyOptions{UpstreamTimeout: 2 * time.Second})
	res, _, err := rawExchange(t, rg, "OPTIONS * HTTP/1.1\r\nHost: m\r\n\r\n", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 204 || res.Header.Get("X-Target") != "OPTIONS *" {
		t.Errorf("OPTIONS *: %d, upstream saw %q; want the upstream's 204 to OPTIONS *", res.StatusCode, res.Header.Get("X-Target"))
	}
	res, body, err := rawExchange(t, rg, "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(body, "CONNECT is not forwarded") {
		t.Errorf("CONNECT: %d %q, want 405", res.StatusCode, body)
	}
	if n := up.times("evil.example:443"); n != 0 {
		t.Errorf("CONNECT reached the upstream %d times", n)
	}
	rows := rg.rows(2)
	if rows[0].Method != "OPTIONS" || rows[0].Path != "*" || rows[0].Status != 204 {
		t.Errorf("OPTIONS row %s %s %d", rows[0].Method, rows[0].Path, rows[0].Status)
	}
}

// A chunked upload's trailer fields reach the upstream (they were cut: the
// body ended with the last chunk alone), announced as the client announced
// them; fields that may not be trailers (Content-Length) are not sent.
func TestProxyPassesRequestTrailers(t *testing.T) {
	rg := newRig(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		declared := r.Trailer
		keys := make([]string, 0, len(declared))
		for k := range declared {
			keys = append(keys, k)
		}
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "body=%s declared=%v sum=%q late=%q cl=%q", body, keys, r.Trailer.Get("X-Sum"), r.Trailer.Get("X-Late"), r.Trailer.Get("Content-Length"))
	}), ProxyOptions{}, SinkOptions{})
	res, body, err := rawExchange(t, rg, "POST /t HTTP/1.1\r\nHost: m\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"+
		"4\r\nabcd\r\n0\r\nX-Sum: 123\r\nX-Late: yes\r\nContent-Length: 99\r\n\r\n", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := `body=abcd declared=[X-Sum] sum="123" late="yes" cl=""`
	if res.StatusCode != 200 || body != want {
		t.Errorf("upstream saw %q (status %d), want %q", body, res.StatusCode, want)
	}
}
