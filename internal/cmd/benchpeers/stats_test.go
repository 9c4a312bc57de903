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
