package record

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// fakeMirror takes every request whose body is held and keeps what it saw.
type fakeMirror struct {
	mu      sync.Mutex
	offers  []*MirrorRequest
	answers map[string]*MirrorAnswer
	take    bool
}

func (m *fakeMirror) Offer(r *MirrorRequest) Mirrored {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.offers = append(m.offers, r)
	if !m.take || r.Unheld {
		return nil
	}
	return mirrored{m, r.ID}
}

type mirrored struct {
	m  *fakeMirror
	id string
}

func (d mirrored) Primary(a *MirrorAnswer) {
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	if d.m.answers[d.id] != nil {
		panic("Primary called twice for " + d.id)
	}
	d.m.answers[d.id] = a
}

func echoUpstream() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Date", "Tue, 01 Dec 2026 00:00:00 GMT") // the same in every answer
		w.Header().Set("X-Upstream", "v1")
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.RequestURI(), b)
	})
}

// The mirror sees each request as it went upstream and, once, the answer
// the client got; a body not held whole is offered as unheld.
func TestProxyOffersRequestsToTheMirror(t *testing.T) {
	m := &fakeMirror{take: true, answers: map[string]*MirrorAnswer{}}
	rg := newRig(t, echoUpstream(), ProxyOptions{Mirror: m, Sample: 1e-9}, SinkOptions{})

	req, _ := http.NewRequest("POST", rg.front.URL+"/v1/models/m:predict?x=1", strings.NewReader(`{"instances":[1]}`))
	req.Header.Set("X-User-Id", "u1")
	req.Header.Set("Connection", "keep-alive, X-Hop")
	req.Header.Set("X-Hop", "per-hop")
	got := do(t, http.DefaultClient, req)
	if got.status != 200 {
		t.Fatalf("status %d", got.status)
	}
	chunked, _ := http.NewRequest("POST", rg.front.URL+"/up", io.MultiReader(strings.NewReader("streamed")))
	do(t, http.DefaultClient, chunked)

	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.offers) != 2 {
		t.Fatalf("%d offers, want 2", len(m.offers))
	}
	o := m.offers[0]
	if o.Method != "POST" || o.Target != "/v1/models/m:predict?x=1" || string(o.Body) != `{"instances":[1]}` || o.Unheld || o.ID == "" {
		t.Errorf("offer %+v", o)
	}
	if o.Header.Get("X-User-Id") != "u1" || o.Header["Connection"] != nil || o.Header["X-Hop"] != nil {
		t.Errorf("offered headers %v: want the end-to-end ones only", o.Header)
	}
	a := m.answers[o.ID]
	if a == nil || a.Status != 200 || string(a.Body) != string(got.body) || a.BodySize != int64(len(got.body)) ||
		a.Header.Get("X-Upstream") != "v1" || a.Error != "" || a.Latency <= 0 {
		t.Errorf("answer %+v, want the client's 200 %q", a, got.body)
	}
	if s := m.offers[1]; !s.Unheld || s.Body != nil || m.answers[s.ID] != nil {
		t.Errorf("streamed upload offered as %+v, want unheld and not taken", s)
	}
}

// An upstream that does not answer: the mirror hears status 0 and why.
func TestProxyTellsTheMirrorWhenThePrimaryFailed(t *testing.T) {
	m := &fakeMirror{take: true, answers: map[string]*MirrorAnswer{}}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ln.Close() // nothing listens there
	u := mustParse(t, "http://"+ln.Addr().String())
	rg := newRig(t, http.NotFoundHandler(), ProxyOptions{Upstream: u, Mirror: m}, SinkOptions{})
	res, err := http.Get(rg.front.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.offers) != 1 {
		t.Fatalf("%d offers", len(m.offers))
	}
	if a := m.answers[m.offers[0].ID]; a == nil || a.Status != 0 || !strings.Contains(a.Error, "upstream") {
		t.Errorf("answer %+v, want status 0 and the upstream error", a)
	}
}

// With a mirror the client's bytes are exactly those without one.
func TestProxyWithAMirrorIsByteIdentical(t *testing.T) {
	requests := []string{
		"GET /a?q=1 HTTP/1.1\r\nHost: m\r\n\r\n",
		"POST /b HTTP/1.1\r\nHost: m\r\nContent-Length: 5\r\n\r\nhello",
		"POST /c HTTP/1.1\r\nHost: m\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HEAD /d HTTP/1.1\r\nHost: m\r\n\r\n",
	}
	raw := func(addr string) []byte {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var out bytes.Buffer
		br := bufio.NewReader(c)
		for _, r := range requests {
			if _, err := io.WriteString(c, r); err != nil {
				t.Fatal(err)
			}
			req, _ := http.ReadRequest(bufio.NewReader(strings.NewReader(r)))
			res, err := http.ReadResponse(br, req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body = io.NopCloser(bytes.NewReader(b))
			res.ContentLength = int64(len(b))
			_ = res.Write(&out)
		}
		return out.Bytes()
	}
	plain := newRig(t, echoUpstream(), ProxyOptions{}, SinkOptions{})
	m := &fakeMirror{take: true, answers: map[string]*MirrorAnswer{}}
	mirroredRig := newRig(t, echoUpstream(), ProxyOptions{Mirror: m}, SinkOptions{})
	want, got := raw(plain.front.Listener.Addr().String()), raw(mirroredRig.front.Listener.Addr().String())
	if !bytes.Equal(got, want) {
		t.Fatalf("with a mirror the client got\n%q\nwithout\n%q", got, want)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.offers) != len(requests) {
		t.Errorf("%d offers, want %d", len(m.offers), len(requests))
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
