package shadow

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/record"
)

// corpusUpstream answers each path its own way: what a model server sends
// and what a transparent proxy must pass as it is.
func corpusUpstream() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := w.Header()
		h.Set("Date", "Tue, 01 Dec 2026 00:00:00 GMT")
		switch r.URL.Path {
		case "/json":
			h.Set("Content-Type", "application/json")
			w.Write([]byte(`{"predictions":[0.25,0.75],"echo":` + string(body) + `}`))
		case "/gzip":
			h.Set("Content-Encoding", "gzip")
			gz := gzip.NewWriter(w)
			gz.Write(bytes.Repeat([]byte("abc"), 1000))
			gz.Close()
		case "/stream":
			h.Set("Content-Type", "text/event-stream")
			for _, ev := range []string{"data: a\n\n", "data: b\n\n"} {
				w.Write([]byte(ev))
				w.(http.Flusher).Flush()
			}
		case "/trailer":
			h.Set("Trailer", "X-Sum")
			w.Write([]byte("body"))
			h.Set("X-Sum", "42")
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/error":
			h.Set("X-Reason", "overloaded")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("try later"))
		default:
			h.Set("Set-Cookie", "s=1")
			w.Write([]byte(r.Method + " " + r.URL.RequestURI()))
		}
	})
}

var corpus = []string{
	"GET /plain?q=1&r=%2F HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer t\r\n\r\n",
	"POST /json HTTP/1.1\r\nHost: m\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"instances\":1}",
	"POST /json HTTP/1.1\r\nHost: m\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n[1,2]\r\n0\r\n\r\n",
	"GET /gzip HTTP/1.1\r\nHost: m\r\nAccept-Encoding: gzip\r\n\r\n",
	"GET /stream HTTP/1.1\r\nHost: m\r\n\r\n",
	"GET /trailer HTTP/1.1\r\nHost: m\r\nTE: trailers\r\n\r\n",
	"DELETE /empty HTTP/1.1\r\nHost: m\r\n\r\n",
	"HEAD /plain HTTP/1.1\r\nHost: m\r\n\r\n",
	"PUT /error HTTP/1.1\r\nHost: m\r\nContent-Length: 3\r\n\r\nabc",
}

// rawExchange sends the corpus on one connection and returns every byte
// the client read.
func rawExchange(t *testing.T, addr string) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	var out bytes.Buffer
	for _, raw := range corpus {
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		req, _ := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		res, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		// The head as the client got it, and the body's bytes.
		out.WriteString(res.Status + "\n")
		res.Header.Write(&out)
		res.Trailer.Write(&out)
		out.Write(body)
		out.WriteString("\n--\n")
	}
	return out.Bytes()
}

// The recorder's corpus through a proxy with a live shadow is byte for
// byte what it is without one, even with a shadow that is slow.
func TestPassthroughWithAShadowIsByteIdentical(t *testing.T) {
	up := httptest.NewServer(corpusUpstream())
	defer up.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond)
		w.Write([]byte("shadow"))
	}))
	defer slow.Close()
	u, _ := url.Parse(up.URL)
	front := func(m record.Mirror) string {
		p, err := record.NewProxy(record.ProxyOptions{Upstream: u, MaxBody: 1 << 20, Mirror: m})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(p)
		t.Cleanup(srv.Close)
		t.Cleanup(p.Close)
		return srv.Listener.Addr().String()
	}
	target, _ := url.Parse(slow.URL)
	rows := &memRows{}
	s, err := New(Options{Target: target, Sample: 1, Rows: rows})
	if err != nil {
		t.Fatal(err)
	}
	want := rawExchange(t, front(nil))
	got := rawExchange(t, front(s))
	if !bytes.Equal(got, want) {
		t.Fatalf("with a shadow the client got\n%s\nwithout\n%s", got, want)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Every request with a body in memory was mirrored; the chunked one
	// was not (unheld).
	if st := s.Stats(); st.Mirrored != int64(len(corpus)-1) || st.Dropped[DropUnheld] != 1 || int64(len(rows.rows)) != st.Mirrored {
		t.Errorf("stats %+v, %d rows; want %d mirrored and one unheld", st, len(rows.rows), len(corpus)-1)
	}
}
