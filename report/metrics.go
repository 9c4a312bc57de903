package report

import (
	"math"
	"sort"
	"strconv"
)

// z95 is the standard normal quantile of a two-sided 95% interval.
const z95 = 1.959963984540054

// wilson is the Wilson score 95% interval of k successes in n trials. It
// stays inside [0, 1] and is honest for small n and rates near 0 or 1, which
// is what lets a gate ask for the lower bound.
//
// At k = n the upper bound is exactly 1 and at k = 0 the lower exactly 0,
// which the formula reaches only up to rounding (0.9999999999999998 for
// 6824 of 6824), so those are set.
func wilson(k, n int64) (lo, hi float64) {
	if n <= 0 {
		return math.NaN(), math.NaN()
	}
	p := float64(k) / float64(n)
	nf := float64(n)
	z2 := z95 * z95
	den := 1 + z2/nf
	center := (p + z2/(2*nf)) / den
	half := z95 / den * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf))
	lo, hi = math.Max(0, center-half), math.Min(1, center+half)
	if k == 0 {
		lo = 0
	}
	if k == n {
		hi = 1
	}
	return lo, hi
}

// otherClass collects the labels outside the top classes.
const otherClass = "other"

// maxLabels bounds the distinct labels counted exactly; labels seen after
// that are counted as otherClass from the start.
const maxLabels = 1000

// labelStats accumulates label pairs (recorded, candidate) for the confusion
// matrix, Cohen's kappa and per-class agreement. Memory is bounded by
// maxLabels.
type labelStats struct {
	ids   map[string]int
	names []string
	pairs map[[2]int]int64
	n     int64
	// intIDs caches id+1 of the integer labels 0..255 (class indexes, the
	// usual labels), which then need no formatting and no string hashing.
	intIDs [256]int32
}

func newLabelStats() *labelStats {
	return &labelStats{ids: map[string]int{}, pairs: map[[2]int]int64{}}
}

func (s *labelStats) id(label string) int {
	if i, ok := s.ids[label]; ok {
		return i
	}
	if len(s.names) >= maxLabels {
		label = otherClass
		if i, ok := s.ids[label]; ok {
			return i
		}
	}
	s.ids[label] = len(s.names)
	s.names = append(s.names, label)
	return len(s.names) - 1
}

func (s *labelStats) add(recorded, candidate string) {
	s.pairs[[2]int{s.id(recorded), s.id(candidate)}]++
	s.n++
}

// addValues is add for two decoded label values.
func (s *labelStats) addValues(recorded, candidate any) {
	s.pairs[[2]int{s.valueID(recorded), s.valueID(candidate)}]++
	s.n++
}

// valueID is id(labelOf(v)), cached for small integers. The cache holds what
// id returned, so a label counted as otherClass stays so.
func (s *labelStats) valueID(v any) int {
	x, ok := v.(int64)
	if !ok || x < 0 || x >= int64(len(s.intIDs)) {
		return s.id(labelOf(v))
	}
	if c := s.intIDs[x]; c > 0 {
		return int(c - 1)
	}
	id := s.id(labelOf(v))
	s.intIDs[x] = int32(id + 1)
	return id
}

// LabelMetrics describes label agreement.
type LabelMetrics struct {
	// Count is the number of instance pairs that are labels.
	Count int64 `json:"count"`
	// Classes are the row and column names of Confusion: the most frequent
	// labels, then "other" for the rest when there are more.
	Classes []string `json:"classes"`
	// Confusion[i][j] counts instances labelled Classes[i] in the recorded
	// answer and Classes[j] by the candidate.
	Confusion [][]int64 `json:"confusion"`
	// Kappa is Cohen's kappa over all labels (not only the top classes);
	// null when chance agreement is 1 (a single class on both sides).
	Kappa *float64 `json:"kappa" gate:"signed"`
	// PerClass is, for each class, how often the candidate kept the
	// recorded label.
	PerClass []ClassAgreement `json:"per_class"`
}

// ClassAgreement is the agreement of one class.
type ClassAgreement struct {
	Class     string   `json:"class"`
	Recorded  int64    `json:"recorded"`
	Candidate int64    `json:"candidate"`
	Agreed    int64    `json:"agreed"`
	Rate      *float64 `json:"rate"`
}

func (s *labelStats) metrics(top int) *LabelMetrics {
	if s.n == 0 {
		return nil
	}
	k := len(s.names)
	rows := make([]int64, k)
	cols := make([]int64, k)
	diag := make([]int64, k)
	var agreed int64
	for p, c := range s.pairs {
		rows[p[0]] += c
		cols[p[1]] += c
		if p[0] == p[1] {
			diag[p[0]] += c
			agreed += c
		}
	}
	n := float64(s.n)
	pe := 0.0
	for i := range k {
		pe += float64(rows[i]) / n * float64(cols[i]) / n
	}
	po := float64(agreed) / n
	m := &LabelMetrics{Count: s.n}
	if pe < 1 {
		m.Kappa = num((po - pe) / (1 - pe))
	}

	// Top classes by how often they appear on either side; ties by name so
	// the output is stable.
	order := make([]int, k)
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		ta, tb := rows[order[a]]+cols[order[a]], rows[order[b]]+cols[order[b]]
		if ta != tb {
			return ta > tb
		}
		return lessLabel(s.names[order[a]], s.names[order[b]])
	})
	if top < 1 {
		top = 1
	}
	slot := make([]int, k)
	for rank, i := range order {
		slot[i] = min(rank, top)
		if rank < top {
			m.Classes = append(m.Classes, s.names[i])
		}
	}
	if k > top {
		m.Classes = append(m.Classes, otherClass)
	}
	nslots := len(m.Classes)
	m.Confusion = make([][]int64, nslots)
	for i := range m.Confusion {
		m.Confusion[i] = make([]int64, nslots)
	}
	for p, c := range s.pairs {
		m.Confusion[slot[p[0]]][slot[p[1]]] += c
	}
	for _, i := range order[:min(k, top)] {
		ca := ClassAgreement{Class: s.names[i], Recorded: rows[i], Candidate: cols[i], Agreed: diag[i]}
		if rows[i] > 0 {
			ca.Rate = num(float64(diag[i]) / float64(rows[i]))
		}
		m.PerClass = append(m.PerClass, ca)
	}
	return m
}

// lessLabel orders labels numerically when both are integers, else as text.
func lessLabel(a, b string) bool {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	if errA == nil && errB == nil {
		return x < y
	}
	return a < b
}

// numericStats accumulates pairs of numbers (recorded a, candidate b).
type numericStats struct {
	n                  int64 // finite pairs
	nonFinite          int64
	within             int64 // pairs equal within tolerance (finite or not)
	sumAbs, sumSq, max float64
	// Online co-moments for Pearson (Welford), stable over millions of
	// values.
	meanA, meanB, m2A, m2B, cAB float64
}

func (s *numericStats) add(a, b float64, t Tolerance) {
	if t.Equal(a, b) {
		s.within++
	}
	if math.IsNaN(a) || math.IsNaN(b) || math.IsInf(a, 0) || math.IsInf(b, 0) {
		s.nonFinite++
		return
	}
	d := math.Abs(a - b)
	s.sumAbs += d
	s.sumSq += d * d
	s.max = math.Max(s.max, d)
	s.n++
	n := float64(s.n)
	da := a - s.meanA
	s.meanA += da / n
	db := b - s.meanB
	s.meanB += db / n
	s.m2A += da * (a - s.meanA)
	s.m2B += db * (b - s.meanB)
	s.cAB += da * (b - s.meanB)
}

// NumericMetrics describes how far candidate numbers are from recorded ones.
type NumericMetrics struct {
	// Count is the number of finite pairs the error metrics use.
	Count int64 `json:"count"`
	// NonFinite counts pairs with NaN or an infinity on either side.
	NonFinite  int64    `json:"non_finite"`
	MAE        *float64 `json:"mae" gate:"nonneg"`
	RMSE       *float64 `json:"rmse" gate:"nonneg"`
	MaxAbsDiff *float64 `json:"max_abs_diff" gate:"nonneg"`
	// Pearson is null when either side is constant.
	Pearson *float64 `json:"pearson" gate:"signed"`
	// WithinTolerance is the share of all pairs equal within the
	// tolerance, with its Wilson interval.
	WithinTolerance Rate `json:"within_tolerance"`
}

func (s *numericStats) metrics() *NumericMetrics {
	total := s.n + s.nonFinite
	if total == 0 {
		return nil
	}
	m := &NumericMetrics{Count: s.n, NonFinite: s.nonFinite, WithinTolerance: rate(s.within, total)}
	if s.n > 0 {
		n := float64(s.n)
		m.MAE = num(s.sumAbs / n)
		m.RMSE = num(math.Sqrt(s.sumSq / n))
		m.MaxAbsDiff = num(s.max)
		if s.m2A > 0 && s.m2B > 0 {
			m.Pearson = num(math.Max(-1, math.Min(1, s.cAB/math.Sqrt(s.m2A*s.m2B))))
		}
	}
	return m
}

// vectorStats accumulates pairs of numeric vectors: cosine similarity and,
// for probability vectors, whether the argmax (the predicted class) agrees.
type vectorStats struct {
	n, argmaxAgreed, cosN int64
	sumCos, minCos        float64
}

func (s *vectorStats) add(a, b []float64) (argmaxA, argmaxB int) {
	s.n++
	argmaxA, argmaxB = argmax(a), argmax(b)
	if argmaxA == argmaxB {
		s.argmaxAgreed++
	}
	if c, ok := cosine(a, b); ok {
		if s.cosN == 0 || c < s.minCos {
			s.minCos = c
		}
		s.cosN++
		s.sumCos += c
	}
	return argmaxA, argmaxB
}

func argmax(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] || math.IsNaN(v[best]) && !math.IsNaN(x) {
			best = i
		}
	}
	return best
}

// cosine is the cosine similarity of a and b; false when either has zero
// length or a non-finite element.
func cosine(a, b []float64) (float64, bool) {
	var dot, na, nb float64
	for i := range a {
		dot += a[i] * b[i]
		na += a[i] * a[i]
		nb += b[i] * b[i]
	}
	if na == 0 || nb == 0 || math.IsNaN(dot) || math.IsInf(na, 0) || math.IsInf(nb, 0) {
		return 0, false
	}
	return math.Max(-1, math.Min(1, dot/math.Sqrt(na*nb))), true
}

// VectorMetrics describes probability vectors: does the predicted class
// (argmax) agree, and how similar are the vectors.
type VectorMetrics struct {
	Count int64 `json:"count"`
	// Argmax is the share of vectors whose largest element is at the same
	// index on both sides.
	Argmax     Rate     `json:"argmax"`
	MeanCosine *float64 `json:"mean_cosine" gate:"signed"`
	MinCosine  *float64 `json:"min_cosine" gate:"signed"`
}

// EmbeddingMetrics describes embedding vectors.
type EmbeddingMetrics struct {
	Count      int64    `json:"count"`
	MeanCosine *float64 `json:"mean_cosine" gate:"signed"`
	MinCosine  *float64 `json:"min_cosine" gate:"signed"`
}

func (s *vectorStats) cos() (mean, lo *float64) {
	if s.cosN == 0 {
		return nil, nil
	}
	return num(s.sumCos / float64(s.cosN)), num(s.minCos)
}

// Rate is a share with its Wilson 95% interval. Rate and the bounds are null
// when nothing was counted.
type Rate struct {
	Count   int64    `json:"count"`
	Of      int64    `json:"of"`
	Rate    *float64 `json:"rate" gate:"unit"`
	CI95Low *float64 `json:"ci95_low" gate:"unit"`
	CI95Hi  *float64 `json:"ci95_high" gate:"unit"`
}

func rate(k, n int64) Rate {
	r := Rate{Count: k, Of: n}
	if n > 0 {
		lo, hi := wilson(k, n)
		r.Rate, r.CI95Low, r.CI95Hi = num(float64(k)/float64(n)), num(lo), num(hi)
	}
	return r
}

// num boxes a finite float; non-finite values (which JSON cannot carry)
// become null.
func num(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}
