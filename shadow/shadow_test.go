package shadow

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowctl/shadowctl/record"
	"github.com/shadowctl/shadowctl/replay"
)

// memRows keeps the rows a shadow writes.
type memRows struct {
	mu   sync.Mutex
	rows []*replay.Result
}

func (m *memRows) Offer(r *replay.Result) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows = append(m.rows, r)
	return true
}

func (m *memRows) byID() map[string]*replay.Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]*replay.Result{}
	for _, r := range m.rows {
		out[r.ID] = r
	}
	return out
}

// model answers {"predictions":[label]} with the label its function picks
// for the request's path.
func model(label func(path string) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"predictions":[%q]}`, label(r.URL.Path))
	})
}

// rig is a primary, a recording proxy mirroring through a Shadow, and the
// shadow's target.
type rig struct {
	front  *httptest.Server
	shadow *Shadow
	rows   *memRows
}

func newRig(t *testing.T, primary, candidate http.Handler, opts Options) *rig {
	t.Helper()
	up := httptest.NewServer(primary)
	t.Cleanup(up.Close)
	if opts.Target == nil {
		cand := httptest.NewServer(candidate)
		t.Cleanup(cand.Close)
		opts.Target, _ = url.Parse(cand.URL)
	}
	if opts.Sample == 0 {
		opts.Sample = 1
	}
	rows := &memRows{}
	opts.Rows = rows
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(up.URL)
	p, err := record.NewProxy(record.ProxyOptions{Upstream: u, MaxBody: 1 << 20, Sample: 1, Mirror: s,
		Redact: record.RedactSet(record.DefaultRedact)})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(p)
	t.Cleanup(front.Close)
	t.Cleanup(p.Close)
	return &rig{front: front, shadow: s, rows: rows}
}

func (rg *rig) post(t *testing.T, path, body string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", rg.front.URL+path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// postStreamed posts body with no length, so that the proxy streams it
// rather than holding it whole.
func (rg *rig) postStreamed(t *testing.T, path, body string) {
	t.Helper()
	req, _ := http.NewRequest("POST", rg.front.URL+path, io.MultiReader(strings.NewReader(body)))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
}

func (rg *rig) close(t *testing.T) Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rg.shadow.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return rg.shadow.Stats()
}

// A live row keeps what a replayed one does: the request's headers as a
// recording stores them (redacted), and each side's timing, so that a
// report slices, keys labels and times streams on live results as on
// replayed ones.
func TestShadowRowsKeepHeadersAndTiming(t *testing.T) {
	stream := func(pause time.Duration) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 3 {
				fmt.Fprintf(w, "data: {\"n\":%d}\n\n", i)
				w.(http.Flusher).Flush()
				time.Sleep(pause)
			}
		})
	}
	rg := newRig(t, stream(2*time.Millisecond), stream(6*time.Millisecond), Options{})
	if code, _ := rg.post(t, "/v1/chat/completions", `{"stream":true}`, "X-User-Id", "u7", "Authorization", "Bearer s3cret"); code != 200 {
		t.Fatalf("status %d", code)
	}
	rg.close(t)
	rows := rg.rows.byID()
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	for _, r := range rows {
		if v, _ := r.Header("X-User-Id"); v != "u7" {
			t.Errorf("row's X-User-Id %q, want u7 (headers %v)", v, r.RequestHeaders)
		}
		if v, _ := r.Header("Authorization"); v != record.Redacted {
			t.Errorf("row's Authorization %q, want it redacted", v)
		}
		for _, side := range []struct {
			name             string
			first, events    int64
			eventNs          []int64
			latency, minStep int64
		}{
			{"recorded", r.RecordedFirstByteNs, r.RecordedEvents, r.RecordedEventNs, r.RecordedLatencyNs, int64(2 * time.Millisecond)},
			{"candidate", r.CandidateFirstByteNs, r.CandidateEvents, r.CandidateEventNs, r.CandidateLatencyNs, int64(6 * time.Millisecond)},
		} {
			if side.first <= 0 || side.events != 3 || len(side.eventNs) != 3 {
				t.Errorf("%s: first byte %d ns, %d events %v; want 3 events timed", side.name, side.first, side.events, side.eventNs)
				continue
			}
			// The model sends the third event two pauses after the first
			// at the earliest: a hard bound on when it can arrive (gaps
			// between arrivals are not, as a late read shortens the next).
			for i := 1; i < 3; i++ {
				if side.eventNs[i] < side.eventNs[i-1] {
					t.Errorf("%s: events %v out of order", side.name, side.eventNs)
				}
			}
			if side.eventNs[2] < 2*side.minStep {
				t.Errorf("%s: third event at %d ns, before the model's two pauses (%d ns) could have passed", side.name, side.eventNs[2], 2*side.minStep)
			}
			if last := side.eventNs[2]; last > side.latency || side.first > side.eventNs[0] {
				t.Errorf("%s: first byte %d, events %v, latency %d: out of order", side.name, side.first, side.eventNs, side.latency)
			}
		}
	}
}

// --redact-json masks each body of a live row by the recorder's rules,
// each read with its own side's headers: a candidate answer in a
// Content-Encoding it cannot read as JSON is not kept.
func TestShadowRedactsWhatItStores(t *testing.T) {
	red, err := record.NewJSONRedactor([]string{"$.user.email"})
	if err != nil {
		t.Fatal(err)
	}
	v1 := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"predictions":["cat"],"user":{"email":"v1@example.com"}}`)
	})
	v2 := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/encoded" {
			// zstd's magic, then bytes that hold the field in clear for
			// whoever decodes them: no NUL, not JSON, not text.
			w.Header().Set("Content-Encoding", "zstd")
			w.Write([]byte("\x28\xb5\x2f\xfd\x80\x81 v2@example.com \xfe"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"predictions":["cat"],"user":{"email":"v2@example.com"}}`)
	})
	rg := newRig(t, v1, v2, Options{RedactJSON: red})
	for _, path := range []string{"/plain", "/encoded"} {
		if code, _ := rg.post(t, path, `{"instances":[1],"user":{"email":"client@example.com"}}`, "Content-Type", "application/json"); code != 200 {
			t.Fatalf("%s: status %d", path, code)
		}
	}
	st := rg.close(t)
	if st.Compared != 2 || st.Agreed != 1 {
		t.Errorf("compared %d, agreed %d: want both compared before masking, the plain one agreeing", st.Compared, st.Agreed)
	}
	byPath := map[string]*replay.Result{}
	for _, r := range rg.rows.byID() {
		byPath[r.Path] = r
		for _, b := range [][]byte{r.RequestBody, r.RecordedBody, r.CandidateBody} {
			if strings.Contains(string(b), "@example.com") {
				t.Errorf("%s: a stored body keeps the masked field: %q", r.Path, b)
			}
		}
	}
	p := byPath["/plain"]
	if p == nil || string(p.RequestBody) != `{"instances":[1],"user":{"email":"REDACTED"}}` ||
		string(p.RecordedBody) != `{"predictions":["cat"],"user":{"email":"REDACTED"}}` ||
		string(p.CandidateBody) != `{"predictions":["cat"],"user":{"email":"REDACTED"}}` {
		t.Errorf("plain row %+v: want each body masked", p)
	}
	if e := byPath["/encoded"]; e == nil || len(e.CandidateBody) != 0 || string(e.RecordedBody) != string(p.RecordedBody) {
		t.Errorf("encoded row %+v: want the candidate's body not kept", e)
	}
}

// Every request is mirrored; the rows pair the primary's answer (recorded)
// with the shadow's (candidate), and the live comparison counts what a
// report would: here the candidate disagrees on every fifth request.
func TestShadowWritesRowsAndComparesLive(t *testing.T) {
	v1 := model(func(string) string { return "cat" })
	v2 := model(func(p string) string {
		var n int
		fmt.Sscanf(p, "/p/%d", &n)
		if n%5 == 0 {
			return "dog"
		}
		return "cat"
	})
	rg := newRig(t, v1, v2, Options{})
	const n = 50
	for i := range n {
		if code, body := rg.post(t, fmt.Sprintf("/p/%d", i), `{"instances":[1]}`); code != 200 || body != `{"predictions":["cat"]}` {
			t.Fatalf("client got %d %q, want v1's answer", code, body)
		}
	}
	st := rg.close(t)
	if st.Offered != n || st.Mirrored != n || st.Written != n || st.DroppedTotal() != 0 {
		t.Fatalf("stats %+v, want %d offered, mirrored and written", st, n)
	}
	if want := int64(n - n/5); st.Compared != n || st.Agreed != want {
		t.Errorf("live agreement %d of %d, want %d of %d", st.Agreed, st.Compared, want, n)
	}
	rows := rg.rows.byID()
	for _, r := range rows {
		var i int
		fmt.Sscanf(r.Path, "/p/%d", &i)
		wantCand := `{"predictions":["cat"]}`
		if i%5 == 0 {
			wantCand = `{"predictions":["dog"]}`
		}
		if r.RecordedStatus != 200 || string(r.RecordedBody) != `{"predictions":["cat"]}` || r.CandidateStatus != 200 ||
			string(r.CandidateBody) != wantCand || string(r.RequestBody) != `{"instances":[1]}` || r.Method != "POST" {
			t.Errorf("row %s %s: recorded %d %q, candidate %d %q", r.ID, r.Path, r.RecordedStatus, r.RecordedBody, r.CandidateStatus, r.CandidateBody)
		}
	}
}

// A shadow that does not answer until every client is done: every client
// got v1's answer while the shadow still held every copy, so the primary
// never waited for it.
func TestShadowNeverHoldsTheClient(t *testing.T) {
	release := make(chan struct{})
	var held sync.WaitGroup
	const n = 20
	held.Add(n)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		held.Done()
		<-release
		w.Write([]byte(`{"predictions":["late"]}`))
	})
	rg := newRig(t, model(func(string) string { return "cat" }), slow, Options{Concurrency: n, Timeout: 30 * time.Second})
	for i := range n {
		if code, _ := rg.post(t, fmt.Sprintf("/p/%d", i), `{}`); code != 200 {
			t.Fatalf("client %d got %d", i, code)
		}
	}
	held.Wait() // every copy is at the shadow, none answered, every client answered
	close(release)
	st := rg.close(t)
	if st.Written != n || st.Compared != n || st.Agreed != 0 {
		t.Errorf("stats %+v, want %d rows compared, none agreeing", st, n)
	}
}

// A shadow that is down, resets or fails: clients get v1's answers and the
// rows say what the shadow did, in replay's error kinds.
func TestShadowFaultsAreRows(t *testing.T) {
	refused := func() *url.URL {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		ln.Close()
		u, _ := url.Parse("http://" + ln.Addr().String())
		return u
	}
	reset := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, _ := http.NewResponseController(w).Hijack()
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.Close()
	})
	fails := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	hang := make(chan struct{})
	defer close(hang)
	// Until the test ends or the shadow's connection closes (which the
	// server sees once the body is read).
	wait := func(r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}
	// Past --shadow-timeout before its answer's head, and in the middle of
	// its body: timeouts both, the status kept when it came.
	silent := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { wait(r) })
	stalls := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		_, _ = w.Write([]byte(`{"predictions":`))
		http.NewResponseController(w).Flush()
		wait(r)
	})
	cases := []struct {
		name    string
		target  *url.URL
		h       http.Handler
		timeout time.Duration
		status  int32
		kinds   []string
	}{
		{"down", refused(), nil, 0, 0, []string{replay.KindRefused}},
		{"resets", nil, reset, 0, 0, []string{replay.KindReset, replay.KindOther}},
		{"500", nil, fails, 0, 500, []string{replay.KindHTTP5xx}},
		{"silent", nil, silent, 200 * time.Millisecond, 0, []string{replay.KindTimeout}},
		{"stalls mid-body", nil, stalls, 200 * time.Millisecond, 200, []string{replay.KindTimeout}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rg := newRig(t, model(func(string) string { return "cat" }), tc.h, Options{Target: tc.target, Timeout: tc.timeout})
			for i := range 5 {
				if code, body := rg.post(t, fmt.Sprintf("/p/%d", i), `{}`); code != 200 || body != `{"predictions":["cat"]}` {
					t.Fatalf("client got %d %q", code, body)
				}
			}
			rg.close(t)
			rows := rg.rows.byID()
			if len(rows) != 5 {
				t.Fatalf("%d rows, want 5", len(rows))
			}
			for _, r := range rows {
				ok := false
				for _, k := range tc.kinds {
					ok = ok || r.CandidateErrorKind == k
				}
				if r.CandidateStatus != tc.status || !ok || r.RecordedStatus != 200 {
					t.Errorf("row %s: candidate %d kind %q (%s), want %d and one of %v", r.ID, r.CandidateStatus, r.CandidateErrorKind, r.CandidateError, tc.status, tc.kinds)
				}
			}
		})
	}
}

// heldShadow is a shadow that signals each copy's arrival and answers none
// until release is closed.
func heldShadow() (h http.Handler, arrived <-chan struct{}, release chan struct{}) {
	in := make(chan struct{}, 100)
	release = make(chan struct{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in <- struct{}{}
		<-release
	}), in, release
}

// With one worker busy and a queue of one, further copies are dropped and
// counted, and nothing waits. Once no copy is pending, every sampled
// request is counted once, as mirrored (a row each) or as dropped by one
// reason, as /metrics promises: a streamed upload among them is unheld.
func TestShadowDropsWhenTheQueueIsFull(t *testing.T) {
	slow, arrived, release := heldShadow()
	rg := newRig(t, model(func(string) string { return "cat" }), slow, Options{Concurrency: 1, Queue: 1, Timeout: 30 * time.Second})
	rg.post(t, "/p/0", `{}`)
	<-arrived // the one worker holds the first copy
	const more = 10
	for i := range more {
		if code, _ := rg.post(t, fmt.Sprintf("/p/%d", i+1), `{}`); code != 200 {
			t.Fatalf("client got %d", code)
		}
	}
	rg.postStreamed(t, "/up", "streamed")
	close(release)
	st := rg.close(t)
	if st.Mirrored != 2 || st.Dropped[DropQueueFull] != more-1 {
		t.Errorf("mirrored %d, dropped %v; want 2 sent (one in flight, one queued) and %d queue_full", st.Mirrored, st.Dropped, more-1)
	}
	var dropped int64
	for _, n := range st.Dropped {
		dropped += n
	}
	if sent := int64(more + 2); st.Offered != sent || st.Mirrored+dropped != sent {
		t.Errorf("offered %d, mirrored %d + dropped %d (%v); want each of the %d requests counted once", st.Offered, st.Mirrored, dropped, st.Dropped, sent)
	}
	if st.Dropped[DropUnheld] != 1 {
		t.Errorf("dropped %v; want the upload unheld", st.Dropped)
	}
	if rows := int64(len(rg.rows.byID())); rows != st.Mirrored {
		t.Errorf("%d rows for %d mirrored", rows, st.Mirrored)
	}
}

// --shadow-rate: at most a tenth of a second's copies at once, then Rate a
// second, on the limiter's clock; the rest are dropped as rate_limited and
// the clients get their answers all the same. The queue is large and the
// shadow fast, so no copy is dropped for any other reason.
func TestShadowCapsTheCopiesPerSecond(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	cat := model(func(string) string { return "cat" })
	rg := newRig(t, cat, cat, Options{Rate: 100, Now: clock, Queue: 1000})
	posts := 0
	post := func(n int) {
		for range n {
			if code, _ := rg.post(t, fmt.Sprintf("/p/%d", posts), `{}`); code != 200 {
				t.Fatalf("client got %d", code)
			}
			posts++
		}
	}
	post(30)                       // a bucket of 10 (a tenth of 100/s): 10 sent, 20 over
	advance(50 * time.Millisecond) // 5 more tokens
	post(30)
	advance(10 * time.Second) // refilled, but to the bucket's 10 only
	post(30)
	st := rg.close(t)
	if want := int64(10 + 5 + 10); st.Mirrored != want || st.Dropped[DropRate] != int64(posts)-want {
		t.Errorf("mirrored %d, dropped %v; want %d sent and %d rate_limited", st.Mirrored, st.Dropped, want, int64(posts)-want)
	}
	if st.DroppedTotal() != st.Dropped[DropRate] {
		t.Errorf("dropped %v; want only rate_limited", st.Dropped)
	}
	if rows := int64(len(rg.rows.byID())); rows != st.Mirrored {
		t.Errorf("%d rows for %d mirrored", rows, st.Mirrored)
	}
}

// A copy that the full queue drops spends no token of the cap.
func TestShadowRateSpendsNoTokenOnAFullQueue(t *testing.T) {
	slow, arrived, release := heldShadow()
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC) // the clock stands still: no refill
	rg := newRig(t, model(func(string) string { return "cat" }), slow,
		Options{Rate: 30, Now: func() time.Time { return now }, Concurrency: 1, Queue: 1, Timeout: 30 * time.Second})
	rg.post(t, "/p/0", `{}`) // token 1 of 3
	<-arrived
	rg.post(t, "/p/1", `{}`) // token 2: queued
	for i := range 5 {
		rg.post(t, fmt.Sprintf("/q/%d", i), `{}`) // queue full: no token
	}
	close(release)
	<-arrived                // the queued copy is being answered: the queue has room again
	rg.post(t, "/p/2", `{}`) // token 3
	rg.post(t, "/p/3", `{}`) // none left
	st := rg.close(t)
	if st.Mirrored != 3 || st.Dropped[DropQueueFull] != 5 || st.Dropped[DropRate] != 1 {
		t.Errorf("mirrored %d, dropped %v; want 3 sent, 5 queue_full and 1 rate_limited", st.Mirrored, st.Dropped)
	}
}

func TestShadowRejectsABadRate(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:1")
	for _, r := range []float64{-1, math.NaN(), math.Inf(1)} {
		if s, err := New(Options{Target: u, Sample: 1, Rate: r}); err == nil {
			_ = s.Close(context.Background())
			t.Errorf("rate %v accepted", r)
		}
	}
}

// A streamed upload is not held whole: not mirrored, counted.
func TestShadowCountsUnheldBodies(t *testing.T) {
	rg := newRig(t, model(func(string) string { return "cat" }), model(func(string) string { return "cat" }), Options{})
	rg.postStreamed(t, "/up", "streamed")
	if st := rg.close(t); st.Mirrored != 0 || st.Dropped[DropUnheld] != 1 {
		t.Errorf("stats %+v, want the upload dropped as unheld", st)
	}
}

// --shadow-sample with a key: one user's requests are all mirrored or none,
// and about the fraction of users are.
func TestShadowSampleIsConsistentPerKey(t *testing.T) {
	key, err := ParseKey("header:X-User-Id")
	if err != nil {
		t.Fatal(err)
	}
	rg := newRig(t, model(func(string) string { return "cat" }), model(func(string) string { return "cat" }), Options{Sample: 0.5, Key: key})
	const users, each = 100, 3
	for u := range users {
		for j := range each {
			rg.post(t, fmt.Sprintf("/u/%d/%d", u, j), `{}`, "X-User-Id", fmt.Sprintf("user-%d", u))
		}
	}
	rg.close(t)
	perUser := map[string]int{}
	for _, r := range rg.rows.byID() {
		var u, j int
		fmt.Sscanf(r.Path, "/u/%d/%d", &u, &j)
		perUser[fmt.Sprint(u)]++
	}
	for u, n := range perUser {
		if n != each {
			t.Errorf("user %s: %d of %d requests mirrored, want all or none", u, n, each)
		}
	}
	if n := len(perUser); n < 30 || n > 70 {
		t.Errorf("%d of %d users mirrored at 0.5, want about half", n, users)
	}
}

func TestParseKey(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{{"header:X-User-Id", true}, {"header:x-user-id", true}, {"request:$.user.id", true}, {"header:", false},
		{"header:Bad Name", false}, {"header:X-Id\r\n", false}, {"header:Connection", false}, {"header:te", false}, {"header:Host", true}, {"cookie:x", false}, {"request:$[", false}, {"x", false},
		{"request:$.users[*].id", false}, {"request:$..id", false}, {"request:$.a[0:2]", false}, {"request:$.users[0]['id']", true}} {
		if _, err := ParseKey(tc.in); (err == nil) != tc.ok {
			t.Errorf("ParseKey(%q) = %v, want ok %v", tc.in, err, tc.ok)
		}
	}
	h, _ := ParseKey("header:Host")
	if h.fraction(&record.MirrorRequest{Host: "a.example"}) == h.fraction(&record.MirrorRequest{Host: "b.example"}) {
		t.Error("header:Host keys every request alike")
	}
	k, _ := ParseKey("request:$.user.id")
	a := &record.MirrorRequest{Body: []byte(`{"user":{"id":7},"x":1}`)}
	b := &record.MirrorRequest{Body: []byte(`{"x":2,"user":{"id":7}}`)}
	c := &record.MirrorRequest{Body: []byte(`{"user":{"id":8}}`)}
	if k.fraction(a) != k.fraction(b) || k.fraction(a) == k.fraction(c) {
		t.Errorf("request key: same id gave %v and %v, another id %v", k.fraction(a), k.fraction(b), k.fraction(c))
	}
}

// A shadow that closes a kept-alive connection as the next copy goes out
// (what a short idle timeout does) gets that copy again on a new
// connection: the row is its answer, not a reset it did not cause.
func TestShadowSendsACopyAgainWhenTheShadowClosedTheConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				body := `{"predictions":["cat"]}`
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
				http.ReadRequest(br) // the next copy: closed unanswered
			}()
		}
	}()
	u, _ := url.Parse("http://" + ln.Addr().String())
	rg := newRig(t, model(func(string) string { return "cat" }), nil, Options{Target: u, Concurrency: 1})
	for i := range 6 {
		if code, _ := rg.post(t, fmt.Sprintf("/p/%d", i), `{}`); code != 200 {
			t.Fatalf("client got %d", code)
		}
	}
	st := rg.close(t)
	rows := rg.rows.byID()
	if len(rows) != 6 || st.Agreed != 6 {
		t.Errorf("%d rows, %d of %d agreeing; want 6 of 6", len(rows), st.Agreed, st.Compared)
	}
	for _, r := range rows {
		if r.CandidateStatus != 200 || r.CandidateError != "" {
			t.Errorf("row %s: candidate %d %q, want the answer of a new connection", r.ID, r.CandidateStatus, r.CandidateError)
		}
	}
	if n := conns.Load(); n < 6 {
		t.Errorf("%d connections for 6 copies each closed after one answer", n)
	}
}

// Copies still queued or in flight when Close's deadline passes are
// counted as closed, with no row and no comparison: the shadow is not to
// blame for a cut of the recorder's own.
func TestShadowCountsCopiesCutWhenStoppingAsClosed(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})
	rg := newRig(t, model(func(string) string { return "cat" }), slow, Options{Concurrency: 2, Timeout: time.Minute})
	for i := range 6 {
		if code, _ := rg.post(t, fmt.Sprintf("/p/%d", i), `{}`); code != 200 {
			t.Fatalf("client got %d", code)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	if err := rg.shadow.Close(ctx); err == nil {
		t.Error("Close cut copies and said nothing")
	}
	// The copies' own timeout is a minute: well before it, Close's
	// deadline must have aborted their connections.
	if d := time.Since(began); d > 20*time.Second {
		t.Errorf("Close took %v: it waited for the copies instead of aborting them at its deadline", d)
	}
	st := rg.shadow.Stats()
	if st.Mirrored != 0 || st.Dropped[DropClosed] != 6 || st.Compared != 0 || len(rg.rows.byID()) != 0 {
		t.Errorf("mirrored %d, closed %d, compared %d, %d rows; want 0, 6, 0 and none",
			st.Mirrored, st.Dropped[DropClosed], st.Compared, len(rg.rows.byID()))
	}
	if h := rg.shadow.held.Load(); h != 0 {
		t.Errorf("%d bytes still held", h)
	}
}

// A copy cut by Close's deadline while its answer's body is still coming
// is closed too, not a row of kind timeout against the shadow.
func TestShadowCountsCopiesCutMidAnswerAsClosed(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	drip := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.Write([]byte(`{"predictio`))
		w.(http.Flusher).Flush()
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})
	rg := newRig(t, model(func(string) string { return "cat" }), drip, Options{Concurrency: 4, Timeout: time.Minute})
	for i := range 3 {
		if code, _ := rg.post(t, fmt.Sprintf("/p/%d", i), `{}`); code != 200 {
			t.Fatalf("client got %d", code)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := rg.shadow.Close(ctx); err == nil {
		t.Error("Close cut copies and said nothing")
	}
	st := rg.shadow.Stats()
	if st.Mirrored != 0 || st.Dropped[DropClosed] != 3 || len(rg.rows.byID()) != 0 {
		t.Errorf("mirrored %d, closed %d, %d rows; want 0, 3 and none", st.Mirrored, st.Dropped[DropClosed], len(rg.rows.byID()))
	}
	if h := rg.shadow.held.Load(); h != 0 {
		t.Errorf("%d bytes still held", h)
	}
}

// countingRows takes every other row and counts the rest as dropped, as a
// results spool whose queue is full would.
type countingRows struct {
	memRows
	n, lost atomic.Int64
}

func (c *countingRows) Offer(r *replay.Result) bool {
	if c.n.Add(1)%2 == 0 {
		c.lost.Add(1)
		return false
	}
	return c.memRows.Offer(r)
}

func (c *countingRows) RowCounts() (int64, map[string]int64) {
	return int64(len(c.memRows.byID())), map[string]int64{"queue_full": c.lost.Load(), "write_error": 0, "closed": 0}
}

// /metrics says how many rows reached the results files and how many were
// lost, when the rows' sink counts them: rows_written alone counted rows
// the files' queue then refused.
func TestShadowMetricsCountTheRowsLost(t *testing.T) {
	up := httptest.NewServer(model(func(string) string { return "cat" }))
	defer up.Close()
	cand := httptest.NewServer(model(func(string) string { return "cat" }))
	defer cand.Close()
	target, _ := url.Parse(cand.URL)
	rows := &countingRows{}
	s, err := New(Options{Target: target, Sample: 1, Rows: rows})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := s.Register(reg); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(up.URL)
	p, err := record.NewProxy(record.ProxyOptions{Upstream: u, MaxBody: 1 << 20, Sample: 1, Mirror: s})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(p)
	defer front.Close()
	defer p.Close()
	for i := range 10 {
		res, err := http.Post(front.URL+fmt.Sprintf("/p/%d", i), "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got := counters(t, reg)
	for name, want := range map[string]float64{
		"shadowctl_shadow_mirrored_total":                 10,
		"shadowctl_shadow_rows_written_total":             5,
		"shadowctl_shadow_rows_recorded_total":            5,
		"shadowctl_shadow_rows_dropped_total/queue_full":  5,
		"shadowctl_shadow_rows_dropped_total/write_error": 0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
}

// A slow primary must not hold the shadow's workers: with two workers, a
// queue of two and eight requests whose primaries all wait, every copy
// reaches the (instant) shadow before any primary answers, none is dropped,
// and each row pairs a request with its own two answers, sent_at being
// when its copy left.
func TestSlowPrimariesDoNotHoldTheWorkers(t *testing.T) {
	const n = 8
	release := make(chan struct{})
	arrived := make(chan string, n)
	primary := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		arrived <- r.URL.Path
		<-release
		fmt.Fprintf(w, `{"predictions":[%q]}`, "v1"+r.URL.Path)
	})
	var copies atomic.Int64
	candidate := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		copies.Add(1)
		fmt.Fprintf(w, `{"predictions":[%q]}`, "v2"+r.URL.Path)
	})
	rg := newRig(t, primary, candidate, Options{Concurrency: 2, Queue: 2})
	var clients sync.WaitGroup
	for i := range n {
		clients.Add(1)
		go func() {
			defer clients.Done()
			rg.post(t, fmt.Sprintf("/p/%d", i), `{}`)
		}()
		<-arrived // one at a time: the queue never fills for a shadow that keeps up
	}
	deadline := time.Now().Add(10 * time.Second)
	for copies.Load() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := copies.Load(); got != n {
		t.Errorf("the shadow got %d of %d copies while the primaries waited; dropped %v", got, n, rg.shadow.Stats().Dropped)
	}
	close(release)
	clients.Wait()
	st := rg.close(t)
	if st.Written != n || st.DroppedTotal() != 0 {
		t.Fatalf("stats %+v, want %d rows and nothing dropped", st, n)
	}
	for _, row := range rg.rows.byID() {
		if want := fmt.Sprintf(`{"predictions":["v1%s"]}`, row.Path); string(row.RecordedBody) != want {
			t.Errorf("%s: recorded %s, want %s", row.Path, row.RecordedBody, want)
		}
		if want := fmt.Sprintf(`{"predictions":["v2%s"]}`, row.Path); string(row.CandidateBody) != want {
			t.Errorf("%s: candidate %s, want %s", row.Path, row.CandidateBody, want)
		}
		if row.SentAt.Before(row.RecordedStartedAt) {
			t.Errorf("%s: sent_at %v before the request came (%v)", row.Path, row.SentAt, row.RecordedStartedAt)
		}
	}
	if h := rg.shadow.held.Load(); h != 0 {
		t.Errorf("%d bytes still held once every row is made", h)
	}
}

// A copy whose primary never answers (the proxy's drain was cut short) is
// cut at Close, counted as closed, its memory given back; a primary's
// answer coming after that changes nothing.
func TestCloseCutsCopiesWhosePrimaryNeverAnswered(t *testing.T) {
	var copies atomic.Int64
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		copies.Add(1)
		w.Write([]byte(`{"predictions":[1]}`))
	}))
	defer cand.Close()
	u, _ := url.Parse(cand.URL)
	rows := &memRows{}
	s, err := New(Options{Target: u, Sample: 1, Rows: rows})
	if err != nil {
		t.Fatal(err)
	}
	m := s.Offer(&record.MirrorRequest{Method: "POST", Target: "/p", Body: []byte(`{}`), StartedAt: time.Now().UTC()})
	if m == nil {
		t.Fatal("copy not taken")
	}
	for copies.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	// The shadow answered; let the worker park the copy.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s.late.mu.Lock()
		parked := len(s.late.waiting)
		s.late.mu.Unlock()
		if parked == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	m.Primary(&record.MirrorAnswer{Status: 200, Body: []byte(`{"predictions":[1]}`)})
	st := s.Stats()
	if st.Dropped[DropClosed] != 1 || st.Written != 0 || len(rows.byID()) != 0 {
		t.Errorf("stats %+v, %d rows; want one copy closed and no row", st, len(rows.byID()))
	}
	if h := s.held.Load(); h != 0 {
		t.Errorf("%d bytes still held", h)
	}
}

// A small body sent after Expect: 100-continue streams (Go's server asks
// the client for it as the proxy starts reading), and is mirrored once it
// has come whole, whatever the primary answered (a 401 here).
func TestShadowMirrorsBodiesSentAfterExpect(t *testing.T) {
	var bodies sync.Map
	candidate := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies.Store(r.URL.Path, string(b))
		w.Write([]byte(`{"predictions":["cat"]}`))
	})
	primary := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/refused" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"predictions":["cat"]}`))
	})
	rg := newRig(t, primary, candidate, Options{})
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 10 * time.Second}}
	defer client.CloseIdleConnections()
	for path, want := range map[string]int{"/p": 200, "/refused": http.StatusUnauthorized} {
		req, _ := http.NewRequest("POST", rg.front.URL+path, strings.NewReader(`{"instances":[1]}`))
		req.Header.Set("Expect", "100-continue")
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != want {
			t.Fatalf("%s: client got %d, want %d", path, res.StatusCode, want)
		}
	}
	st := rg.close(t)
	if st.Mirrored != 2 || st.Dropped[DropUnheld] != 0 {
		t.Errorf("stats %+v, want both mirrored", st)
	}
	for _, path := range []string{"/p", "/refused"} {
		if b, _ := bodies.Load(path); b != `{"instances":[1]}` {
			t.Errorf("%s: the shadow got body %q", path, b)
		}
	}
	for _, row := range rg.rows.byID() {
		want := map[string]int32{"/p": 200, "/refused": 401}[row.Path]
		if string(row.RequestBody) != `{"instances":[1]}` || row.RecordedStatus != want {
			t.Errorf("row %s: request %q, recorded %d, want %d", row.Path, row.RequestBody, row.RecordedStatus, want)
		}
	}
}
