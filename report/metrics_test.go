package report

import (
	"math"
	"math/rand/v2"
	"reflect"
	"sort"
	"strconv"
	"testing"
)

func near(a, b, eps float64) bool { return math.Abs(a-b) <= eps }

func TestWilsonByHand(t *testing.T) {
	// Wilson score intervals worked out separately with z = 1.959964.
	cases := []struct {
		k, n   int64
		lo, hi float64
	}{
		{7, 10, 0.396778, 0.892209},
		{0, 10, 0, 0.277533},
		{10, 10, 0.722467, 1},
		{990, 1000, 0.981691, 0.994559},
		{1, 1, 0.206549, 1},
	}
	for _, c := range cases {
		lo, hi := wilson(c.k, c.n)
		if !near(lo, c.lo, 1e-6) || !near(hi, c.hi, 1e-6) {
			t.Errorf("wilson(%d, %d) = [%.6f, %.6f], want [%.6f, %.6f]", c.k, c.n, lo, hi, c.lo, c.hi)
		}
	}
	if r := rate(0, 0); r.Rate != nil || r.CI95Low != nil {
		t.Errorf("rate(0, 0) = %+v, want nulls", r)
	}
}

// TestWilsonAtTheEnds: with every trial a success the upper bound is
// exactly 1, with none the lower bound exactly 0, as a gate on ci95_high
// == 1 or ci95_low == 0 expects; the other bound is the closed form the
// score interval takes there. The interval (Wilson 1927, "Probable
// inference, the law of succession, and statistical inference", JASA 22,
// 209-212) is
//
//	(p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n),
//
// which at p = 1 is [n/(n+z²), 1] and at p = 0 is [0, z²/(n+z²)].
func TestWilsonAtTheEnds(t *testing.T) {
	const z2 = 1.959963984540054 * 1.959963984540054
	for _, n := range []int64{1, 2, 3, 10, 30, 100, 3000, 6824, 10007, 123457, 1 << 40} {
		nf := float64(n)
		lo, hi := wilson(n, n)
		if hi != 1 || !near(lo, nf/(nf+z2), 1e-12) {
			t.Errorf("wilson(%d, %d) = [%v, %v], want [%v, exactly 1]", n, n, lo, hi, nf/(nf+z2))
		}
		lo, hi = wilson(0, n)
		if lo != 0 || !near(hi, z2/(nf+z2), 1e-12) {
			t.Errorf("wilson(0, %d) = [%v, %v], want [exactly 0, %v]", n, lo, hi, z2/(nf+z2))
		}
	}
	// In between, every bound is in [0, 1] and holds the rate, and only
	// k = n reaches 1 and only k = 0 reaches 0.
	for n := int64(1); n <= 2000; n++ {
		for _, k := range []int64{0, 1, n / 2, n - 1, n} {
			if k < 0 || k > n {
				continue
			}
			lo, hi := wilson(k, n)
			p := float64(k) / float64(n)
			if !(0 <= lo && lo <= p && p <= hi && hi <= 1) {
				t.Fatalf("wilson(%d, %d) = [%v, %v]: not 0 <= lo <= %v <= hi <= 1", k, n, lo, hi, p)
			}
			if (hi == 1) != (k == n) || (lo == 0) != (k == 0) {
				t.Fatalf("wilson(%d, %d) = [%v, %v]: a bound at 0 or 1 that is not k = 0 or k = n", k, n, lo, hi)
			}
		}
	}
}

func TestLabelMetricsByHand(t *testing.T) {
	s := newLabelStats()
	add := func(r, c string, n int) {
		for range n {
			s.add(r, c)
		}
	}
	add("a", "a", 4)
	add("a", "b", 1)
	add("b", "b", 3)
	add("b", "a", 2)
	// po = 7/10; rows a=5 b=5; cols a=6 b=4; pe = .5*.6 + .5*.4 = .5;
	// kappa = (.7 - .5) / (1 - .5) = .4
	m := s.metrics(10)
	if m.Kappa == nil || !near(*m.Kappa, 0.4, 1e-12) {
		t.Errorf("kappa = %v, want 0.4", m.Kappa)
	}
	if !reflect.DeepEqual(m.Classes, []string{"a", "b"}) ||
		!reflect.DeepEqual(m.Confusion, [][]int64{{4, 1}, {2, 3}}) {
		t.Errorf("confusion = %v %v", m.Classes, m.Confusion)
	}
	if len(m.PerClass) != 2 || m.PerClass[0].Recorded != 5 || m.PerClass[0].Candidate != 6 ||
		m.PerClass[0].Agreed != 4 || *m.PerClass[0].Rate != 0.8 || *m.PerClass[1].Rate != 0.6 {
		t.Errorf("per class = %+v", m.PerClass)
	}

	// With room for one class only, b goes to "other" but kappa still uses
	// every class.
	m = s.metrics(1)
	if !reflect.DeepEqual(m.Classes, []string{"a", "other"}) ||
		!reflect.DeepEqual(m.Confusion, [][]int64{{4, 1}, {2, 3}}) || !near(*m.Kappa, 0.4, 1e-12) {
		t.Errorf("top 1: %v %v kappa %v", m.Classes, m.Confusion, *m.Kappa)
	}

	// One class on both sides: chance agreement is 1, kappa undefined.
	one := newLabelStats()
	one.add("x", "x")
	if k := one.metrics(10).Kappa; k != nil {
		t.Errorf("kappa of a single class = %v, want null", *k)
	}
	// Integers sort numerically on ties.
	ints := newLabelStats()
	for _, l := range []string{"10", "9", "2"} {
		ints.add(l, l)
	}
	if got := ints.metrics(10).Classes; !reflect.DeepEqual(got, []string{"2", "9", "10"}) {
		t.Errorf("classes = %v", got)
	}
}

func TestNumericMetricsByHand(t *testing.T) {
	var s numericStats
	tol := Tolerance{Abs: 0.5}
	for _, p := range [][2]float64{{1, 2}, {2, 2}, {3, 5}} {
		s.add(p[0], p[1], tol)
	}
	s.add(math.NaN(), math.NaN(), tol) // agrees, but no error metric
	m := s.metrics()
	// diffs 1, 0, 2: MAE 1, RMSE sqrt(5/3), max 2.
	// a = 1 2 3 (mean 2), b = 2 2 5 (mean 3): cov 3, ssa 2, ssb 6,
	// pearson = 3 / sqrt(12).
	if m.Count != 3 || m.NonFinite != 1 || *m.MAE != 1 || !near(*m.RMSE, math.Sqrt(5.0/3), 1e-12) ||
		*m.MaxAbsDiff != 2 || !near(*m.Pearson, 3/math.Sqrt(12), 1e-12) {
		t.Errorf("numeric = %+v mae %v rmse %v max %v pearson %v", m, *m.MAE, *m.RMSE, *m.MaxAbsDiff, *m.Pearson)
	}
	if m.WithinTolerance.Count != 2 || m.WithinTolerance.Of != 4 {
		t.Errorf("within tolerance = %+v, want 2 of 4", m.WithinTolerance)
	}
	var flat numericStats
	flat.add(1, 1, tol)
	flat.add(1, 2, tol)
	if p := flat.metrics().Pearson; p != nil {
		t.Errorf("pearson of a constant side = %v, want null", *p)
	}
}

func TestVectorMetricsByHand(t *testing.T) {
	var s vectorStats
	s.add([]float64{1, 0}, []float64{1, 1})       // cos 1/sqrt2, argmax 0 vs 0
	s.add([]float64{1, 2, 3}, []float64{2, 4, 6}) // cos 1, argmax 2 vs 2
	s.add([]float64{0.9, 0.1}, []float64{0.2, 0.8})
	// cos = (.18+.08)/sqrt(.82*.68), argmax 0 vs 1
	c3 := 0.26 / math.Sqrt(0.82*0.68)
	mean, lo := s.cos()
	if s.n != 3 || s.argmaxAgreed != 2 || !near(*mean, (1/math.Sqrt2+1+c3)/3, 1e-12) || !near(*lo, c3, 1e-12) {
		t.Errorf("vectors: n %d argmax %d mean %v min %v", s.n, s.argmaxAgreed, *mean, *lo)
	}
	if _, ok := cosine([]float64{0, 0}, []float64{1, 1}); ok {
		t.Error("cosine of a zero vector is defined")
	}
}

func TestHistogramPercentilesAgainstExactSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name string
		gen  func() float64
	}{
		{"lognormal latencies (ns)", func() float64 { return math.Exp(rng.NormFloat64()*1.5 + 16) }},
		{"uniform 1µs..1s", func() float64 { return 1e3 + rng.Float64()*1e9 }},
		{"signed deltas", func() float64 { return rng.NormFloat64() * 5e6 }},
		{"with zeros", func() float64 { return float64(rng.IntN(3)) * 1e6 }},
	}
	for _, c := range cases {
		h := newHistogram()
		var vals []float64
		sum := 0.0
		for range 20000 {
			v := c.gen()
			vals = append(vals, v)
			h.Add(v)
			sum += v
		}
		sort.Float64s(vals)
		for _, q := range []float64{0.001, 0.5, 0.9, 0.95, 0.99, 0.999, 1} {
			rank := int(math.Ceil(q * float64(len(vals))))
			exact := vals[rank-1]
			got := h.Quantile(q)
			if math.Abs(got-exact) > relErr*math.Abs(exact)+1e-9 {
				t.Errorf("%s: q%v = %v, exact %v (rel err %.5f)", c.name, q, got, exact, math.Abs(got-exact)/math.Abs(exact))
			}
		}
		if h.Max() != vals[len(vals)-1] || !near(h.Mean(), sum/float64(len(vals)), 1e-6*math.Abs(sum)) || h.Count() != 20000 {
			t.Errorf("%s: max %v mean %v count %d", c.name, h.Max(), h.Mean(), h.Count())
		}
	}
	// Merging equals adding everything to one histogram.
	a, b, all := newHistogram(), newHistogram(), newHistogram()
	for i := range 1000 {
		v := float64(i*i) - 3e5
		all.Add(v)
		if i%2 == 0 {
			a.Add(v)
		} else {
			b.Add(v)
		}
	}
	a.Merge(b)
	for _, q := range []float64{0.1, 0.5, 0.99} {
		if a.Quantile(q) != all.Quantile(q) {
			t.Errorf("merged q%v = %v, want %v", q, a.Quantile(q), all.Quantile(q))
		}
	}
}

// TestLabelValueIDsSameAsStrings: the small-integer cache gives the ids that
// formatting the labels gives, also once maxLabels is reached (a new label
// then counts as otherClass) and when a string and an integer spell the same
// label.
func TestLabelValueIDsSameAsStrings(t *testing.T) {
	var vals []any
	for i := range 2 * maxLabels {
		if i%3 == 0 {
			vals = append(vals, int64(i%300))
		} else {
			vals = append(vals, strconv.Itoa(i))
		}
	}
	vals = append(vals, int64(255), int64(256), int64(-1), true, "7", int64(7), int64(299), 2.5)
	byString, byValue := newLabelStats(), newLabelStats()
	for i := range vals {
		a, c := vals[i], vals[(i*31)%len(vals)]
		byString.add(labelOf(a), labelOf(c))
		byValue.addValues(a, c)
	}
	if !reflect.DeepEqual(byString.pairs, byValue.pairs) || !reflect.DeepEqual(byString.names, byValue.names) {
		t.Fatal("label ids differ between strings and values")
	}
	if got, want := byValue.metrics(10), byString.metrics(10); !reflect.DeepEqual(got, want) {
		t.Errorf("metrics = %+v, want %+v", got, want)
	}
}
