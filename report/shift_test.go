package report

import (
	"fmt"
	"math"
	"testing"

	"github.com/shadowctl/shadowctl/replay"
)

func TestPSIByHand(t *testing.T) {
	// 50/50 against 40/60: (0.4−0.5)·ln(0.8) + (0.6−0.5)·ln(1.2).
	want := -0.1*math.Log(0.8) + 0.1*math.Log(1.2)
	if got := psi([]int64{50, 50}, []int64{40, 60}); math.Abs(got-want) > 1e-12 {
		t.Errorf("psi = %v, want %v", got, want)
	}
	// Identical shares: 0. An empty bin uses the 1e-4 floor:
	// (0.5−0.5)… + (1e-4 − 0.5)·ln(1e-4/0.5) + (1 − 0.5)… no: two bins,
	// actual all in the first.
	if got := psi([]int64{3, 7}, []int64{30, 70}); math.Abs(got) > 1e-12 {
		t.Errorf("psi of equal shares = %v", got)
	}
	want = (1-0.5)*math.Log(1/0.5) + (1e-4-0.5)*math.Log(1e-4/0.5)
	if got := psi([]int64{5, 5}, []int64{10, 0}); math.Abs(got-want) > 1e-12 {
		t.Errorf("psi with an empty bin = %v, want %v", got, want)
	}
}

func TestChiSquareByHand(t *testing.T) {
	// [50 50] vs [40 60]: column totals 90 and 110, expected 45 55 / 45 55:
	// X² = 2·(25/45 + 25/55), one degree of freedom, p = erfc(√(X²/2)).
	stat, df, p := chiSquareHomogeneity([]int64{50, 50}, []int64{40, 60})
	want := 2 * (25.0/45 + 25.0/55)
	if math.Abs(stat-want) > 1e-12 || df != 1 {
		t.Errorf("X² = %v df %d, want %v 1", stat, df, want)
	}
	if wp := math.Erfc(math.Sqrt(want / 2)); math.Abs(p-wp) > 1e-9 {
		t.Errorf("p = %v, want %v", p, wp)
	}
	// Three classes (two degrees of freedom, where the survival function is
	// e^(−x/2)): [10 20 30] vs [30 20 10]; expected 20 20 20 each row:
	// X² = 4·(100/20) = 20.
	stat, df, p = chiSquareHomogeneity([]int64{10, 20, 30, 0}, []int64{30, 20, 10, 0})
	if math.Abs(stat-20) > 1e-12 || df != 2 || math.Abs(p-math.Exp(-10)) > 1e-12 {
		t.Errorf("X² = %v df %d p %v, want 20 2 %v", stat, df, p, math.Exp(-10))
	}
	// Against a chi-square table: P(X² > 11.07 | 5 df) = 0.05.
	if p := chiSquareSF(11.0705, 5); math.Abs(p-0.05) > 1e-4 {
		t.Errorf("chi2 sf(11.07, 5) = %v, want 0.05", p)
	}
}

func TestKSByHand(t *testing.T) {
	var a, b sketch
	for i := 1; i <= 10; i++ {
		a.Add(float64(i))
		b.Add(float64(i + 5))
	}
	d, w := ksWasserstein(&a, &b)
	// F_a(5) = 0.5, F_b(5) = 0: the largest gap. The samples are 1..10 and
	// 6..15, one shifted by 5, so the area between the CDFs is 5 (within
	// the sketch's 0.5% per value).
	if d != 0.5 {
		t.Errorf("ks = %v, want 0.5", d)
	}
	if math.Abs(w-5) > 0.05 {
		t.Errorf("wasserstein = %v, want 5", w)
	}
	// λ = (√5 + 0.12 + 0.11/√5)·0.5, p = 2 Σ (−1)^(k−1) e^(−2k²λ²).
	lambda := (math.Sqrt(5) + 0.12 + 0.11/math.Sqrt(5)) * 0.5
	var want float64
	for k := 1; k <= 50; k++ {
		want += 2 * math.Pow(-1, float64(k-1)) * math.Exp(-2*float64(k*k)*lambda*lambda)
	}
	if p := ksPValue(d, 10, 10); math.Abs(p-want) > 1e-9 {
		t.Errorf("ks p = %v, want %v", p, want)
	}
	// The same sample: no distance.
	if d, w := ksWasserstein(&a, &a); d != 0 || w != 0 {
		t.Errorf("ks, w of a sample with itself = %v, %v", d, w)
	}
}

func TestShiftInReport(t *testing.T) {
	t.Run("labels", func(t *testing.T) {
		// Recorded 50 "a" / 50 "b", candidate 40 / 60.
		var rows []replay.Result
		for i := range 100 {
			rec, cand := "a", "a"
			if i >= 50 {
				rec = "b"
			}
			if i >= 40 {
				cand = "b"
			}
			rows = append(rows, v1Row(fmt.Sprint(i), `["`+rec+`"]`, `["`+cand+`"]`))
		}
		s := build(t, Options{}, rows).Shift
		if s == nil || s.Kind != "labels" || len(s.Classes) != 2 || s.Classes[0].Class != "a" || s.Classes[0].Candidate != 0.4 {
			t.Fatalf("shift %+v", s)
		}
		nearP(t, "psi", s.PSI, -0.1*math.Log(0.8)+0.1*math.Log(1.2))
		nearP(t, "p", s.PValue, math.Erfc(math.Sqrt(2*(25.0/45+25.0/55)/2)))
	})
	t.Run("scores", func(t *testing.T) {
		var rows []replay.Result
		for i := 1; i <= 100; i++ {
			rows = append(rows, v1Row(fmt.Sprint(i), fmt.Sprintf("[%d.5]", i), fmt.Sprintf("[%d.5]", i+10)))
		}
		s := build(t, Options{}, rows).Shift
		if s == nil || s.Kind != "scores" || s.Scores == nil {
			t.Fatalf("shift %+v", s)
		}
		// Candidate = recorded + 10 on 1.5..100.5: KS 0.1, W 10.
		nearP(t, "ks", s.Scores.KS, 0.1)
		if w := *s.Scores.Wasserstein; math.Abs(w-10) > 0.2 {
			t.Errorf("wasserstein %v, want 10", w)
		}
		// Bins at the recorded deciles 10.5, 20.5, …, 90.5 hold 10 recorded
		// values each; the candidate's 11.5..110.5 put 0 in the first, 10
		// in the next eight and 20 in the last.
		if len(s.Scores.Bins) != 9 || math.Abs(s.Scores.Bins[0]-10.5) > 0.06 {
			t.Errorf("bins %v", s.Scores.Bins)
		}
		nearP(t, "psi", s.PSI, (1e-4-0.1)*math.Log(1e-4/0.1)+(0.2-0.1)*math.Log(2))
	})
	t.Run("whole documents have none", func(t *testing.T) {
		r := row("x", "/api/thing", side{status: 200, body: `{"a": 1, "b": [1, 2]}`}, side{status: 200, body: `{"a": 2, "b": [1, 2]}`}, nil)
		rep := build(t, Options{By: "path"}, []replay.Result{r})
		if rep.Shift != nil || rep.Groups[0].Predictions != nil {
			t.Errorf("shift %+v, predictions %+v of whole JSON documents", rep.Shift, rep.Groups[0].Predictions)
		}
	})
	t.Run("text has none", func(t *testing.T) {
		r := row("x", "/v1/chat/completions", side{status: 200, body: `{"choices":[{"message":{"content":"hi"}}]}`},
			side{status: 200, body: `{"choices":[{"message":{"content":"ho"}}]}`}, nil)
		rep := build(t, Options{By: "path"}, []replay.Result{r})
		if rep.Shift != nil || rep.Groups[0].Predictions != nil {
			t.Errorf("shift of text: %+v", rep.Shift)
		}
	})
}
