// The JSON forms of the Builder's aggregators in a report state, each
// checked when read.

package report

import (
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// jfloat is a float64 whose JSON form also carries NaN and ±Inf (as the
// strings "NaN", "+Inf" and "-Inf"): the severity of a failed answer is
// +Inf, and sums of huge numbers may overflow.
type jfloat float64

func (f jfloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

func (f *jfloat) UnmarshalJSON(data []byte) error {
	var s string
	if json.Unmarshal(data, &s) == nil {
		switch s {
		case "NaN":
			*f = jfloat(math.NaN())
		case "+Inf":
			*f = jfloat(math.Inf(1))
		case "-Inf":
			*f = jfloat(math.Inf(-1))
		default:
			return fmt.Errorf("bad number %q", s)
		}
		return nil
	}
	v, err := strconv.ParseFloat(string(data), 64)
	if err != nil {
		return fmt.Errorf("bad number %s", data)
	}
	*f = jfloat(v)
	return nil
}

func jf(p *float64) *jfloat { return (*jfloat)(p) }

// errNegative is the error of a count below zero.
var errNegative = errors.New("negative count")

func nonNegative(vs ...int64) error {
	for _, v := range vs {
		if v < 0 {
			return errNegative
		}
	}
	return nil
}

// tally is [compared, agreed].
func (t tally) MarshalJSON() ([]byte, error) { return json.Marshal([2]int64{t.compared, t.agreed}) }

func (t *tally) UnmarshalJSON(data []byte) error {
	var v [2]int64
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	if err := nonNegative(v[:]...); err != nil || v[1] > v[0] {
		return fmt.Errorf("bad tally %v", v)
	}
	t.compared, t.agreed = v[0], v[1]
	return nil
}

type errTallyJSON struct {
	N      *int64           `json:"n"`
	Count  *int64           `json:"count"`
	ByKind map[string]int64 `json:"by_kind"`
}

func (e *errTally) MarshalJSON() ([]byte, error) {
	return json.Marshal(errTallyJSON{N: &e.n, Count: &e.count, ByKind: e.byKind})
}

func (e *errTally) UnmarshalJSON(data []byte) error {
	j := errTallyJSON{N: &e.n, Count: &e.count}
	if err := strictJSON(data, &j); err != nil {
		return err
	}
	var sum int64
	for _, v := range j.ByKind {
		if v <= 0 {
			return errNegative
		}
		sum += v
	}
	if err := nonNegative(e.n, e.count); err != nil || e.count > e.n || sum != e.count {
		return fmt.Errorf("errors: %d of %d, by kind %v", e.count, e.n, j.ByKind)
	}
	e.byKind = j.ByKind
	if len(e.byKind) == 0 {
		e.byKind = nil
	}
	return nil
}

// coreJSON points at the fields of a core, so that one struct serves both
// directions.
type coreJSON struct {
	Exchanges     *int64       `json:"exchanges"`
	WithBaseline  *int64       `json:"with_baseline"`
	NotCompared   *NotCompared `json:"not_compared"`
	Requests      *tally       `json:"requests"`
	Instances     *tally       `json:"instances"`
	BaseRequests  *tally       `json:"baseline_requests"`
	BaseInstances *tally       `json:"baseline_instances"`
	LatRecorded   quantiles    `json:"latency_recorded_ns"`
	LatCandidate  quantiles    `json:"latency_candidate_ns"`
	LatBaseline   quantiles    `json:"latency_baseline_ns"`
	LatDelta      quantiles    `json:"latency_delta_ns"`
	ErrRecorded   *errTally    `json:"errors_recorded"`
	ErrCandidate  *errTally    `json:"errors_candidate"`
	ErrBaseline   *errTally    `json:"errors_baseline"`
	// Streamed answers' time to first token and inter-token gaps.
	TTFTRecorded  quantiles `json:"ttft_recorded_ns"`
	TTFTCandidate quantiles `json:"ttft_candidate_ns"`
	TTFTBaseline  quantiles `json:"ttft_baseline_ns"`
	TTFTDelta     quantiles `json:"ttft_delta_ns"`
	ITLRecorded   quantiles `json:"itl_recorded_ns"`
	ITLCandidate  quantiles `json:"itl_candidate_ns"`
	ITLBaseline   quantiles `json:"itl_baseline_ns"`
	// Preds: a group's predictions per instance (null in the whole).
	Preds **slicePreds `json:"preds"`
}

func (c *core) fields() *coreJSON {
	return &coreJSON{&c.exchanges, &c.withBaseline, &c.notCompared, &c.req, &c.inst, &c.baseReq, &c.baseInst,
		c.latRec, c.latCand, c.latBase, c.delta, &c.errRec, &c.errCand, &c.errBase,
		c.stream.ttftRec, c.stream.ttftCand, c.stream.ttftBase, c.stream.ttftDelta,
		c.stream.itlRec, c.stream.itlCand, c.stream.itlBase, &c.preds}
}

func (c *core) MarshalJSON() ([]byte, error) { return json.Marshal(c.fields()) }

func (c *core) UnmarshalJSON(data []byte) error {
	*c = newCore()
	j := c.fields()
	if err := strictJSON(data, j); err != nil {
		return err
	}
	for _, q := range []quantiles{j.LatRecorded, j.LatCandidate, j.LatBaseline, j.LatDelta, j.TTFTRecorded,
		j.TTFTCandidate, j.TTFTBaseline, j.TTFTDelta, j.ITLRecorded, j.ITLCandidate, j.ITLBaseline} {
		if q == nil {
			return errors.New("a latency histogram is null")
		}
	}
	if c.preds != nil {
		if err := c.preds.check(); err != nil {
			return err
		}
	}
	nc := c.notCompared
	if err := nonNegative(c.exchanges, c.withBaseline, nc.RecordedFailed, nc.RecordedTruncated); err != nil ||
		c.withBaseline > c.exchanges || c.req.compared+nc.RecordedFailed+nc.RecordedTruncated != c.exchanges ||
		c.errRec.n != c.exchanges || c.errCand.n != c.exchanges || c.errBase.n != c.withBaseline {
		return fmt.Errorf("counts do not add up (%d exchanges)", c.exchanges)
	}
	return nil
}

// hybridJSON holds either the exact values or the histogram.
type hybridJSON struct {
	Exact     []float64      `json:"exact,omitempty"`
	Histogram *histogramJSON `json:"histogram,omitempty"`
}

type histogramJSON struct {
	N    int64       `json:"n"`
	Sum  float64     `json:"sum"`
	Min  float64     `json:"min"`
	Max  float64     `json:"max"`
	Zero int64       `json:"zero"`
	Pos  bucketsJSON `json:"pos"`
	Neg  bucketsJSON `json:"neg"`
}

// bucketsJSON is a dense run of counts from bucket Offset on: latencies
// fill most buckets between their extremes, so a list beats pairs.
type bucketsJSON struct {
	Offset int      `json:"offset"`
	Counts []uint64 `json:"counts"`
}

// maxBucketIndex bounds the bucket indexes of a state: float64 magnitudes
// span about ±355,000 buckets of relative error 0.001.
const maxBucketIndex = 400_000

func (e *hybrid) MarshalJSON() ([]byte, error) {
	if e.h == nil {
		return json.Marshal(hybridJSON{Exact: append([]float64{}, e.exact...)})
	}
	h := e.h
	bj := func(b *buckets) bucketsJSON {
		out := bucketsJSON{Offset: b.off, Counts: make([]uint64, len(b.counts))}
		for j := range b.counts {
			out.Counts[j] = b.count(j)
		}
		return out
	}
	return json.Marshal(hybridJSON{Histogram: &histogramJSON{N: h.n, Sum: h.sum, Min: h.min, Max: h.max,
		Zero: h.zero, Pos: bj(&h.pos), Neg: bj(&h.neg)}})
}

func (e *hybrid) UnmarshalJSON(data []byte) error {
	var j hybridJSON
	if err := strictJSON(data, &j); err != nil {
		return err
	}
	*e = hybrid{}
	if j.Histogram == nil {
		if len(j.Exact) > exactLimit {
			return fmt.Errorf("%d exact values, more than %d", len(j.Exact), exactLimit)
		}
		for _, v := range j.Exact {
			e.Add(v)
		}
		return nil
	}
	if len(j.Exact) > 0 {
		return errors.New("both exact values and a histogram")
	}
	hj := j.Histogram
	h := newHistogram()
	for _, b := range []struct {
		from *bucketsJSON
		to   *buckets
	}{{&hj.Pos, &h.pos}, {&hj.Neg, &h.neg}} {
		if b.from.Offset < -maxBucketIndex || b.from.Offset+len(b.from.Counts) > maxBucketIndex {
			return fmt.Errorf("bucket offset %d out of range", b.from.Offset)
		}
		for k, c := range b.from.Counts {
			if c > 0 {
				b.to.addN(b.from.Offset+k, c)
			}
		}
	}
	var total uint64
	for _, b := range []*buckets{&h.pos, &h.neg} {
		for k := range b.counts {
			total += b.count(k)
		}
	}
	if hj.N <= 0 || hj.Zero < 0 || total+uint64(hj.Zero) != uint64(hj.N) || hj.Min > hj.Max ||
		math.IsNaN(hj.Sum) || math.IsInf(hj.Sum, 0) || math.IsNaN(hj.Min) || math.IsNaN(hj.Max) {
		return fmt.Errorf("histogram counts do not add up to %d", hj.N)
	}
	h.n, h.sum, h.min, h.max, h.zero = hj.N, hj.Sum, hj.Min, hj.Max, hj.Zero
	e.h = h
	return nil
}

// labelStats: names in the order first seen, pairs as [recorded id,
// candidate id, count] sorted by ids.
type labelsJSON struct {
	Names []string   `json:"names"`
	Pairs [][3]int64 `json:"pairs"`
	N     int64      `json:"n"`
}

func (s *labelStats) MarshalJSON() ([]byte, error) {
	j := labelsJSON{Names: append([]string{}, s.names...), Pairs: make([][3]int64, 0, len(s.pairs)), N: s.n}
	for p, c := range s.pairs {
		j.Pairs = append(j.Pairs, [3]int64{int64(p[0]), int64(p[1]), c})
	}
	slices.SortFunc(j.Pairs, func(a, b [3]int64) int {
		if a[0] != b[0] {
			return cmpInt(a[0], b[0])
		}
		return cmpInt(a[1], b[1])
	})
	return json.Marshal(j)
}

func (s *labelStats) UnmarshalJSON(data []byte) error {
	var j labelsJSON
	if err := strictJSON(data, &j); err != nil {
		return err
	}
	if len(j.Names) > maxLabels+1 {
		return fmt.Errorf("%d labels, more than %d", len(j.Names), maxLabels+1)
	}
	*s = *newLabelStats()
	for i, name := range j.Names {
		if _, dup := s.ids[name]; dup {
			return fmt.Errorf("label %q twice", name)
		}
		s.ids[name] = i
	}
	s.names = j.Names
	var sum int64
	for _, p := range j.Pairs {
		k := [2]int{int(p[0]), int(p[1])}
		if p[0] < 0 || p[1] < 0 || p[0] >= int64(len(s.names)) || p[1] >= int64(len(s.names)) || p[2] <= 0 || s.pairs[k] != 0 {
			return fmt.Errorf("bad label pair %v", p)
		}
		s.pairs[k] = p[2]
		sum += p[2]
	}
	if sum != j.N {
		return fmt.Errorf("label pairs add up to %d, not %d", sum, j.N)
	}
	s.n = j.N
	return nil
}

type numericJSON struct {
	N         *int64  `json:"n"`
	NonFinite *int64  `json:"non_finite"`
	Within    *int64  `json:"within"`
	SumAbs    *jfloat `json:"sum_abs"`
	SumSq     *jfloat `json:"sum_sq"`
	Max       *jfloat `json:"max"`
	MeanA     *jfloat `json:"mean_recorded"`
	MeanB     *jfloat `json:"mean_side"`
	M2A       *jfloat `json:"m2_recorded"`
	M2B       *jfloat `json:"m2_side"`
	CAB       *jfloat `json:"co_moment"`
}

func (s *numericStats) fields() *numericJSON {
	return &numericJSON{&s.n, &s.nonFinite, &s.within, jf(&s.sumAbs), jf(&s.sumSq), jf(&s.max),
		jf(&s.meanA), jf(&s.meanB), jf(&s.m2A), jf(&s.m2B), jf(&s.cAB)}
}

type vectorJSON struct {
	N            *int64  `json:"n"`
	ArgmaxAgreed *int64  `json:"argmax_agreed"`
	CosN         *int64  `json:"cosine_n"`
	SumCos       *jfloat `json:"sum_cosine"`
	MinCos       *jfloat `json:"min_cosine"`
}

func (s *vectorStats) fields() *vectorJSON {
	return &vectorJSON{&s.n, &s.argmaxAgreed, &s.cosN, jf(&s.sumCos), jf(&s.minCos)}
}

type sideJSON struct {
	Kinds   map[string]int64 `json:"kinds"`
	Labels  *labelStats      `json:"labels"`
	Numeric *numericJSON     `json:"numeric"`
	Probs   *vectorJSON      `json:"probabilities"`
	Embed   *vectorJSON      `json:"embeddings"`
	LLM     *llmStats        `json:"llm"`
	Tokens  *tokenStats      `json:"tokens"`
}

func (m *sideMetrics) MarshalJSON() ([]byte, error) {
	return json.Marshal(sideJSON{m.kinds, m.labels, m.numeric.fields(), m.probs.fields(), m.embed.fields(), &m.llm, &m.tokens})
}

func (m *sideMetrics) UnmarshalJSON(data []byte) error {
	*m = newSideMetrics()
	j := sideJSON{Labels: m.labels, Numeric: m.numeric.fields(), Probs: m.probs.fields(), Embed: m.embed.fields(),
		LLM: &m.llm, Tokens: &m.tokens}
	if err := strictJSON(data, &j); err != nil {
		return err
	}
	if j.Labels == nil || j.LLM == nil || j.Tokens == nil {
		return errors.New("labels, llm or tokens are null")
	}
	if err := m.llm.check(); err != nil {
		return err
	}
	for k, v := range j.Kinds {
		if v <= 0 {
			return errNegative
		}
		m.kinds[k] = v
	}
	n, p, e := &m.numeric, &m.probs, &m.embed
	if err := nonNegative(n.n, n.nonFinite, n.within, p.n, p.argmaxAgreed, p.cosN, e.n, e.argmaxAgreed, e.cosN); err != nil ||
		n.within > n.n+n.nonFinite || p.argmaxAgreed > p.n || p.cosN > p.n || e.cosN > e.n {
		return errors.New("instance metrics do not add up")
	}
	return nil
}

// topN: the kept disagreements, worst first.
type entryJSON struct {
	Class        int          `json:"class"`
	Instances    int64        `json:"instances"`
	Magnitude    jfloat       `json:"magnitude"`
	Disagreement Disagreement `json:"disagreement"`
}

func (t *topN) MarshalJSON() ([]byte, error) {
	es := append(entries{}, t.heap...)
	slices.SortFunc(es, func(a, b *entry) int {
		if worse(a, b) {
			return -1
		}
		if worse(b, a) {
			return 1
		}
		return 0
	})
	out := make([]entryJSON, len(es))
	for i, e := range es {
		out[i] = entryJSON{e.sev.class, e.sev.instances, jfloat(e.sev.magnitude), e.d}
	}
	return json.Marshal(out)
}

func (t *topN) UnmarshalJSON(data []byte) error {
	var es []entryJSON
	if err := strictJSON(data, &es); err != nil {
		return err
	}
	if len(es) > t.n {
		return fmt.Errorf("%d disagreements, more than top %d", len(es), t.n)
	}
	t.heap = t.heap[:0]
	for _, e := range es {
		t.heap = append(t.heap, &entry{sev: severity{e.Class, e.Instances, float64(e.Magnitude)}, d: e.Disagreement})
	}
	heap.Init(&t.heap)
	return nil
}
