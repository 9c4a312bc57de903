package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/record"
)

// sliceSource feeds exchanges from memory.
type sliceSource struct {
	xs []record.Exchange
	i  int
}

func (s *sliceSource) Next() (*record.Exchange, error) {
	if s.i >= len(s.xs) {
		return nil, io.EOF
	}
	s.i++
	return &s.xs[s.i-1], nil
}

func (s *sliceSource) Total() int64 { return int64(len(s.xs)) }

// memWriter keeps the rows it is given, with copies of the answer bodies
// (their buffers are reused after Write).
type memWriter struct {
	mu   sync.Mutex
	rows []Result
}

func (m *memWriter) Write(rs []Result) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range rs {
		r.CandidateBody = bytes.Clone(r.CandidateBody)
		if r.BaselineBody != nil {
			r.BaselineBody = bytes.Clone(r.BaselineBody)
		}
		m.rows = append(m.rows, r)
	}
	return nil
}

func (m *memWriter) byID() map[string]Result {
	out := map[string]Result{}
	for _, r := range m.rows {
		out[r.ID] = r
	}
	return out
}

var base = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func ex(i int, path string) record.Exchange {
	at := base.Add(time.Duration(i) * time.Millisecond)
	return record.Exchange{
		ID: fmt.Sprintf("id%06d", i), StartedAt: at, Method: "POST", Host: "model.prod", Path: path,
		RequestHeaders: []record.Header{{Name: "Content-Type", Value: "application/json"}},
		RequestBody:    []byte(fmt.Sprintf(`{"n":%d}`, i)), Status: 200,
		ResponseBody: []byte(`{"y":1}`), LatencyNs: 1000 + int64(i),
	}
}

func exchanges(n int, path string) []record.Exchange {
	xs := make([]record.Exchange, n)
	for i := range xs {
		xs[i] = ex(i, path)
	}
	return xs
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func okHandler(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"ok":true}`))
}

type seen struct {
	method, uri, host string
	header            http.Header
	body              []byte
}

func TestRequestsMatchTheRecording(t *testing.T) {
	var mu sync.Mutex
	got := map[string]seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got[r.Header.Get("X-Id")] = seen{r.Method, r.RequestURI, r.Host, r.Header.Clone(), b}
		mu.Unlock()
		w.WriteHeader(201)
		w.Write(append([]byte("echo:"), b...))
	}))
	defer srv.Close()

	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	hdr := func(kv ...string) []record.Header {
		var hs []record.Header
		for i := 0; i < len(kv); i += 2 {
			hs = append(hs, record.Header{Name: kv[i], Value: kv[i+1]})
		}
		return hs
	}
	xs := []record.Exchange{
		{ID: "a", StartedAt: base, Method: "POST", Path: "/v1/predict?x=1&y=%2F&y=2", RequestBody: []byte(`{"instances":[[1,2]]}`),
			RequestHeaders: hdr("Content-Type", "application/json", "X-Id", "a", "X-Multi", "1", "X-Multi", "2",
				"Connection", "keep-alive, X-Hop", "X-Hop", "secret", "Keep-Alive", "timeout=5", "Te", "trailers",
				"Authorization", record.Redacted, "Content-Length", "999", "Host", "elsewhere", "User-Agent", "client/1")},
		{ID: "b", StartedAt: base.Add(time.Millisecond), Method: "GET", Path: "/a%2Fb/c", RequestHeaders: hdr("X-Id", "b")},
		{ID: "c", StartedAt: base.Add(2 * time.Millisecond), Method: "PUT", Path: "/bin", RequestBody: binary,
			RequestHeaders: hdr("X-Id", "c", "Content-Type", "application/octet-stream", "X-Api-Key", "visible")},
	}
	sink := &memWriter{}
	opts := Options{Target: mustURL(t, srv.URL), Concurrency: 2,
		Header: http.Header{"X-Extra": {"yes"}, "X-Api-Key": {"override"}}}
	sum, err := Run(context.Background(), opts, &sliceSource{xs: xs}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 3 || sum.OK != 3 || len(sum.Errors) != 0 {
		t.Errorf("summary = %+v, want 3 sent, 3 ok", sum)
	}
	host := mustURL(t, srv.URL).Host
	cases := []struct {
		id, method, uri string
		body            []byte
		want            http.Header // exact set of headers received
	}{
		{"a", "POST", "/v1/predict?x=1&y=%2F&y=2", []byte(`{"instances":[[1,2]]}`), http.Header{
			"Content-Type": {"application/json"}, "X-Id": {"a"}, "X-Multi": {"1", "2"}, "User-Agent": {"client/1"},
			"X-Extra": {"yes"}, "X-Api-Key": {"override"}, "Content-Length": {"21"}}},
		{"b", "GET", "/a%2Fb/c", []byte{}, http.Header{"X-Id": {"b"}, "X-Extra": {"yes"}, "X-Api-Key": {"override"}}},
		{"c", "PUT", "/bin", binary, http.Header{"X-Id": {"c"}, "Content-Type": {"application/octet-stream"},
			"X-Extra": {"yes"}, "X-Api-Key": {"override"}, "Content-Length": {"256"}}},
	}
	rows := sink.byID()
	for _, c := range cases {
		s, ok := got[c.id]
		if !ok {
			t.Errorf("%s: not received", c.id)
			continue
		}
		if s.method != c.method || s.uri != c.uri || s.host != host || !bytes.Equal(s.body, c.body) {
			t.Errorf("%s: got %s %s host %s body %q, want %s %s host %s body %q", c.id, s.method, s.uri, s.host, s.body,
				c.method, c.uri, host, c.body)
		}
		// Go's server adds Accept-Encoding only if the client sent it: it must not.
		if fmt.Sprint(s.header) != fmt.Sprint(c.want) {
			t.Errorf("%s: headers\n got %v\nwant %v", c.id, s.header, c.want)
		}
		r := rows[c.id]
		if r.CandidateStatus != 201 || string(r.CandidateBody) != "echo:"+string(c.body) || r.CandidateErrorKind != "" ||
			r.Method != c.method || r.CandidateLatencyNs <= 0 || r.SentAt.IsZero() || r.HasBaseline() {
			t.Errorf("%s: result row %+v", c.id, r)
		}
	}
	if r := rows["a"]; !bytes.Equal(r.RequestBody, xs[0].RequestBody) || r.Path != xs[0].Path || !r.RecordedStartedAt.Equal(base) {
		t.Errorf("recorded side not carried: %+v", r)
	}
	// The recorded request headers are carried into the results (results/2),
	// so that a report can slice or key labels by one.
	if r := rows["a"]; !slices.Equal(r.RequestHeaders, xs[0].RequestHeaders) {
		t.Errorf("request headers %v, want the recorded %v", r.RequestHeaders, xs[0].RequestHeaders)
	}
}

// A worker reuses the URL and header built for the exchange before when
// they repeat: each request must still get its own.
func TestConsecutiveRequestsGetTheirOwnPathAndHeaders(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.RequestURI+" "+fmt.Sprint(r.Header["X-H"]))
		mu.Unlock()
	}))
	defer srv.Close()
	h := func(vs ...string) []record.Header {
		var hs []record.Header
		for _, v := range vs {
			hs = append(hs, record.Header{Name: "X-H", Value: v})
		}
		return hs
	}
	steps := []struct {
		path string
		hs   []record.Header
		want string // what the target saw; empty: not sent
	}{
		{"/p", h("1"), "/p [1]"},
		{"/p", h("1"), "/p [1]"},
		{"/p", h("2"), "/p [2]"},
		{"/q?x=1", h("2"), "/q?x=1 [2]"},
		{"/q?x=1", h("2", "3"), "/q?x=1 [2 3]"},
		{"no-slash", h("2", "3"), ""},
		{"no-slash", nil, ""},
		{"/p", nil, "/p []"},
		{"/p", h("1"), "/p [1]"},
	}
	var xs []record.Exchange
	var want []string
	for i, s := range steps {
		x := ex(i, s.path)
		x.RequestHeaders = s.hs
		xs = append(xs, x)
		if s.want != "" {
			want = append(want, s.want)
		}
	}
	sink := &memWriter{}
	sum, err := Run(context.Background(), Options{Target: mustURL(t, srv.URL), Concurrency: 1, EarlyStop: -1},
		&sliceSource{xs: xs}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("target saw\n %q\nwant\n %q", got, want)
	}
	if sum.Errors[KindOther] != 2 {
		t.Errorf("errors %v, want 2 %s (the paths without a slash)", sum.Errors, KindOther)
	}
	for _, r := range sink.rows {
		if strings.HasPrefix(r.Path, "/") != (r.CandidateErrorKind == "") {
			t.Errorf("%s %s: error kind %q", r.ID, r.Path, r.CandidateErrorKind)
		}
	}
}

func TestMethodsAsRecorded(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+string(b))
		mu.Unlock()
	}))
	defer srv.Close()
	steps := []struct {
		method  string
		want    string // what the target saw; empty: not sent
		wantErr string
	}{
		{"", "GET ", ""}, // net/http's default, as a recorder never writes it
		{"PATCH", "PATCH x", ""},
		{"BAD METHOD", "", `build request: net/http: invalid method "BAD METHOD"`},
		{"BAD METHOD", "", `build request: net/http: invalid method "BAD METHOD"`},
		{"PATCH", "PATCH x", ""},
	}
	var xs []record.Exchange
	var want []string
	for i, s := range steps {
		x := ex(i, "/p")
		x.Method, x.RequestBody = s.method, []byte("x")
		if s.method == "" {
			x.RequestBody = nil
		}
		xs = append(xs, x)
		if s.want != "" {
			want = append(want, s.want)
		}
	}
	sink := &memWriter{}
	if _, err := Run(context.Background(), Options{Target: mustURL(t, srv.URL), Concurrency: 1, EarlyStop: -1},
		&sliceSource{xs: xs}, sink); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("target saw %q, want %q", got, want)
	}
	rows := sink.byID()
	for i, s := range steps {
		r := rows[xs[i].ID]
		wantKind := ""
		if s.wantErr != "" {
			wantKind = KindOther
		}
		if r.Method != s.method || r.CandidateError != s.wantErr || r.CandidateErrorKind != wantKind {
			t.Errorf("%d: row method %q error %q (%q), want %q error %q (%q)", i, r.Method, r.CandidateError,
				r.CandidateErrorKind, s.method, s.wantErr, wantKind)
		}
	}
}

func TestConcurrencyIsReachedAndNeverExceeded(t *testing.T) {
	const conc = 6
	var inFlight, peak atomic.Int64
	release := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		if n >= conc {
			once.Do(func() { close(release) })
		}
		select {
		case <-release:
		case <-time.After(5 * time.Second):
			http.Error(w, "concurrency never reached", 500)
			return
		}
		okHandler(w, r)
	}))
	defer srv.Close()
	for _, mode := range []struct {
		name string
		rate float64
	}{{"closed loop", 0}, {"open loop", 1000}} {
		t.Run(mode.name, func(t *testing.T) {
			peak.Store(0)
			release = make(chan struct{})
			once = sync.Once{}
			sink := &memWriter{}
			sum, err := Run(context.Background(), Options{Target: mustURL(t, srv.URL), Concurrency: conc, Rate: mode.rate},
				&sliceSource{xs: exchanges(60, "/p")}, sink)
			if err != nil {
				t.Fatal(err)
			}
			if sum.OK != 60 || len(sink.rows) != 60 {
				t.Errorf("ok = %d, rows = %d, want 60 (errors %v)", sum.OK, len(sink.rows), sum.Errors)
			}
			if p := peak.Load(); p != conc {
				t.Errorf("peak in flight = %d, want exactly %d", p, conc)
			}
		})
	}
}

func TestRateHoldsTheSchedule(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(okHandler))
	defer srv.Close()
	const n, rate = 200, 400.0
	sink := &memWriter{}
	sum, err := Run(context.Background(), Options{Target: mustURL(t, srv.URL), Concurrency: 8, Rate: rate},
		&sliceSource{xs: exchanges(n, "/p")}, sink)
	if err != nil {
		t.Fatal(err)
	}
	// The last request is due (n-1)/rate after the start: it cannot go sooner.
	if min := time.Duration(float64(n-1) / rate * float64(time.Second)); sum.Elapsed < min {
		t.Errorf("elapsed %v, faster than the schedule allows (%v)", sum.Elapsed, min)
	}
	if got := sum.Rate(); got > rate*1.05 || got < rate/4 {
		t.Errorf("achieved rate %.0f/s, want about %.0f/s", got, rate)
	}
	// No request goes before its due time: the k-th send is at least k/rate
	// after the start.
	times := make([]time.Time, 0, n)
	for _, r := range sink.rows {
		times = append(times, r.SentAt)
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	for k, at := range times {
		if due := sum.Started.Add(time.Duration(float64(k) / rate * float64(time.Second))); at.Before(due) {
			t.Fatalf("send %d at %v, before its due time %v", k, at.Sub(sum.Started), due.Sub(sum.Started))
		}
	}
}

func TestSpeedFollowsRecordedTimesAndCapsGaps(t *testing.T) {
	var mu sync.Mutex
	var order []string
	arrived := map[string]time.Time{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		order = append(order, r.URL.Path)
		arrived[r.URL.Path] = time.Now()
		mu.Unlock()
		okHandler(w, r)
	}))
	defer srv.Close()
	mk := func(at time.Duration, path string) record.Exchange {
		x := ex(0, path)
		x.ID, x.StartedAt = path, base.Add(at)
		return x
	}
	xs := []record.Exchange{
		mk(0, "/a"), mk(200*time.Millisecond, "/b"), mk(400*time.Millisecond, "/c"),
		mk(time.Hour, "/d"), // capped by MaxGap
	}
	sum, err := Run(context.Background(), Options{Target: mustURL(t, srv.URL), Concurrency: 1, Speed: 2,
		MaxGap: 150 * time.Millisecond}, &sliceSource{xs: xs}, &memWriter{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(order, []string{"/a", "/b", "/c", "/d"}) {
		t.Errorf("order = %v", order)
	}
	// At speed 2 the schedule from the start is /b at 100ms, /c at 200ms, and
	// /d at 350ms (the hour-long gap capped to 150ms). A send is never early,
	// but a late one (the first pays for the connection) shortens the next
	// gap, so check against the schedule.
	for path, due := range map[string]time.Duration{"/b": 100 * time.Millisecond, "/c": 200 * time.Millisecond, "/d": 350 * time.Millisecond} {
		if d := arrived[path].Sub(sum.Started); d < due {
			t.Errorf("%s came %v after the start, want at least %v", path, d, due)
		}
	}
	if d := arrived["/d"].Sub(arrived["/c"]); d > 10*time.Second {
		t.Errorf("/d came %v after /c: the gap was not capped", d)
	}
	if sum.Elapsed < 345*time.Millisecond || sum.Elapsed > 30*time.Second {
		t.Errorf("elapsed %v, want about 350ms", sum.Elapsed)
	}
}

// A recorded gap that, divided by a slow speed, is more than a Duration
// holds is still capped by MaxGap: it overflowed to a negative gap, and the
// request went out at once.
func TestSpeedCapsGapsPastWhatADurationHolds(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(okHandler))
	defer srv.Close()
	a, b := ex(0, "/a"), ex(1, "/b")
	b.StartedAt = a.StartedAt.Add(200 * 365 * 24 * time.Hour)
	sink := &memWriter{}
	const maxGap = 100 * time.Millisecond
	sum, err := Run(context.Background(), Options{Target: mustURL(t, srv.URL), Concurrency: 1, Speed: MinSpeed,
		MaxGap: maxGap}, &sliceSource{xs: []record.Exchange{a, b}}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if d := sink.byID()[b.ID].SentAt.Sub(sum.Started); d < maxGap {
		t.Errorf("/b was sent %v after the start, want at least --max-gap %v", d, maxGap)
	}
}

// refusedURL is a loopback port that was just closed.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestFailuresAreClassifiedRows(t *testing.T) {
	stop := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer slow.Close()
	defer close(stop) // before Close, which waits for the handlers
	reset := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0) // RST, not FIN
			}
			c.Close()
		}
	}))
	defer reset.Close()
	status := func(code int) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			w.Write([]byte("nope"))
		}))
	}
	s500, s404 := status(503), status(404)
	defer s500.Close()
	defer s404.Close()
	untrusted := httptest.NewTLSServer(http.HandlerFunc(okHandler)) // its CA is not in the client's pool
	defer untrusted.Close()

	cases := []struct {
		name, url, kind string
		status          int32
	}{
		{"timeout", slow.URL, KindTimeout, 0}, // the only case that may wait for the timeout
		{"refused", refusedURL(t), KindRefused, 0},
		{"reset", reset.URL, KindReset, 0},
		{"5xx", s500.URL, KindHTTP5xx, 503},
		{"4xx", s404.URL, KindHTTP4xx, 404},
		{"tls", untrusted.URL, KindTLS, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sink := &memWriter{}
			timeout := 10 * time.Second
			if c.kind == KindTimeout {
				timeout = 200 * time.Millisecond
			}
			sum, err := Run(context.Background(), Options{Target: mustURL(t, c.url), Concurrency: 2,
				Timeout: timeout, EarlyStop: -1}, &sliceSource{xs: exchanges(3, "/p")}, sink)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Sent != 3 || sum.Errors[c.kind] != 3 || sum.OK != 0 {
				t.Errorf("summary %+v, want 3 %s", sum, c.kind)
			}
			for _, r := range sink.rows {
				if r.CandidateErrorKind != c.kind || r.CandidateStatus != c.status {
					t.Errorf("row kind %q status %d (error %q), want %q %d", r.CandidateErrorKind, r.CandidateStatus,
						r.CandidateError, c.kind, c.status)
				}
				if (c.status == 0) != (r.CandidateError != "") {
					t.Errorf("error text %q for kind %s", r.CandidateError, c.kind)
				}
			}
		})
	}
}

func TestRefusingTargetStopsEarly(t *testing.T) {
	target := refusedURL(t)
	sink := &memWriter{}
	const concurrency = 2
	sum, err := Run(context.Background(), Options{Target: mustURL(t, target), Concurrency: concurrency},
		&sliceSource{xs: exchanges(1000, "/p")}, sink)
	var ce *ConnectError
	if !errors.As(err, &ce) || err.Error() != "target "+target+": connection refused" {
		t.Fatalf("err = %v, want target %s: connection refused", err, target)
	}
	// When the collector sees the EarlyStop-th failure, up to 4×concurrency
	// more can be on their way: outcomes queued for it (2×), requests in
	// flight (1×) and jobs handed to workers (1×). (The bound was +4, which
	// a loaded machine overstepped.)
	if sum.Sent < DefaultEarlyStop || sum.Sent > DefaultEarlyStop+4*concurrency {
		t.Errorf("sent %d before stopping, want %d to %d", sum.Sent, DefaultEarlyStop, DefaultEarlyStop+4*concurrency)
	}
	// Fewer exchanges than the early-stop count: still one clear error.
	_, err = Run(context.Background(), Options{Target: mustURL(t, target)}, &sliceSource{xs: exchanges(2, "/p")}, &memWriter{})
	if !errors.As(err, &ce) {
		t.Errorf("short run: err = %v, want a ConnectError", err)
	}
}

// failingWriter fails its write number failAt (from 1) and counts the rows
// it was given before.
type failingWriter struct {
	failAt, writes int
	rows           int
}

var errDiskFull = errors.New("no space left on device")

func (f *failingWriter) Write(rs []Result) error {
	f.writes++
	if f.writes == f.failAt {
		return errDiskFull
	}
	if f.writes > f.failAt {
		return errors.New("written after the first error")
	}
	f.rows += len(rs)
	return nil
}

func TestWriteErrorStopsTheRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(okHandler))
	defer srv.Close()
	for _, c := range []struct {
		name      string
		exchanges int
		failAt    int
		wantRows  int
		wantAll   bool // every exchange sent: the error came with the last rows
	}{
		{"first batch", 20 * batchRows, 1, 0, false},
		{"second batch", 20 * batchRows, 2, batchRows, false},
		{"last rows", batchRows + 10, 2, batchRows, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			sink := &failingWriter{failAt: c.failAt}
			sum, err := Run(context.Background(), Options{Target: mustURL(t, srv.URL), Concurrency: 4},
				&sliceSource{xs: exchanges(c.exchanges, "/p")}, sink)
			if !errors.Is(err, errDiskFull) {
				t.Fatalf("err = %v, want %v", err, errDiskFull)
			}
			if sink.writes != c.failAt || sink.rows != c.wantRows {
				t.Errorf("%d writes with %d rows, want %d with %d (none after the error)",
					sink.writes, sink.rows, c.failAt, c.wantRows)
			}
			if all := sum.Sent == int64(c.exchanges); all != c.wantAll {
				t.Errorf("sent %d of %d exchanges, want all: %v", sum.Sent, c.exchanges, c.wantAll)
			}
		})
	}
}

func TestBaselineGetsTheSameRequestAtTheSameTime(t *testing.T) {
	// Each side waits for the other to have the same exchange in flight.
	var mu sync.Mutex
	arrived := map[string]chan struct{}{}
	meet := func(key string) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		if arrived[key] == nil {
			arrived[key] = make(chan struct{})
		}
		return arrived[key]
	}
	side := func(me, other, answer string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			close(meet(me + string(b)))
			select {
			case <-meet(other + string(b)):
				w.Write([]byte(answer))
			case <-time.After(5 * time.Second):
				http.Error(w, "the other side never came", 500)
			}
		}))
	}
	cand, basel := side("c", "b", `{"v":2}`), side("b", "c", `{"v":1}`)
	defer cand.Close()
	defer basel.Close()
	sink := &memWriter{}
	sum, err := Run(context.Background(), Options{Target: mustURL(t, cand.URL), Baseline: mustURL(t, basel.URL),
		Concurrency: 1}, &sliceSource{xs: exchanges(5, "/p")}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if sum.OK != 5 || sum.BaselineOK != 5 {
		t.Errorf("summary %+v", sum)
	}
	for _, r := range sink.rows {
		if !r.HasBaseline() || *r.BaselineStatus != 200 || string(r.BaselineBody) != `{"v":1}` ||
			string(r.CandidateBody) != `{"v":2}` || *r.BaselineLatencyNs <= 0 || *r.BaselineErrorKind != "" {
			t.Errorf("row %+v", r)
		}
	}
}

func TestLimitAndPathPrefix(t *testing.T) {
	var count atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		okHandler(w, r)
	}))
	defer srv.Close()
	var xs []record.Exchange
	for i := range 30 {
		p := "/v1/predict"
		if i%3 == 0 {
			p = "/v2/predict"
		}
		xs = append(xs, ex(i, p))
	}
	cases := []struct {
		name   string
		limit  int64
		prefix string
		want   int
		// exchanges read and matched (Stats): a Limit stops reading
		read, matched int64
	}{
		{"all", 0, "", 30, 30, 30},
		{"limit", 7, "", 7, 7, 7},
		{"prefix", 0, "/v1/", 20, 30, 20},
		{"both", 5, "/v2/", 5, 13, 5}, // the 5th /v2/ is exchange 12
		{"limit above", 100, "/v2/", 10, 30, 10},
		{"prefix matching none", 0, "/v9/", 0, 30, 0},
		{"prefix without a slash", 0, "v1/", 0, 30, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			count.Store(0)
			sink := &memWriter{}
			st, err := Run(context.Background(), Options{Target: mustURL(t, srv.URL), Limit: c.limit, PathPrefix: c.prefix},
				&sliceSource{xs: xs}, sink)
			if err != nil {
				t.Fatal(err)
			}
			if st.Read != c.read || st.Matched != c.matched {
				t.Errorf("read %d, matched %d; want %d and %d", st.Read, st.Matched, c.read, c.matched)
			}
			if len(sink.rows) != c.want || count.Load() != int64(c.want) {
				t.Errorf("rows %d, requests %d, want %d", len(sink.rows), count.Load(), c.want)
			}
			for _, r := range sink.rows {
				if !strings.HasPrefix(r.Path, c.prefix) {
					t.Errorf("path %s outside prefix %s", r.Path, c.prefix)
				}
			}
		})
	}
}
