package record

import (
	"io"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/parquetfile"
)

// Events are counted the same however the bytes are split into reads, and
// each takes the time of the read that brought its blank line.
func TestStreamTimingCountsEvents(t *testing.T) {
	cases := []struct {
		name   string
		reads  []string
		events int64
		times  []int64 // the read index, used as its time
	}{
		{"LF", []string{"data: a\n\n", "data: b\n\n"}, 2, []int64{1, 2}},
		{"CRLF split across reads", []string{"data: a\r", "\n\r", "\ndata: b\r\n\r\n"}, 2, []int64{2, 3}},
		{"CR", []string{"data: a\r\r: ping\r\r"}, 2, []int64{1, 1}},
		{"comments and leading blank lines", []string{"\n\n: ping\n\n", "data: x\nid: 1\n", "\n"}, 2, []int64{1, 3}},
		{"cut block", []string{"data: a\n\ndata: b\n"}, 1, []int64{1}},
		{"nothing", []string{""}, 0, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var tm StreamTiming
			tm.Start(true)
			defer tm.Reset()
			for i, r := range c.reads {
				if !tm.WantsClock() {
					t.Fatal("an event stream wants the clock at every read")
				}
				tm.Observe([]byte(r), time.Duration(i+1))
			}
			if tm.Events() != c.events || !slices.Equal(tm.EventNs(), c.times) {
				t.Errorf("%d events at %v, want %d at %v", tm.Events(), tm.EventNs(), c.events, c.times)
			}
		})
	}
	// Past MaxEventTimes, events are counted, not timed.
	var tm StreamTiming
	tm.Start(true)
	for i := range MaxEventTimes + 10 {
		tm.Observe([]byte("data: x\n\n"), time.Duration(i+1))
	}
	if tm.Events() != MaxEventTimes+10 || len(tm.EventNs()) != MaxEventTimes || tm.EventNs()[MaxEventTimes-1] != MaxEventTimes {
		t.Errorf("%d events, %d times", tm.Events(), len(tm.EventNs()))
	}
	tm.Reset()
	// Without events, only the first byte is noted, and the clock read once.
	tm.Start(false)
	tm.Observe([]byte("{"), 7)
	if tm.WantsClock() || tm.FirstByteNs() != 7 || tm.Events() != 0 || tm.EventNs() != nil {
		t.Errorf("first byte %d, events %d", tm.FirstByteNs(), tm.Events())
	}
	tm.Observe([]byte("}"), 9)
	if tm.FirstByteNs() != 7 {
		t.Errorf("first byte moved to %d", tm.FirstByteNs())
	}
}

// The hook allocates nothing per read.
func TestStreamTimingObserveAllocatesNothing(t *testing.T) {
	var tm StreamTiming
	tm.Start(true)
	defer tm.Reset()
	p := []byte("data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n")
	if n := testing.AllocsPerRun(100, func() { tm.Observe(p, time.Millisecond) }); n != 0 {
		t.Errorf("%v allocations per Observe", n)
	}
}

// A recorded event stream keeps its first byte and event times: the
// upstream waits for the test between events, so the events arrive in three
// reads, in order, after the gaps the upstream slept.
func TestProxyRecordsStreamTiming(t *testing.T) {
	const gap = 20 * time.Millisecond
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/json" {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"a":1}`))
			return
		}
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		for i, ev := range []string{": ping\n\n", "data: {\"n\":1}\n\n", "data: {\"n\":2}\n\ndata: [DONE]\n\n"} {
			if i > 0 {
				time.Sleep(gap)
			}
			w.Write([]byte(ev))
			w.(http.Flusher).Flush()
		}
	})
	rg := newRig(t, upstream, ProxyOptions{}, SinkOptions{})
	for _, path := range []string{"/stream", "/json"} {
		res, err := http.Get(rg.front.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	rows := rg.rows(2)
	var stream, plain Exchange
	for _, x := range rows {
		if x.Path == "/stream" {
			stream = x
		} else {
			plain = x
		}
	}
	ev := stream.ResponseEventNs
	if stream.ResponseEvents != 4 || len(ev) != 4 {
		t.Fatalf("%d events, times %v; want 4", stream.ResponseEvents, ev)
	}
	if !(0 < stream.ResponseFirstByteNs && stream.ResponseFirstByteNs <= ev[0] && slices.IsSorted(ev) && ev[3] <= stream.LatencyNs) {
		t.Errorf("first byte %d, events %v, latency %d: want 0 < first byte ≤ events in order ≤ latency",
			stream.ResponseFirstByteNs, ev, stream.LatencyNs)
	}
	// The upstream sends event i after i sleeps at the earliest (the last
	// two in one write): a bound on when each can arrive however the reads
	// are scheduled, where the gap between two arrivals is none (a late
	// read shortens the next one).
	if ev[1] < int64(gap) || ev[2] < 2*int64(gap) || ev[3] < ev[2] {
		t.Errorf("events at %v, want the second after %v and the third after %v", ev, gap, 2*gap)
	}
	if plain.ResponseFirstByteNs <= 0 || plain.ResponseFirstByteNs > plain.LatencyNs || plain.ResponseEvents != 0 || len(plain.ResponseEventNs) != 0 {
		t.Errorf("plain answer: first byte %d (latency %d), events %d %v", plain.ResponseFirstByteNs, plain.LatencyNs,
			plain.ResponseEvents, plain.ResponseEventNs)
	}
}

// exchangeV1 is the row of a shadowctl.recording/1 file, before the answer
// timing columns.
type exchangeV1 struct {
	ID                    string    `parquet:"id"`
	StartedAt             time.Time `parquet:"started_at,timestamp(nanosecond)"`
	Method                string    `parquet:"method,dict"`
	Host                  string    `parquet:"host,dict"`
	Path                  string    `parquet:"path"`
	RequestHeaders        []Header  `parquet:"request_headers,list"`
	RequestBody           []byte    `parquet:"request_body"`
	RequestBodyTruncated  bool      `parquet:"request_body_truncated"`
	RequestBodySize       int64     `parquet:"request_body_size"`
	Status                int32     `parquet:"status"`
	ResponseHeaders       []Header  `parquet:"response_headers,list"`
	ResponseBody          []byte    `parquet:"response_body"`
	ResponseBodyTruncated bool      `parquet:"response_body_truncated"`
	ResponseBodySize      int64     `parquet:"response_body_size"`
	LatencyNs             int64     `parquet:"latency_ns"`
	Error                 string    `parquet:"error"`
	Instance              string    `parquet:"instance,dict"`
}

// A recording/1 file still reads, its timing columns as 0 and empty.
func TestReaderReadsRecordingV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.parquet")
	w, err := parquetfile.Create[exchangeV1](path, "shadowctl.recording/1")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	old := exchangeV1{ID: NewID(at), StartedAt: at, Method: "POST", Host: "m", Path: "/v1/chat/completions",
		RequestBody: []byte(`{"stream":true}`), RequestBodySize: 15, Status: 200, ResponseBody: []byte("data: x\n\n"),
		ResponseBodySize: 9, LatencyNs: 5, Instance: "a"}
	if err := w.Write([]exchangeV1{old}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Open([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := readAll(t, r)
	want := Exchange{ID: old.ID, StartedAt: at, Method: "POST", Host: "m", Path: old.Path, RequestBody: old.RequestBody,
		RequestBodySize: 15, Status: 200, ResponseBody: old.ResponseBody, ResponseBodySize: 9, LatencyNs: 5, Instance: "a"}
	if len(got) != 1 || !reflect.DeepEqual(normalized(got[0]), want) {
		t.Errorf("read %+v\nwant %+v", got, want)
	}
}

// BenchmarkStreamTimingObserve is the hook's cost per read of a typical
// chat-completion chunk (one event of ~150 bytes).
func BenchmarkStreamTimingObserve(b *testing.B) {
	p := []byte(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1718000000,"model":"m","choices":[{"index":0,"delta":{"content":" word"},"finish_reason":null}]}` + "\n\n")
	var tm StreamTiming
	tm.Start(true)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%MaxEventTimes == 0 {
			tm.Reset()
			tm.Start(true)
		}
		tm.Observe(p, time.Duration(i))
	}
}
