package report

import (
	"encoding/json"
	"math"
	"slices"
)

// quantiles estimates the distribution of a stream of values. It is an
// interface so the estimator can change (exact, another sketch) without
// touching the aggregation.
type quantiles interface {
	Add(v float64)
	Merge(other quantiles)
	Count() int64
	Mean() float64
	Max() float64
	// Quantile is the nearest-rank q-quantile (0 < q <= 1): the value at rank
	// ceil(q*n) of the sorted stream.
	Quantile(q float64) float64
	// The JSON form is the estimator's state in a report state file.
	json.Marshaler
	json.Unmarshaler
}

// relErr is the relative error bound of the histogram's quantiles.
const relErr = 0.001

var (
	gamma    = (1 + relErr) / (1 - relErr)
	logGamma = math.Log(gamma)
)

// logHistogram is a log-bucketed histogram (as in DDSketch): bucket i holds
// values in (gamma^(i-1), gamma^i], and its representative value is within
// relErr of every value in it. Values may be negative (paired deltas): their
// magnitudes go to a second set of buckets. Memory grows with the spread of
// the values (about 1,150 buckets per factor of 10), not with their number.
type logHistogram struct {
	pos, neg      buckets
	zero          int64
	n             int64
	sum, min, max float64
}

func newHistogram() *logHistogram { return &logHistogram{} }

// buckets is a dense run of counters starting at index off.
type buckets struct {
	off    int
	counts []uint32
	// big holds counters that overflowed uint32 (never in practice, but a
	// count must not wrap).
	big map[int]uint64
}

func (b *buckets) add(i int) { b.addN(i, 1) }

func (b *buckets) addN(i int, c uint64) {
	if len(b.counts) == 0 {
		b.off = i
		b.counts = make([]uint32, 1, 64)
	}
	if i < b.off {
		grow := b.off - i
		n := make([]uint32, len(b.counts)+grow, len(b.counts)+grow+64)
		copy(n[grow:], b.counts)
		b.counts, b.off = n, i
	}
	for i-b.off >= len(b.counts) {
		b.counts = append(b.counts, 0)
	}
	j := i - b.off
	if sum := uint64(b.counts[j]) + c; sum <= math.MaxUint32 {
		b.counts[j] = uint32(sum)
		return
	}
	if b.big == nil {
		b.big = map[int]uint64{}
	}
	b.big[i] += uint64(b.counts[j]) + c
	b.counts[j] = 0
}

func (b *buckets) count(j int) uint64 {
	c := uint64(b.counts[j])
	if b.big != nil {
		c += b.big[j+b.off]
	}
	return c
}

func (b *buckets) merge(o *buckets) {
	for j := range o.counts {
		if c := o.count(j); c > 0 {
			b.addN(j+o.off, c)
		}
	}
}

func index(v float64) int { return int(math.Ceil(math.Log(v) / logGamma)) }

func value(i int) float64 { return 2 * math.Pow(gamma, float64(i)) / (gamma + 1) }

func (h *logHistogram) Add(v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	switch {
	case v > 0:
		h.pos.add(index(v))
	case v < 0:
		h.neg.add(index(-v))
	default:
		h.zero++
	}
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if h.n == 0 || v > h.max {
		h.max = v
	}
	h.n++
	h.sum += v
}

func (h *logHistogram) Merge(o *logHistogram) {
	if o.n == 0 {
		return
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if h.n == 0 || o.max > h.max {
		h.max = o.max
	}
	h.pos.merge(&o.pos)
	h.neg.merge(&o.neg)
	h.zero += o.zero
	h.n += o.n
	h.sum += o.sum
}

func (h *logHistogram) Count() int64 { return h.n }

func (h *logHistogram) Mean() float64 {
	if h.n == 0 {
		return math.NaN()
	}
	return h.sum / float64(h.n)
}

func (h *logHistogram) Max() float64 {
	if h.n == 0 {
		return math.NaN()
	}
	return h.max
}

func (h *logHistogram) Quantile(q float64) float64 {
	if h.n == 0 {
		return math.NaN()
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(1, min(rank, uint64(h.n)))
	v := h.rankValue(rank)
	// The extremes are known exactly; never answer outside them.
	return math.Max(h.min, math.Min(h.max, v))
}

// rankValue walks the sorted order: negatives from the most negative, then
// zeros, then positives.
func (h *logHistogram) rankValue(rank uint64) float64 {
	var seen uint64
	for j := len(h.neg.counts) - 1; j >= 0; j-- {
		seen += h.neg.count(j)
		if seen >= rank {
			return -value(j + h.neg.off)
		}
	}
	seen += uint64(h.zero)
	if seen >= rank {
		return 0
	}
	for j := range h.pos.counts {
		seen += h.pos.count(j)
		if seen >= rank {
			return value(j + h.pos.off)
		}
	}
	return h.max
}

// LatencySummary is the latency distribution of one side, in milliseconds.
// Percentiles are within 0.1% of the exact nearest-rank value; max and mean
// are exact. Null when Count is 0.
type LatencySummary struct {
	Count int64    `json:"count"`
	Mean  *float64 `json:"mean" gate:"nonneg"`
	P50   *float64 `json:"p50" gate:"nonneg"`
	P90   *float64 `json:"p90" gate:"nonneg"`
	P95   *float64 `json:"p95" gate:"nonneg"`
	P99   *float64 `json:"p99" gate:"nonneg"`
	P999  *float64 `json:"p999" gate:"nonneg"`
	Max   *float64 `json:"max" gate:"nonneg"`
}

// percentiles lists the quantiles of a LatencySummary, in order.
var percentiles = []struct {
	name string
	q    float64
}{{"p50", 0.50}, {"p90", 0.90}, {"p95", 0.95}, {"p99", 0.99}, {"p999", 0.999}}

const nsPerMs = 1e6

func summarize(h quantiles) *LatencySummary {
	if h == nil || h.Count() == 0 {
		return nil
	}
	ms := func(v float64) *float64 { return num(roundNs(v) / nsPerMs) }
	return &LatencySummary{
		Count: h.Count(),
		Mean:  ms(h.Mean()),
		P50:   ms(h.Quantile(0.50)),
		P90:   ms(h.Quantile(0.90)),
		P95:   ms(h.Quantile(0.95)),
		P99:   ms(h.Quantile(0.99)),
		P999:  ms(h.Quantile(0.999)),
		Max:   ms(h.Max()),
	}
}

// roundNs rounds a nanosecond value to a whole nanosecond, so reports carry
// no false precision and render the same everywhere.
func roundNs(v float64) float64 { return math.Round(v) }

// LatencyRatio is candidate / reference for each percentile.
type LatencyRatio struct {
	// Against is "baseline", or "recorded" when the run had no baseline.
	Against string `json:"against"`
	// Note explains a ratio against the recorded side.
	Note string   `json:"note,omitempty"`
	P50  *float64 `json:"p50" gate:"nonneg"`
	P90  *float64 `json:"p90" gate:"nonneg"`
	P95  *float64 `json:"p95" gate:"nonneg"`
	P99  *float64 `json:"p99" gate:"nonneg"`
	P999 *float64 `json:"p999" gate:"nonneg"`
}

func ratio(cand, ref *LatencySummary, against string) *LatencyRatio {
	if cand == nil || ref == nil {
		return nil
	}
	div := func(a, b *float64) *float64 {
		if a == nil || b == nil || *b == 0 {
			return nil
		}
		return num(*a / *b)
	}
	r := &LatencyRatio{Against: against,
		P50: div(cand.P50, ref.P50), P90: div(cand.P90, ref.P90), P95: div(cand.P95, ref.P95),
		P99: div(cand.P99, ref.P99), P999: div(cand.P999, ref.P999)}
	if against == "recorded" {
		r.Note = "no baseline: candidate is compared with production's recorded latency, measured in another environment"
	}
	return r
}

// LatencyDelta is the distribution of the paired difference candidate −
// baseline per request, in milliseconds; negative means the candidate was
// faster.
type LatencyDelta struct {
	Count int64    `json:"count"`
	Mean  *float64 `json:"mean"`
	P50   *float64 `json:"p50"`
	P90   *float64 `json:"p90"`
	P99   *float64 `json:"p99"`
}

func delta(h quantiles) *LatencyDelta {
	if h == nil || h.Count() == 0 {
		return nil
	}
	ms := func(v float64) *float64 { return num(roundNs(v) / nsPerMs) }
	return &LatencyDelta{Count: h.Count(), Mean: ms(h.Mean()), P50: ms(h.Quantile(0.5)),
		P90: ms(h.Quantile(0.9)), P99: ms(h.Quantile(0.99))}
}

// exactLimit is how many values a hybrid keeps before it switches to a
// histogram: small runs (and every test) get exact percentiles, large ones
// bounded memory.
const exactLimit = 2048

// hybrid is exact up to exactLimit values, then a logHistogram.
type hybrid struct {
	exact  []float64
	sorted bool
	sum    float64
	h      *logHistogram
}

func newQuantiles() quantiles { return &hybrid{} }

func (e *hybrid) Add(v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	if e.h != nil {
		e.h.Add(v)
		return
	}
	if len(e.exact) == exactLimit {
		e.spill()
		e.h.Add(v)
		return
	}
	e.exact = append(e.exact, v)
	e.sum += v
	e.sorted = false
}

func (e *hybrid) spill() {
	e.h = newHistogram()
	for _, x := range e.exact {
		e.h.Add(x)
	}
	e.exact, e.sum = nil, 0
}

func (e *hybrid) Merge(other quantiles) {
	o := other.(*hybrid)
	if o.h == nil {
		for _, v := range o.exact {
			e.Add(v)
		}
		return
	}
	if e.h == nil {
		e.spill()
	}
	e.h.Merge(o.h)
}

func (e *hybrid) Count() int64 {
	if e.h != nil {
		return e.h.Count()
	}
	return int64(len(e.exact))
}

func (e *hybrid) Mean() float64 {
	if e.h != nil {
		return e.h.Mean()
	}
	if len(e.exact) == 0 {
		return math.NaN()
	}
	return e.sum / float64(len(e.exact))
}

func (e *hybrid) Max() float64 {
	if e.h != nil {
		return e.h.Max()
	}
	if len(e.exact) == 0 {
		return math.NaN()
	}
	e.sort()
	return e.exact[len(e.exact)-1]
}

func (e *hybrid) Quantile(q float64) float64 {
	if e.h != nil {
		return e.h.Quantile(q)
	}
	n := len(e.exact)
	if n == 0 {
		return math.NaN()
	}
	e.sort()
	rank := int(math.Ceil(q * float64(n)))
	return e.exact[max(1, min(rank, n))-1]
}

func (e *hybrid) sort() {
	if !e.sorted {
		slices.Sort(e.exact)
		e.sorted = true
	}
}
