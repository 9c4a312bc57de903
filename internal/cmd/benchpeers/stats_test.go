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
	if len(got) != len(want) {
		t.Fatalf("cpuDeltas = %v, want %v", got, want)
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			t.Errorf("cpuDeltas = %v, want %v", got, want)
		}
	}
}
