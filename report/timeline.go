// The timeline: latency and errors per interval of sent_at, in bounded
// memory, so a plot can show whether a side failed all at once or steadily.

package report

import (
	"math"
	"slices"
	"time"

	"github.com/shadowctl/shadowctl/replay"
)

// maxIntervals bounds the intervals of a timeline: when the rows span more,
// the intervals widen and their counts merge.
const maxIntervals = 120

// intervalWidths are the widths a timeline may use, each a multiple of the
// one before, so an interval of one width lies inside one interval of every
// wider width (all aligned on the Unix epoch) and widening only adds counts
// up. Past the last, widths double.
var intervalWidths = []time.Duration{
	time.Millisecond, 2 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond,
	100 * time.Millisecond, 200 * time.Millisecond, time.Second, 2 * time.Second, 10 * time.Second,
	20 * time.Second, time.Minute, 2 * time.Minute, 10 * time.Minute, 20 * time.Minute, time.Hour,
	2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

func intervalWidth(level int) int64 {
	if level < len(intervalWidths) {
		return int64(intervalWidths[level])
	}
	return int64(intervalWidths[len(intervalWidths)-1]) << (level - len(intervalWidths) + 1)
}

// timeline counts rows per interval of sent_at. Its state is plain exported
// fields so that it round-trips through encoding/json (the mergeable report
// state); merge of two timelines equals the timeline of all their rows.
type timeline struct {
	// Level indexes the interval width (intervalWidth).
	Level int `json:"level"`
	// Intervals are keyed by sent_at (Unix ns) / width.
	Intervals map[int64]*interval `json:"intervals"`
}

// interval holds the recorded, candidate and baseline counts of one interval.
type interval struct {
	Sides [3]timeSide `json:"sides"`
}

// timeSide is one side in one interval: rows, failed rows and a coarse
// latency histogram (nanoseconds).
type timeSide struct {
	Rows    int64      `json:"rows"`
	Errors  int64      `json:"errors"`
	Latency coarseHist `json:"latency_ns"`
}

// add counts one row. The conditions on which a side's latency counts are
// those of Builder.Add, so an interval's counts add up to the report's.
func (t *timeline) add(r *replay.Result, recKind, candKind, baseKind string, hasBase bool) {
	if r.SentAt.IsZero() {
		return
	}
	if t.Intervals == nil {
		t.Intervals = map[int64]*interval{}
	}
	at := r.SentAt.UnixNano()
	key := at / intervalWidth(t.Level)
	iv := t.Intervals[key]
	if iv == nil {
		iv = &interval{}
		t.Intervals[key] = iv
		// Only a new interval can widen the span.
		defer t.fit()
	}
	rec, cand, base := &iv.Sides[0], &iv.Sides[1], &iv.Sides[2]
	rec.count(recKind)
	if r.RecordedStatus != 0 && r.RecordedError == "" {
		rec.Latency.add(float64(r.RecordedLatencyNs))
	}
	cand.count(candKind)
	if r.CandidateStatus != 0 {
		cand.Latency.add(float64(r.CandidateLatencyNs))
	}
	if hasBase {
		base.count(baseKind)
		if *r.BaselineStatus != 0 && r.BaselineLatencyNs != nil {
			base.Latency.add(float64(*r.BaselineLatencyNs))
		}
	}
}

func (s *timeSide) count(kind string) {
	s.Rows++
	if kind != "" {
		s.Errors++
	}
}

// fit widens the intervals until they number at most maxIntervals.
func (t *timeline) fit() {
	for t.span() > maxIntervals {
		t.widen(t.Level + 1)
	}
}

func (t *timeline) span() int64 {
	if len(t.Intervals) == 0 {
		return 0
	}
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for k := range t.Intervals {
		lo, hi = min(lo, k), max(hi, k)
	}
	return hi - lo + 1
}

// widen re-keys the intervals at a wider level, merging those that fall
// into one.
func (t *timeline) widen(level int) {
	if level <= t.Level {
		return
	}
	from, to := intervalWidth(t.Level), intervalWidth(level)
	out := make(map[int64]*interval, len(t.Intervals))
	for k, iv := range t.Intervals {
		nk := k * from / to
		if o := out[nk]; o != nil {
			o.merge(iv)
			continue
		}
		out[nk] = iv
	}
	t.Level, t.Intervals = level, out
}

// merge adds the counts of o (whose state may come from another process).
func (t *timeline) merge(o *timeline) {
	if len(o.Intervals) == 0 {
		return
	}
	if t.Intervals == nil {
		t.Intervals = map[int64]*interval{}
	}
	t.widen(o.Level)
	from, to := intervalWidth(o.Level), intervalWidth(t.Level)
	for k, iv := range o.Intervals {
		nk := k * from / to
		c := t.Intervals[nk]
		if c == nil {
			c = &interval{}
			t.Intervals[nk] = c
		}
		c.merge(iv)
	}
	t.fit()
}

func (iv *interval) merge(o *interval) {
	for i := range iv.Sides {
		a, b := &iv.Sides[i], &o.Sides[i]
		a.Rows += b.Rows
		a.Errors += b.Errors
		a.Latency.merge(&b.Latency)
	}
}

// TimePoint is one interval of sent_at [Start, End) in the report's
// timeline: what each side did with the rows sent then.
type TimePoint struct {
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Recorded  *TimeSide `json:"recorded"`
	Candidate *TimeSide `json:"candidate"`
	// Baseline is null for an interval with no baseline rows.
	Baseline *TimeSide `json:"baseline"`
}

// TimeSide is one side in one interval. Percentiles are within 1% of the
// exact nearest-rank value (a coarser histogram than the report's, as there
// is one per interval); null when no row of the side had an answer.
type TimeSide struct {
	Requests  int64    `json:"requests"`
	Errors    int64    `json:"errors"`
	ErrorRate *float64 `json:"error_rate"`
	P50       *float64 `json:"p50_ms"`
	P99       *float64 `json:"p99_ms"`
}

// points returns the intervals that have rows, in time order.
func (t *timeline) points() []TimePoint {
	keys := make([]int64, 0, len(t.Intervals))
	for k := range t.Intervals {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	w := intervalWidth(t.Level)
	out := make([]TimePoint, 0, len(keys))
	for _, k := range keys {
		iv := t.Intervals[k]
		p := TimePoint{Start: time.Unix(0, k*w).UTC(), End: time.Unix(0, (k+1)*w).UTC(),
			Recorded: iv.Sides[0].summary(), Candidate: iv.Sides[1].summary(), Baseline: iv.Sides[2].summary()}
		out = append(out, p)
	}
	return out
}

func (s *timeSide) summary() *TimeSide {
	if s.Rows == 0 {
		return nil
	}
	ts := &TimeSide{Requests: s.Rows, Errors: s.Errors, ErrorRate: num(float64(s.Errors) / float64(s.Rows))}
	if s.Latency.n() > 0 {
		ms := func(v float64) *float64 { return num(roundNs(v) / nsPerMs) }
		ts.P50, ts.P99 = ms(s.Latency.quantile(0.5)), ms(s.Latency.quantile(0.99))
	}
	return ts
}

// coarseRelErr is the relative error of a coarseHist's quantiles.
const coarseRelErr = 0.01

var coarseLogGamma = math.Log((1 + coarseRelErr) / (1 - coarseRelErr))

// coarseHist is a log-bucketed histogram of values >= 0 (as in DDSketch,
// with a 1% relative error): small enough to keep one per side and
// interval (about 115 counters per factor of 10 that the values span), and
// exact to merge. Counts[i] counts the values in bucket Off+i.
type coarseHist struct {
	N      int64   `json:"n"`
	Zero   int64   `json:"zero"`
	Off    int     `json:"off"`
	Counts []int64 `json:"counts"`
	// Min and Max are exact, and bound every answer.
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

func (h *coarseHist) n() int64 { return h.N }

func coarseIndex(v float64) int { return int(math.Ceil(math.Log(v) / coarseLogGamma)) }

func (h *coarseHist) add(v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	v = math.Max(v, 0)
	if h.N == 0 || v < h.Min {
		h.Min = v
	}
	if h.N == 0 || v > h.Max {
		h.Max = v
	}
	h.N++
	if v == 0 {
		h.Zero++
		return
	}
	h.addBucket(coarseIndex(v), 1)
}

// addBucket adds c to bucket i, growing the run of counters to reach it.
func (h *coarseHist) addBucket(i int, c int64) {
	if len(h.Counts) == 0 {
		h.Off, h.Counts = i, make([]int64, 1, 16)
	}
	if i < h.Off {
		grow := h.Off - i
		n := make([]int64, len(h.Counts)+grow, len(h.Counts)+grow+16)
		copy(n[grow:], h.Counts)
		h.Off, h.Counts = i, n
	}
	for i-h.Off >= len(h.Counts) {
		h.Counts = append(h.Counts, 0)
	}
	h.Counts[i-h.Off] += c
}

func (h *coarseHist) merge(o *coarseHist) {
	if o.N == 0 {
		return
	}
	if h.N == 0 {
		h.Min, h.Max = o.Min, o.Max
	} else {
		h.Min, h.Max = math.Min(h.Min, o.Min), math.Max(h.Max, o.Max)
	}
	h.N += o.N
	h.Zero += o.Zero
	for j, c := range o.Counts {
		if c > 0 {
			h.addBucket(o.Off+j, c)
		}
	}
}

// quantile is the nearest-rank q-quantile, within coarseRelErr.
func (h *coarseHist) quantile(q float64) float64 {
	if h.N == 0 {
		return math.NaN()
	}
	rank := max(1, min(int64(math.Ceil(q*float64(h.N))), h.N))
	if rank <= h.Zero {
		return 0
	}
	seen := h.Zero
	for j, c := range h.Counts {
		seen += c
		if seen >= rank {
			v := 2 * math.Exp(float64(h.Off+j)*coarseLogGamma) / (math.Exp(coarseLogGamma) + 1)
			return math.Max(h.Min, math.Min(h.Max, v))
		}
	}
	return h.Max
}
