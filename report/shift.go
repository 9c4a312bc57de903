// Prediction shift: how the distribution of predictions moved from the
// recorded side to the candidate, without labels. Classes are counted;
// scores go into a bounded, mergeable sketch.

package report

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
)

// Shift is how the candidate's predictions are distributed next to the
// recorded ones. Null when the predictions are neither labels nor scores.
type Shift struct {
	// Kind is "labels" or "scores": what was compared.
	Kind string `json:"kind"`
	// PSI is the population stability index of the candidate against the
	// recorded side (over the classes, or over ten quantile bins of the
	// recorded scores).
	PSI *float64 `json:"psi" gate:"nonneg"`
	// ChiSquare and PValue: Pearson's test of homogeneity of the class
	// counts (labels only).
	ChiSquare *float64     `json:"chi_square" gate:"nonneg"`
	DF        int          `json:"df"`
	PValue    *float64     `json:"p_value" gate:"unit"`
	Classes   []ClassShift `json:"classes"`
	Scores    *ScoreShift  `json:"scores"`
}

// ClassShift is one class's share on each side.
type ClassShift struct {
	Class     string  `json:"class"`
	Recorded  float64 `json:"recorded"`
	Candidate float64 `json:"candidate"`
}

// ScoreShift compares the score distributions.
type ScoreShift struct {
	Recorded  int64 `json:"recorded"`
	Candidate int64 `json:"candidate"`
	// KS is the two-sample Kolmogorov–Smirnov statistic, KSPValue its
	// asymptotic p-value; Wasserstein the first Wasserstein distance.
	KS          *float64 `json:"ks" gate:"unit"`
	KSPValue    *float64 `json:"ks_p_value" gate:"unit"`
	Wasserstein *float64 `json:"wasserstein" gate:"nonneg"`
	// Bins are the upper edges of the PSI bins (recorded deciles).
	Bins []float64 `json:"bins"`
}

// shiftState counts the predicted classes and scores of the recorded and
// candidate sides; plain fields, so it round-trips through encoding/json.
type shiftState struct {
	Classes [2]map[string]int64
	Scores  [2]sketch
	// ints counts the small integer labels (class indexes, the usual
	// case) without formatting or hashing them; flush folds them into
	// Classes, and every reader of Classes flushes first.
	ints [2][256]int64
}

// flush folds ints into Classes.
func (s *shiftState) flush() {
	for side := range 2 {
		for i, n := range s.ints[side] {
			if n == 0 {
				continue
			}
			c := strconv.Itoa(i)
			m := s.Classes[side]
			if _, ok := m[c]; !ok && len(m) >= maxLabels {
				c = otherClass
			}
			m[c] += n
			s.ints[side][i] = 0
		}
	}
}

// MarshalJSON encodes the state with ints folded in.
func (s *shiftState) MarshalJSON() ([]byte, error) {
	s.flush()
	type plain shiftState
	return json.Marshal((*plain)(s))
}

func newShiftState() shiftState {
	return shiftState{Classes: [2]map[string]int64{{}, {}}}
}

func (s *shiftState) add(side int, pred any) {
	if x, ok := pred.(int64); ok && x >= 0 && x < 256 {
		s.ints[side][x]++
		return
	}
	c, numeric := classOf(pred)
	switch {
	case c == "":
	case numeric:
		s.Scores[side].Add(pred.(float64))
	default:
		m := s.Classes[side]
		if _, ok := m[c]; !ok && len(m) >= maxLabels {
			c = otherClass
		}
		m[c]++
	}
}

func (s *shiftState) merge(o *shiftState) {
	s.flush()
	o.flush()
	for i := range 2 {
		for k, v := range o.Classes[i] {
			if _, ok := s.Classes[i][k]; !ok && len(s.Classes[i]) >= maxLabels {
				k = otherClass
			}
			s.Classes[i][k] += v
		}
		s.Scores[i].Merge(&o.Scores[i])
	}
}

func (s *shiftState) report() *Shift {
	s.flush()
	var nc [2]int64
	for i := range 2 {
		for _, v := range s.Classes[i] {
			nc[i] += v
		}
	}
	ns := [2]int64{s.Scores[0].N, s.Scores[1].N}
	switch {
	case nc[0] > 0 && nc[1] > 0 && nc[0]+nc[1] >= ns[0]+ns[1]:
		return s.labels(nc)
	case ns[0] > 0 && ns[1] > 0:
		return s.scores()
	}
	return nil
}

func (s *shiftState) labels(n [2]int64) *Shift {
	names := map[string]bool{}
	for i := range 2 {
		for k := range s.Classes[i] {
			names[k] = true
		}
	}
	out := &Shift{Kind: kindLabels, Classes: []ClassShift{}}
	for k := range names {
		out.Classes = append(out.Classes, ClassShift{Class: k,
			Recorded:  float64(s.Classes[0][k]) / float64(n[0]),
			Candidate: float64(s.Classes[1][k]) / float64(n[1])})
	}
	sort.Slice(out.Classes, func(i, j int) bool {
		a, b := out.Classes[i], out.Classes[j]
		if a.Recorded != b.Recorded {
			return a.Recorded > b.Recorded
		}
		return lessLabel(a.Class, b.Class)
	})
	a := make([]int64, len(out.Classes))
	b := make([]int64, len(out.Classes))
	for i, c := range out.Classes {
		a[i], b[i] = s.Classes[0][c.Class], s.Classes[1][c.Class]
	}
	out.PSI = num(psi(a, b))
	stat, df, p := chiSquareHomogeneity(a, b)
	out.ChiSquare, out.DF, out.PValue = num(stat), df, num(p)
	return out
}

// psiBins is the number of quantile bins of the score PSI.
const psiBins = 10

func (s *shiftState) scores() *Shift {
	rec, cand := &s.Scores[0], &s.Scores[1]
	out := &Shift{Kind: kindScores, Classes: []ClassShift{}}
	sc := &ScoreShift{Recorded: rec.N, Candidate: cand.N, Bins: []float64{}}
	// Bins: the recorded deciles (distinct edges), the last open.
	var edges []float64
	for i := 1; i < psiBins; i++ {
		e := rec.Quantile(float64(i) / psiBins)
		if len(edges) == 0 || e > edges[len(edges)-1] {
			edges = append(edges, e)
		}
	}
	a := make([]int64, len(edges)+1)
	b := make([]int64, len(edges)+1)
	rec.histogram(edges, a)
	cand.histogram(edges, b)
	out.PSI = num(psi(a, b))
	sc.Bins = append(sc.Bins, edges...)
	d, w := ksWasserstein(rec, cand)
	sc.KS, sc.KSPValue, sc.Wasserstein = num(d), num(ksPValue(d, rec.N, cand.N)), num(w)
	out.Scores = sc
	return out
}

// sketchAlpha is the sketch's relative accuracy: each bucket holds values
// within 0.5% of its representative.
const sketchAlpha = 0.005

var (
	sketchGamma    = (1 + sketchAlpha) / (1 - sketchAlpha)
	sketchLogGamma = math.Log(sketchGamma)
)

// sketch is a mergeable log-bucketed histogram of scores (as DDSketch):
// memory grows with the spread of the values (about 230 buckets per factor
// of ten), not their number. Values of magnitude below sketchMin count as 0.
// Plain fields: it round-trips through encoding/json.
type sketch struct {
	N        int64
	Pos, Neg map[int]int64
	Zero     int64
}

const sketchMin = 1e-9

func sketchIndex(v float64) int { return int(math.Ceil(math.Log(v) / sketchLogGamma)) }

// sketchValue is the representative of bucket i: within sketchAlpha of
// every value in it.
func sketchValue(i int) float64 {
	return 2 * math.Pow(sketchGamma, float64(i)) / (1 + sketchGamma)
}

func (s *sketch) Add(v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	s.N++
	switch {
	case v > sketchMin:
		if s.Pos == nil {
			s.Pos = map[int]int64{}
		}
		s.Pos[sketchIndex(v)]++
	case v < -sketchMin:
		if s.Neg == nil {
			s.Neg = map[int]int64{}
		}
		s.Neg[sketchIndex(-v)]++
	default:
		s.Zero++
	}
}

func (s *sketch) Merge(o *sketch) {
	s.N += o.N
	s.Zero += o.Zero
	for k, v := range o.Pos {
		if s.Pos == nil {
			s.Pos = map[int]int64{}
		}
		s.Pos[k] += v
	}
	for k, v := range o.Neg {
		if s.Neg == nil {
			s.Neg = map[int]int64{}
		}
		s.Neg[k] += v
	}
}

// point is one bucket: its representative value and count.
type point struct {
	v float64
	n int64
}

// points lists the buckets in increasing order of value.
func (s *sketch) points() []point {
	out := make([]point, 0, len(s.Pos)+len(s.Neg)+1)
	for k, n := range s.Neg {
		out = append(out, point{-sketchValue(k), n})
	}
	if s.Zero > 0 {
		out = append(out, point{0, s.Zero})
	}
	for k, n := range s.Pos {
		out = append(out, point{sketchValue(k), n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].v < out[j].v })
	return out
}

// Quantile is the nearest-rank q-quantile.
func (s *sketch) Quantile(q float64) float64 {
	if s.N == 0 {
		return math.NaN()
	}
	rank := int64(math.Ceil(q * float64(s.N)))
	rank = max(rank, 1)
	var seen int64
	pts := s.points()
	for _, p := range pts {
		seen += p.n
		if seen >= rank {
			return p.v
		}
	}
	return pts[len(pts)-1].v
}

// histogram counts the values into bins (−∞, e0], (e0, e1], …, (en, ∞).
func (s *sketch) histogram(edges []float64, out []int64) {
	for _, p := range s.points() {
		i := sort.SearchFloat64s(edges, p.v) // first edge >= v
		out[i] += p.n
	}
}

// ksWasserstein walks both sketches' buckets in order: the KS statistic is
// the largest gap between the two empirical CDFs, the Wasserstein distance
// the area between them (∫|F − G| dx).
func ksWasserstein(a, b *sketch) (ks, w float64) {
	pa, pb := a.points(), b.points()
	na, nb := float64(a.N), float64(b.N)
	var i, j int
	var ca, cb int64
	prev := math.NaN()
	for i < len(pa) || j < len(pb) {
		var v float64
		switch {
		case j >= len(pb) || i < len(pa) && pa[i].v < pb[j].v:
			v = pa[i].v
		case i >= len(pa) || pb[j].v < pa[i].v:
			v = pb[j].v
		default:
			v = pa[i].v
		}
		if !math.IsNaN(prev) {
			w += math.Abs(float64(ca)/na-float64(cb)/nb) * (v - prev)
		}
		for i < len(pa) && pa[i].v == v {
			ca += pa[i].n
			i++
		}
		for j < len(pb) && pb[j].v == v {
			cb += pb[j].n
			j++
		}
		ks = math.Max(ks, math.Abs(float64(ca)/na-float64(cb)/nb))
		prev = v
	}
	return ks, w
}
