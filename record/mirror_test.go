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
	"time"
)

// fakeMirror takes every request whose body is held and keeps what it saw.
type fakeMirror struct {
	mu      sync.Mutex
	offers  []*MirrorRequest
	answers map[string]*MirrorAnswer
	keys    []string // X-User-Id of each request taken, read before Take
	take    bool
}

func (m *fakeMirror) Offer(r *MirrorRequest) Mirrored {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.offers = append(m.offers, r)
	if !m.take || r.Unheld {
		return nil
	}
	if r.Get("X-Hop") != "" || r.Get("Connection") != "" {
		panic("Get gave a hop-by-hop header")
	}
	m.keys = append(m.keys, r.Get("X-User-Id"))
	r.Take()
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
	req.Header.Set("Authorization", "Bearer secret")
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
	if o.Header.Get("Authorization") != "Bearer secret" {
		t.Errorf("offered Authorization %q: the copy goes out with the real value", o.Header.Get("Authorization"))
	}
	var stored []string
	for _, h := range o.StoredHeaders {
		stored = append(stored, h.Name+"="+h.Value)
	}
	// Sorted, end-to-end, redacted as a recording stores them.
	if got, want := strings.Join(stored, " "), "Accept-Encoding=gzip Authorization=REDACTED Content-Length=17 User-Agent=Go-http-client/1.1 X-User-Id=u1"; got != want {
		t.Errorf("stored headers %q, want %q", got, want)
	}
	if len(m.keys) != 1 || m.keys[0] != "u1" {
		t.Errorf("Get before Take gave %q, want [u1]", m.keys)
	}
	a := m.answers[o.ID]
	if a == nil || a.Status != 200 || string(a.Body) != string(got.body) || a.BodySize != int64(len(got.body)) ||
		a.Header.Get("X-Upstream") != "v1" || a.Error != "" || a.Latency <= 0 {
		t.Errorf("answer %+v, want the client's 200 %q", a, got.body)
	}
	if a != nil && (a.FirstByteNs <= 0 || a.FirstByteNs > int64(a.Latency) || a.Events != 0 || a.EventNs != nil) {
		t.Errorf("answer timing first byte %d ns, %d events %v; want a first byte within the latency %d, no events",
			a.FirstByteNs, a.Events, a.EventNs, a.Latency)
	}
	if s := m.offers[1]; !s.Unheld || s.Body != nil || m.answers[s.ID] != nil {
		t.Errorf("streamed upload offered as %+v, want unheld and not taken", s)
	}
}

// The mirror hears an event stream's timing as a recording keeps it, even
// when the exchange is not recorded.
func TestProxyTimesTheMirroredAnswer(t *testing.T) {
	m := &fakeMirror{take: true, answers: map[string]*MirrorAnswer{}}
	events := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(5 * time.Millisecond)
		}
	})
	rg := newRig(t, events, ProxyOptions{Mirror: m, Sample: 1e-9}, SinkOptions{})
	req, _ := http.NewRequest("POST", rg.front.URL+"/v1/chat/completions", strings.NewReader(`{"stream":true}`))
	got := do(t, http.DefaultClient, req)
	if got.status != 200 || string(got.body) != "data: 0\n\ndata: 1\n\ndata: 2\n\n" {
		t.Fatalf("client got %d %q", got.status, got.body)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.answers[m.offers[0].ID]
	if a == nil || a.Events != 3 || len(a.EventNs) != 3 {
		t.Fatalf("answer %+v, want 3 events timed", a)
	}
	prev := a.FirstByteNs
	for i, ns := range a.EventNs {
		// Each event ends after the one before, the first no sooner than
		// the first byte, and none after the answer did.
		if ns < prev || ns > int64(a.Latency) {
			t.Errorf("event %d ended at %d ns (first byte %d, events %v, latency %d)", i, ns, a.FirstByteNs, a.EventNs, a.Latency)
		}
		prev = ns
	}
	// The upstream sends the third event two 5 ms pauses after the first
	// at the earliest (gaps between arrivals are no bound: a late read
	// shortens the next one).
	if a.EventNs[2] < int64(10*time.Millisecond) {
		t.Errorf("third event at %d ns, before the upstream's two pauses could have passed", a.EventNs[2])
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
