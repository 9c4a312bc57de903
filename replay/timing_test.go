package replay

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/parquetfile"
)

// Each side's answer is timed as it arrives: the target sleeps known gaps
// between events, the baseline answers plain JSON; the recorded timing is
// copied from the recording.
func TestReplayTimesAnswers(t *testing.T) {
	const gap = 15 * time.Millisecond
	stream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i, ev := range []string{"data: {\"n\":1}\n\n", ": ping\r\n\r\n", "data: {\"n\":2}\n\n", "data: [DONE]\n\n"} {
			if i > 0 {
				time.Sleep(gap)
			}
			w.Write([]byte(ev))
			w.(http.Flusher).Flush()
		}
	}))
	defer stream.Close()
	plain := httptest.NewServer(http.HandlerFunc(okHandler))
	defer plain.Close()
	xs := exchanges(2, "/v1/chat/completions")
	xs[0].ResponseFirstByteNs, xs[0].ResponseEvents, xs[0].ResponseEventNs = 5, 2, []int64{7, 9}
	sink := &memWriter{}
	if _, err := Run(context.Background(), Options{Target: mustURL(t, stream.URL), Baseline: mustURL(t, plain.URL),
		Concurrency: 1}, &sliceSource{xs: xs}, sink); err != nil {
		t.Fatal(err)
	}
	rows := sink.byID()
	r := rows[xs[0].ID]
	if r.RecordedFirstByteNs != 5 || r.RecordedEvents != 2 || !slices.Equal(r.RecordedEventNs, []int64{7, 9}) {
		t.Errorf("recorded timing %d %d %v", r.RecordedFirstByteNs, r.RecordedEvents, r.RecordedEventNs)
	}
	for _, r := range rows {
		ev := r.CandidateEventNs
		if r.CandidateEvents != 4 || len(ev) != 4 || !slices.IsSorted(ev) {
			t.Fatalf("candidate %d events at %v, want 4 in order", r.CandidateEvents, ev)
		}
		if r.CandidateFirstByteNs <= 0 || r.CandidateFirstByteNs > ev[0] || ev[3] > r.CandidateLatencyNs {
			t.Errorf("first byte %d, events %v, latency %d", r.CandidateFirstByteNs, ev, r.CandidateLatencyNs)
		}
		// The target sends event i after i sleeps at the earliest: a bound
		// on when it can arrive however the reads are scheduled (the gap
		// between two arrivals is none: a late read shortens the next one).
		for i := 1; i < 4; i++ {
			if ev[i] < int64(i)*int64(gap) {
				t.Errorf("event %d at %v, before the target's %d sleeps of %v could have passed", i, time.Duration(ev[i]), i, gap)
			}
		}
		if r.BaselineFirstByteNs == nil || *r.BaselineFirstByteNs <= 0 || *r.BaselineFirstByteNs > *r.BaselineLatencyNs ||
			*r.BaselineEvents != 0 || len(r.BaselineEventNs) != 0 {
			t.Errorf("baseline timing %v %v %v", r.BaselineFirstByteNs, r.BaselineEvents, r.BaselineEventNs)
		}
	}
}

// resultV1 is in result_v1_test.go.

// A results/1 file still reads: the timing columns read as 0, empty and
// null.
func TestOpenResultsReadsV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.parquet")
	w, err := parquetfile.Create[resultV1](path, "shadowctl.results/1")
	if err != nil {
		t.Fatal(err)
	}
	st := int32(200)
	old := resultV1{ID: "a", Method: "POST", Path: "/p", RecordedStatus: 200, RecordedBody: []byte("x"), RecordedLatencyNs: 3,
		CandidateStatus: 200, CandidateBody: []byte("y"), CandidateLatencyNs: 4, BaselineStatus: &st, BaselineBody: []byte("z")}
	if err := w.Write([]resultV1{old}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := OpenResults(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	want := Result{ID: "a", Method: "POST", Path: "/p", RecordedStatus: 200, RecordedBody: []byte("x"), RecordedLatencyNs: 3,
		CandidateStatus: 200, CandidateBody: []byte("y"), CandidateLatencyNs: 4, BaselineStatus: &st, BaselineBody: []byte("z")}
	got.SentAt, got.RecordedStartedAt = want.SentAt, want.RecordedStartedAt
	if len(got.RequestBody) == 0 {
		got.RequestBody = nil
	}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("read %+v\nwant %+v", *got, want)
	}
}

// The timing columns round-trip through a results file, empty lists too.
func TestResultsKeepTiming(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.parquet")
	w, err := CreateResults(path)
	if err != nil {
		t.Fatal(err)
	}
	fb, n := int64(9), int64(2)
	rows := []Result{
		{ID: "a", RecordedFirstByteNs: 1, RecordedEvents: 3, RecordedEventNs: []int64{2, 3, 4}, CandidateFirstByteNs: 5,
			CandidateEvents: 2, CandidateEventNs: []int64{6, 7}},
		{ID: "b", CandidateFirstByteNs: 8, BaselineStatus: ptrTo(int32(200)), BaselineFirstByteNs: &fb, BaselineEvents: &n,
			BaselineEventNs: []int64{10, 11}},
		{ID: "c"},
	}
	if err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := OpenResults(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := range rows {
		got, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		want := rows[i]
		if got.RecordedFirstByteNs != want.RecordedFirstByteNs || got.RecordedEvents != want.RecordedEvents ||
			!slices.Equal(got.RecordedEventNs, want.RecordedEventNs) || got.CandidateFirstByteNs != want.CandidateFirstByteNs ||
			!slices.Equal(got.CandidateEventNs, want.CandidateEventNs) || !slices.Equal(got.BaselineEventNs, want.BaselineEventNs) ||
			!reflect.DeepEqual(got.BaselineFirstByteNs, want.BaselineFirstByteNs) || !reflect.DeepEqual(got.BaselineEvents, want.BaselineEvents) {
			t.Errorf("row %d = %+v\nwant %+v", i, *got, want)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }
