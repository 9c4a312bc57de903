package replay

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestValidateRejectsConflictingOptions(t *testing.T) {
	u := mustURL(t, "http://127.0.0.1:1")
	cases := []struct {
		name string
		o    Options
		want string
	}{
		{"ok", Options{Target: u}, ""},
		{"rate and speed", Options{Target: u, Rate: 1, Speed: 1}, "exclude each other"},
		{"no target", Options{}, "no target"},
		{"bad scheme", Options{Target: mustURL(t, "ftp://x")}, "want http"},
		{"negative rate", Options{Target: u, Rate: -1}, "rate -1"},
		{"NaN rate", Options{Target: u, Rate: math.NaN()}, "rate NaN: want 0 (closed loop) or a rate of at least 0.001"},
		{"infinite rate", Options{Target: u, Rate: math.Inf(1)}, "rate +Inf: want 0"},
		{"tiny rate", Options{Target: u, Rate: 1e-20}, "rate 1e-20: want 0"},
		{"slowest rate", Options{Target: u, Rate: MinRate}, ""},
		{"NaN speed", Options{Target: u, Speed: math.NaN()}, "speed NaN: want 0 (off) or a factor of at least 0.001"},
		{"infinite speed", Options{Target: u, Speed: math.Inf(1)}, "speed +Inf"},
		{"tiny speed", Options{Target: u, Speed: 1e-300}, "speed 1e-300"},
		{"slowest speed", Options{Target: u, Speed: MinSpeed}, ""},
		{"most concurrency", Options{Target: u, Concurrency: MaxConcurrency}, ""},
		{"huge concurrency", Options{Target: u, Concurrency: 100_000_000}, "concurrency 100000000: want at most 10000"},
	}
	for _, c := range cases {
		err := c.o.Validate()
		if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
}

// The schedule's arithmetic saturates: a due time past what a Duration
// holds is the latest one, never a negative one that sends at once.
func TestScheduleSaturates(t *testing.T) {
	for _, c := range []struct {
		ns   float64
		want time.Duration
	}{
		{1.5e9, 1500 * time.Millisecond},
		{-1, 0},
		{math.NaN(), 0},
		{1e30, math.MaxInt64},
		{math.Inf(1), math.MaxInt64},
	} {
		if got := saturate(c.ns); got != c.want {
			t.Errorf("saturate(%g) = %d, want %d", c.ns, got, c.want)
		}
	}
	if got := addSaturating(math.MaxInt64-1, time.Second); got != math.MaxInt64 {
		t.Errorf("addSaturating overflowed to %d", got)
	}
}
