package main

import (
	"math"
	"testing"
)

// The spread printed beside each round's ratio: mean and sample standard
// deviation, worked by hand (2, 4, 4, 4, 5, 5, 7, 9: mean 5, squares of
// the deviations 32, sd sqrt(32/7)).
func TestMeanSD(t *testing.T) {
	for _, c := range []struct {
		xs       []float64
		mean, sd float64
	}{
		{[]float64{2, 4, 4, 4, 5, 5, 7, 9}, 5, math.Sqrt(32.0 / 7)},
		{[]float64{0.9, 1.1}, 1, math.Sqrt(0.02)},
		{[]float64{0.8}, 0.8, 0},
		{nil, 0, 0},
	} {
		mean, sd := meanSD(c.xs)
		if math.Abs(mean-c.mean) > 1e-12 || math.Abs(sd-c.sd) > 1e-12 {
			t.Errorf("meanSD(%v) = %v, %v; want %v, %v", c.xs, mean, sd, c.mean, c.sd)
		}
	}
}

// The CPU a configuration adds is paired by round: the README's session-16
// A/B, rounds 1 and 2 (107.0 and 92.2 µs/req unmirrored; 118.6 and 113.4
// with the 50 ms shadow) gives +11.6 and +21.2 µs; a round missing from
// base is left out.
func TestCPUDeltas(t *testing.T) {
	base := []wrkResult{{cpuPerReq: 107.0}, {cpuPerReq: 92.2}}
	got := cpuDeltas([]wrkResult{{cpuPerReq: 118.6}, {cpuPerReq: 113.4}, {cpuPerReq: 99}}, base)
	want := []float64{11.6, 21.2}
	sameFloats(t, "cpuDeltas", got, want)
}

// A copy's CPU: the rise per request times requests per copy, by hand.
// Round 1: (105.3-95.3) µs x 30,000 requests / 5,000 copies = 60 µs; the
// models' (66.0-53.5) x 6 = 75. Round 2 has no copies, round 3 no twin.
func TestPerCopy(t *testing.T) {
	base := []wrkResult{{cpuPerReq: 95.3, modelCPUPerReq: 53.5}, {cpuPerReq: 90}}
	rs := []wrkResult{
		{cpuPerReq: 105.3, modelCPUPerReq: 66.0, requests: 30000, mirrored: 5000},
		{cpuPerReq: 91, requests: 30000},
		{cpuPerReq: 100, requests: 30000, mirrored: 10},
	}
	sameFloats(t, "recorder", perCopy(rs, base, func(w wrkResult) float64 { return w.cpuPerReq }), []float64{60})
	sameFloats(t, "models", perCopy(rs, base, func(w wrkResult) float64 { return w.modelCPUPerReq }), []float64{75})
}

// /proc/stat's first line (ticks): user nice system idle iowait irq softirq
// steal guest guest_nice; steal's share of the ticks between two readings,
// guest left out (it is in user already). From a to b: 100 ticks, 13 stolen.
func TestStealShare(t *testing.T) {
	a := parseCPUTimes([]byte("cpu  1000 0 500 300 0 0 100 50 7 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"))
	b := parseCPUTimes([]byte("cpu  1030 0 530 313 0 0 114 63 99 0\n"))
	if got := stealShare(a, b); math.Abs(got-0.13) > 1e-12 {
		t.Errorf("stealShare = %v, want 0.13", got)
	}
	if got := stealShare(a, a); got != -1 {
		t.Errorf("no time passed: %v, want -1", got)
	}
	if parseCPUTimes([]byte("intr 1 2 3\n")) != nil || parseCPUTimes([]byte("cpu 1 2 x 4 5 6 7 8\n")) != nil {
		t.Error("a line that is not the cpu totals was read")
	}
	if got := stealShare(nil, b); got != -1 {
		t.Errorf("no first reading: %v, want -1", got)
	}
}

// Two runs at the same rate, one with a fifth of the machine stolen: the
// adjusted ratio says the stolen one would have been 1.25× as fast; a
// round with an unknown steal is left out.
func TestStealAdjusted(t *testing.T) {
	got := stealAdjusted([]wrkResult{{rps: 1000, steal: 0.2}, {rps: 900, steal: -1}, {rps: 800, steal: 0}},
		[]wrkResult{{rps: 1000, steal: 0}, {rps: 1000, steal: 0}, {rps: 1000, steal: 0.5}})
	want := []float64{1.25, 0.4}
	sameFloats(t, "stealAdjusted", got, want)
}

// sameFloats fails t unless got and want have the same length and values
// (to rounding: the inputs are written in decimal).
func sameFloats(t *testing.T, name string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s = %v, want %v", name, got, want)
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, got, want)
			return
		}
	}
}

// A per-round line: the values and their median as given, the mean and
// sample sd by hand (0.8, 0.9, 1.3: mean 1.0, squares 0.04+0.01+0.09, sd
// sqrt(0.14/2) = 0.2646).
func TestSeries(t *testing.T) {
	if got, want := series([]float64{0.9, 0.8, 1.3}, "%.2f", "%.3f", "%.3f"), " 0.90 0.80 1.30 (median 0.90, mean 1.000, sd 0.265)"; got != want {
		t.Errorf("series = %q, want %q", got, want)
	}
	if got, want := series([]float64{11.6, -2.4}, "%+.1f", "%+.1f", "%.1f"), " +11.6 -2.4 (median +4.6, mean +4.6, sd 9.9)"; got != want {
		t.Errorf("series = %q, want %q", got, want)
	}
	// Six rounds: the interval of the median is their range (below).
	if got, want := series([]float64{0.9, 0.8, 1.3, 1.0, 0.7, 1.1}, "%.2f", "%.3f", "%.3f"),
		" 0.90 0.80 1.30 1.00 0.70 1.10 (median 0.95, mean 0.967, sd 0.216, 95% CI of the median 0.70 to 1.30)"; got != want {
		t.Errorf("series = %q, want %q", got, want)
	}
}

// The order statistics that bound the median, by hand from Binomial(n, 1/2)
// (sums of C(n, i) over 2^n), at 95%: the k-th smallest and largest for the
// largest k with P(B <= k-1) <= 0.025.
//   - n = 5: P(B = 0) = 1/32 = 0.031 > 0.025: no interval.
//   - n = 6: P(B = 0) = 1/64 = 0.016; P(B <= 1) = 7/64 = 0.109: k = 1.
//   - n = 9: P(B <= 1) = 10/512 = 0.0195; P(B <= 2) = 46/512 = 0.0898: k = 2.
//   - n = 25: P(B <= 7) = (1+25+300+2300+12650+53130+177100+480700)/2^25 =
//     726206/33554432 = 0.0216; P(B <= 8) adds 1081575: 0.0539: k = 8.
func TestMedianCI(t *testing.T) {
	// 1..n shuffled, so that the k-th smallest is k and the k-th largest n+1-k.
	values := func(n int) []float64 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = float64((i*7)%n + 1)
		}
		return xs
	}
	for _, c := range []struct {
		n, k int
	}{{5, 0}, {6, 1}, {9, 2}, {25, 8}, {0, 0}, {1, 0}} {
		lo, hi, ok := medianCI(values(c.n), 0.95)
		if c.k == 0 {
			if ok {
				t.Errorf("n=%d: interval %v to %v, want none", c.n, lo, hi)
			}
			continue
		}
		if !ok || lo != float64(c.k) || hi != float64(c.n+1-c.k) {
			t.Errorf("n=%d: interval %v to %v (ok %v), want %d to %d", c.n, lo, hi, ok, c.k, c.n+1-c.k)
		}
	}
	// A lower level admits a tighter interval: n = 9 at 80% has
	// P(B <= 2) = 0.0898 <= 0.1, P(B <= 3) = 130/512 = 0.254: k = 3.
	if lo, hi, ok := medianCI(values(9), 0.80); !ok || lo != 3 || hi != 7 {
		t.Errorf("n=9 at 80%%: %v to %v (ok %v), want 3 to 7", lo, hi, ok)
	}
}
