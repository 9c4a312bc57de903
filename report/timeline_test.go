package report

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/replay"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC)

// timedRows are n fixture-like rows sent one every step from t0: every
// tenth candidate answer a 503, latencies 10..19 ms recorded and 20..29 ms
// candidate, baseline on even rows.
func timedRows(n int, step time.Duration) []replay.Result {
	rows := make([]replay.Result, n)
	for i := range rows {
		r := replay.Result{ID: "r", Method: "POST", Path: "/p", SentAt: t0.Add(time.Duration(i) * step),
			RecordedStatus: 200, RecordedBody: []byte(`{"predictions":[1]}`), RecordedLatencyNs: int64(10+i%10) * ms,
			CandidateStatus: 200, CandidateBody: []byte(`{"predictions":[1]}`), CandidateLatencyNs: int64(20+i%10) * ms}
		if i%10 == 9 {
			r.CandidateStatus, r.CandidateBody = 503, []byte("busy")
		}
		if i%2 == 0 {
			r.BaselineStatus, r.BaselineBody, r.BaselineLatencyNs = ptr(int32(200)), r.RecordedBody, ptr(int64(15*ms))
		}
		rows[i] = r
	}
	return rows
}

func TestTimelineByHand(t *testing.T) {
	// 30 rows, one every 100 ms, span 2.9 s: 100 ms is the finest width of
	// the ladder that makes at most 120 intervals (30; 20 ms makes 146).
	r := buildRows(t, Options{}, timedRows(30, 100*time.Millisecond))
	if len(r.Timeline) != 30 {
		t.Fatalf("%d intervals, want 30", len(r.Timeline))
	}
	p := r.Timeline[9] // row 9: the first 503
	if !p.Start.Equal(t0.Add(900*time.Millisecond)) || p.End.Sub(p.Start) != 100*time.Millisecond {
		t.Errorf("interval %v..%v", p.Start, p.End)
	}
	if c := p.Candidate; c.Requests != 1 || c.Errors != 1 || f(c.ErrorRate) != 1 || f(c.P50) != 29 {
		t.Errorf("candidate %+v", c)
	}
	if p.Baseline != nil {
		t.Errorf("odd row has a baseline: %+v", p.Baseline)
	}
	if b := r.Timeline[8].Baseline; b == nil || f(b.P99) != 15 {
		t.Errorf("baseline of row 8: %+v", b)
	}

	// 1000 rows one every 10 ms span 9.99 s: 100 ms makes 100 intervals
	// (20 ms 500). Each holds 10 rows: recorded latencies 10..19 ms, nine
	// candidate answers and one 503.
	r = buildRows(t, Options{}, timedRows(1000, 10*time.Millisecond))
	if len(r.Timeline) != 100 {
		t.Fatalf("%d intervals, want 100", len(r.Timeline))
	}
	var rows, errs, lat int64
	for _, p := range r.Timeline {
		if p.End.Sub(p.Start) != 100*time.Millisecond {
			t.Fatalf("width %v", p.End.Sub(p.Start))
		}
		rows += p.Candidate.Requests
		errs += p.Candidate.Errors
		// p50 of 10..19 is the 5th = 14 ms, p99 the 10th = 19 ms, within 1%.
		if !near(f(p.Recorded.P50), 14, 0.14) || !near(f(p.Recorded.P99), 19, 0.19) || f(p.Candidate.ErrorRate) != 0.1 {
			t.Fatalf("interval %v: recorded %+v candidate %+v", p.Start, p.Recorded, p.Candidate)
		}
		lat += p.Recorded.Requests
	}
	if rows != r.Errors.Candidate.Of || errs != r.Errors.Candidate.Count || lat != r.Latency.Recorded.Count {
		t.Errorf("intervals add up to %d rows %d errors %d latencies; the report has %+v", rows, errs, lat, r.Errors.Candidate)
	}
}

// TestTimelineMerge: two halves aggregated apart (one through JSON, as a
// shard's state would travel) and merged equal the whole, including when
// the halves chose different widths.
func TestTimelineMerge(t *testing.T) {
	rows := timedRows(5000, 7*time.Millisecond)
	agg := func(rs []replay.Result) *timeline {
		var tl timeline
		for i := range rs {
			r := &rs[i]
			base := ""
			if r.HasBaseline() {
				base = baselineKind(r)
			}
			tl.add(r, recordedKind(r), candidateKind(r), base, r.HasBaseline())
		}
		return &tl
	}
	whole := agg(rows)
	for _, cut := range []int{0, 1, 300, 2500, 4999} {
		a, b := agg(rows[:cut]), agg(rows[cut:])
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		var b2 timeline
		if err := json.Unmarshal(data, &b2); err != nil {
			t.Fatal(err)
		}
		a.merge(&b2)
		if a.Level != whole.Level || !reflect.DeepEqual(a.points(), whole.points()) {
			t.Errorf("cut %d: merged level %d, whole %d; points equal: %v", cut, a.Level, whole.Level,
				reflect.DeepEqual(a.points(), whole.points()))
		}
	}
}

func TestCoarseHist(t *testing.T) {
	var h coarseHist
	for v := 1; v <= 1000; v++ {
		h.add(float64(v))
	}
	h.add(0)
	for _, c := range []struct{ q, want float64 }{{0, 0}, {0.5, 500}, {0.99, 990}, {1, 1000}} {
		got := h.quantile(c.q)
		if math.Abs(got-c.want) > c.want*coarseRelErr {
			t.Errorf("q %v = %v, want %v within 1%%", c.q, got, c.want)
		}
	}
}

// TestCurve: the curve's points are the summaries' percentiles where the
// quantiles meet, and the minimum at p0.
func TestCurve(t *testing.T) {
	r := fixtureReport(t, Options{})
	c := r.LatencyCurve
	at := func(side []float64, q float64) float64 {
		for i, x := range c.Quantiles {
			if x == q {
				return side[i]
			}
		}
		t.Fatalf("no quantile %v in %v", q, c.Quantiles)
		return 0
	}
	if len(c.Quantiles) != 41 || c.Quantiles[0] != 0 || c.Quantiles[40] != 0.9999 {
		t.Fatalf("quantiles %v", c.Quantiles)
	}
	// Recorded latencies 1 10 20 30 40 50 60 70 (r06 answered 503 in 1 ms).
	if at(c.Recorded, 0) != 1 || at(c.Recorded, 0.9) != f(r.Latency.Recorded.P90) || at(c.Recorded, 0.99) != 70 {
		t.Errorf("recorded curve %v", c.Recorded)
	}
	// The paired deltas' summary has p90 and p99 (not p50: the curve has
	// 0.499, not 0.5).
	if at(c.Delta, 0.9) != f(r.Latency.Delta.P90) || at(c.Delta, 0.99) != f(r.Latency.Delta.P99) {
		t.Errorf("delta curve %v, summary %+v", c.Delta, r.Latency.Delta)
	}
	if at(c.Candidate, 0.99) != f(r.Latency.Candidate.P99) || at(c.Baseline, 0.9) != f(r.Latency.Baseline.P90) {
		t.Errorf("candidate %v baseline %v", c.Candidate, c.Baseline)
	}
}

// BenchmarkTimelineAdd is the timeline's cost per results row (rows spread
// over 17 minutes, with a baseline), to weigh against the whole row's.
func BenchmarkTimelineAdd(b *testing.B) {
	rows := timedRows(1<<16, time.Millisecond)
	var tl timeline
	i := 0
	for b.Loop() {
		r := &rows[i%len(rows)]
		tl.add(r, "", candidateKind(r), "", r.HasBaseline())
		i++
	}
}
