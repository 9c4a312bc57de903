package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/shadowctl/shadowctl/record"
	"github.com/shadowctl/shadowctl/replay"
)

const v1Path = "/v1/models/m:predict"

// v1Row is a single- or multi-instance KServe V1 row: the recorded and
// candidate predictions as JSON lists.
func v1Row(id, rec, cand string) replay.Result {
	return row(id, v1Path, side{status: 200, body: `{"predictions":` + rec + `}`, lat: 1},
		side{status: 200, body: `{"predictions":` + cand + `}`, lat: 1}, nil)
}

func labelsOf(t *testing.T, kv ...string) *Labels {
	t.Helper()
	l := &Labels{}
	for i := 0; i < len(kv); i += 2 {
		if err := l.Set(kv[i], kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// build is buildRows (build_test.go), which also fails on a label error.
func build(t *testing.T, opts Options, rows []replay.Result) *Report {
	t.Helper()
	return buildRows(t, opts, rows)
}

func nearP(t *testing.T, what string, got *float64, want float64) {
	t.Helper()
	if got == nil {
		t.Errorf("%s = null, want %v", what, want)
		return
	}
	if math.Abs(*got-want) > 1e-9 {
		t.Errorf("%s = %v, want %v", what, *got, want)
	}
}

// classScore finds a class in a per-class list.
func classScore(t *testing.T, s *SideAccuracy, class string) ClassScore {
	t.Helper()
	for _, c := range s.PerClass {
		if c.Class == class {
			return c
		}
	}
	t.Fatalf("class %q not in %+v", class, s.PerClass)
	return ClassScore{}
}

// TestAccuracyByHand: ten labeled single-instance requests, every figure
// worked out by hand in the comments.
func TestAccuracyByHand(t *testing.T) {
	truth := []string{"a", "a", "a", "a", "b", "b", "b", "b", "c", "c"}
	rec := []string{"a", "a", "a", "b", "b", "b", "b", "a", "c", "b"}  // 7 right
	cand := []string{"a", "a", "a", "a", "b", "b", "a", "a", "c", "c"} // 8 right
	var rows []replay.Result
	var kv []string
	for i := range truth {
		id := fmt.Sprintf("r%d", i)
		rows = append(rows, v1Row(id, `["`+rec[i]+`"]`, `["`+cand[i]+`"]`))
		kv = append(kv, id, truth[i])
	}
	// One row without a label (one instance), and two labels without a row.
	rows = append(rows, v1Row("nolabel", `["a"]`, `["a"]`))
	kv = append(kv, "ghost1", "a", "ghost2", "b")
	rep := build(t, Options{Labels: labelsOf(t, kv...)}, rows)
	a := rep.Accuracy
	if a == nil {
		t.Fatal("no accuracy")
	}
	if a.Labeled != 10 || a.Unlabeled != 1 || a.LabelsUnmatched != 2 || a.Key != "id" {
		t.Errorf("labeled %d unlabeled %d unmatched %d key %q, want 10 1 2 id", a.Labeled, a.Unlabeled, a.LabelsUnmatched, a.Key)
	}
	if a.Baseline != nil {
		t.Errorf("baseline accuracy without a baseline: %+v", a.Baseline)
	}
	r, c := a.Recorded, a.Candidate
	if r.Count != 10 || r.Correct != 7 || c.Count != 10 || c.Correct != 8 {
		t.Fatalf("recorded %d/%d, candidate %d/%d; want 7/10 and 8/10", r.Correct, r.Count, c.Correct, c.Count)
	}
	nearP(t, "candidate rate", c.Rate, 0.8)
	// Wilson 95% for 8/10 (z = 1.96): centre (0.8 + z²/20)/(1 + z²/10),
	// half-width z/(1+z²/10)·√(0.016 + z²/400).
	z := 1.959963984540054
	den := 1 + z*z/10
	centre, half := (0.8+z*z/20)/den, z/den*math.Sqrt(0.8*0.2/10+z*z/400)
	nearP(t, "candidate ci95_low", c.CI95Low, centre-half)
	nearP(t, "candidate ci95_high", c.CI95High, centre+half)

	// Candidate: class a TP 4 of 6 predicted, 4 true → P 2/3, R 1, F1 0.8;
	// b TP 2 of 2, 4 true → P 1, R 1/2, F1 2/3; c TP 2 of 2, 2 true → 1.
	for _, w := range []struct {
		class    string
		p, r, f1 float64
		support  int64
	}{{"a", 2.0 / 3, 1, 0.8, 4}, {"b", 1, 0.5, 2.0 / 3, 4}, {"c", 1, 1, 1, 2}} {
		cs := classScore(t, c, w.class)
		nearP(t, "candidate precision "+w.class, cs.Precision, w.p)
		nearP(t, "candidate recall "+w.class, cs.Recall, w.r)
		nearP(t, "candidate f1 "+w.class, cs.F1, w.f1)
		if cs.Support != w.support {
			t.Errorf("support %s = %d, want %d", w.class, cs.Support, w.support)
		}
	}
	nearP(t, "candidate macro_f1", c.MacroF1, (0.8+2.0/3+1)/3)
	// Recorded: a 3/4 predicted, 4 true → F1 0.75; b 3 of 5, 4 true → P 0.6,
	// R 0.75, F1 2/3; c 1 of 1, 2 true → P 1, R 0.5, F1 2/3.
	nearP(t, "recorded f1 b", classScore(t, r, "b").F1, 2*0.6*0.75/(0.6+0.75))
	nearP(t, "recorded macro_f1", r.MacroF1, (0.75+2.0/3+2.0/3)/3)
	if r.MAE != nil || r.RMSE != nil {
		t.Errorf("MAE/RMSE for class labels: %v %v", r.MAE, r.RMSE)
	}

	// Discordant pairs: r6 recorded right, candidate wrong (b = 1); r3 and
	// r9 the reverse (c = 2). Delta (c − b)/n = 0.1.
	if a.McNemar == nil || a.McNemar.B != 1 || a.McNemar.C != 2 {
		t.Fatalf("mcnemar %+v, want b 1 c 2", a.McNemar)
	}
	// Exact: 2·P(X <= 1), X ~ Bin(3, 1/2) = 2·(1+3)/8 = 1.
	nearP(t, "mcnemar p", a.McNemar.PValue, 1)
	nearP(t, "delta rate", a.Delta.Rate, 0.1)
	// Agresti–Min: b' = 1.5, c' = 2.5, n' = 12; d = 1/12,
	// se = √(4 − 1/12)/12.
	d, se := 1.0/12, math.Sqrt(4-1.0/12)/12
	nearP(t, "delta ci95_low", a.Delta.CI95Low, d-z*se)
	nearP(t, "delta ci95_high", a.Delta.CI95High, d+z*se)
	if a.Delta.Count != 10 {
		t.Errorf("delta count %d, want 10", a.Delta.Count)
	}
}

// TestMcNemarExactTable checks the exact p-value against the binomial
// table of n = b + c trials with p = 1/2.
func TestMcNemarExactTable(t *testing.T) {
	for _, c := range []struct {
		b, c int64
		want float64
	}{
		{0, 0, 1},
		{1, 9, 2 * (1.0 + 10) / 1024},        // C(10,0)+C(10,1) = 11
		{8, 2, 2 * (1.0 + 10 + 45) / 1024},   // + C(10,2) = 45, symmetric
		{0, 5, 2 * 1.0 / 32},                 // 2·(1/2)^5
		{3, 3, 1},                            // 2·P(X<=3 | n=6) = 2·42/64 > 1
		{2, 12, 2 * (1.0 + 14 + 91) / 16384}, // n = 14
	} {
		if got := mcnemarExact(c.b, c.c); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("mcnemar(%d, %d) = %v, want %v", c.b, c.c, got, c.want)
		}
	}
	// Large counts stay finite and in [0, 1].
	if p := mcnemarExact(500000, 501000); !(p > 0 && p <= 1) {
		t.Errorf("mcnemar of a million = %v", p)
	}
}

func TestAccuracyBatchesFailuresAndBaseline(t *testing.T) {
	base := func(body string) *side { return &side{status: 200, body: body, lat: 1} }
	rows := []replay.Result{
		// A batch of 3: recorded right on all, candidate on 2, baseline on 3.
		row("b1", v1Path, side{status: 200, body: `{"predictions":[1,0,1]}`}, side{status: 200, body: `{"predictions":[1,1,1]}`}, base(`{"predictions":[1,0,1]}`)),
		// The candidate fails: wrong on both instances.
		row("b2", v1Path, side{status: 200, body: `{"predictions":[0,0]}`}, side{status: 500, kind: replay.KindHTTP5xx}, base(`{"predictions":[0,0]}`)),
		// Production failed: left out of accuracy, but its label counts as
		// matched.
		row("b3", v1Path, side{status: 503}, side{status: 200, body: `{"predictions":[0]}`}, base(`{"predictions":[0]}`)),
	}
	labels := &Labels{}
	for _, kv := range [][2]any{{"b1", []any{int64(1), int64(0), int64(1)}}, {"b2", "[0, 0]"}, {"b3", int64(0)}} {
		if err := labels.Set(kv[0].(string), kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	a := build(t, Options{Labels: labels}, rows).Accuracy
	if a.Labeled != 5 || a.LabelsUnmatched != 0 {
		t.Errorf("labeled %d unmatched %d, want 5 0", a.Labeled, a.LabelsUnmatched)
	}
	if a.Recorded.Correct != 5 || a.Candidate.Correct != 2 || a.Baseline.Correct != 5 || a.Baseline.Count != 5 {
		t.Errorf("correct rec %d cand %d base %d/%d; want 5 2 5/5", a.Recorded.Correct, a.Candidate.Correct, a.Baseline.Correct, a.Baseline.Count)
	}
	if a.McNemar.B != 3 || a.McNemar.C != 0 {
		t.Errorf("mcnemar %+v, want b 3 c 0", a.McNemar)
	}
	// Class 0 for the candidate: true 3 (b1[1], b2 ×2), predicted 0 times
	// (the failure predicts nothing): precision 0 by convention, recall 0.
	c0 := classScore(t, a.Candidate, "0")
	nearP(t, "candidate recall 0", c0.Recall, 0)
	nearP(t, "candidate precision 0", c0.Precision, 0)
	// Class 1: TP 2, predicted 3, true 2: P 2/3, R 1.
	nearP(t, "candidate precision 1", classScore(t, a.Candidate, "1").Precision, 2.0/3)
}

func TestAccuracyNumericLabels(t *testing.T) {
	rows := []replay.Result{
		v1Row("n1", `[1.5, 2.0]`, `[1.0, 2.5]`),
		v1Row("n2", `[3.25]`, `[4.0]`),
	}
	a := build(t, Options{Labels: labelsOf(t, "n1", "[1.5, 3]", "n2", "3.0")}, rows).Accuracy
	// Recorded errors: 0, −1, 0.25 → MAE 1.25/3, RMSE √(1.0625/3).
	nearP(t, "recorded mae", a.Recorded.MAE, 1.25/3)
	nearP(t, "recorded rmse", a.Recorded.RMSE, math.Sqrt(1.0625/3))
	// Candidate errors: −0.5, −0.5, 1 → MAE 2/3, RMSE √(1.5/3).
	nearP(t, "candidate mae", a.Candidate.MAE, 2.0/3)
	nearP(t, "candidate rmse", a.Candidate.RMSE, math.Sqrt(1.5/3))
	if a.Recorded.Correct != 1 || a.Candidate.Correct != 0 {
		t.Errorf("exact matches rec %d cand %d, want 1 0", a.Recorded.Correct, a.Candidate.Correct)
	}
}

func TestAccuracyLabelKeys(t *testing.T) {
	r1 := v1Row("id-1", `["x"]`, `["y"]`)
	r1.RequestBody = []byte(`{"id": 17, "instances": [[1]]}`)
	r1.RequestHeaders = append(r1.RequestHeaders, hdr("X-Request-Id", "h-1"))
	for _, c := range []struct{ key, label string }{{"id", "id-1"}, {"header:x-request-id", "h-1"}, {"request:$.id", "17"}} {
		t.Run(c.key, func(t *testing.T) {
			a := build(t, Options{Labels: labelsOf(t, c.label, "x"), LabelKey: c.key}, []replay.Result{r1}).Accuracy
			if a.Labeled != 1 || a.Recorded.Correct != 1 || a.Candidate.Correct != 0 || a.Key != c.key {
				t.Errorf("%+v", a)
			}
		})
	}
	if _, err := NewBuilder(Options{Labels: &Labels{}, LabelKey: "path"}); err == nil || !strings.Contains(err.Error(), "LabelKey") {
		t.Errorf("label key path: err %v, want an OptionError on LabelKey", err)
	}
}

func TestAccuracyBatchLabelOfWrongLength(t *testing.T) {
	b, err := NewBuilder(Options{Labels: labelsOf(t, "w", "[1, 0]")})
	if err != nil {
		t.Fatal(err)
	}
	r := v1Row("w", `[1, 0, 1]`, `[1, 0, 1]`)
	b.Add(&r)
	err = b.Err()
	if !errors.Is(err, ErrLabels) || !strings.Contains(err.Error(), `key "w" has 2 value(s), the answer 3 instance(s)`) {
		t.Errorf("err = %v, want ErrLabels naming the lengths", err)
	}
}

// TestAccuracyStateMerges: two halves aggregated apart, one sent through
// encoding/json, merged, report what the whole does.
func TestAccuracyStateMerges(t *testing.T) {
	var rows []replay.Result
	var kv []string
	for i := range 40 {
		id := fmt.Sprintf("m%d", i)
		rows = append(rows, v1Row(id, fmt.Sprintf(`[%d]`, i%3), fmt.Sprintf(`[%d]`, i%4)))
		kv = append(kv, id, fmt.Sprint(i%2))
	}
	whole := build(t, Options{Labels: labelsOf(t, kv...)}, rows)
	halves := make([]*Builder, 2)
	for h := range halves {
		b, err := NewBuilder(Options{Labels: labelsOf(t, kv...)})
		if err != nil {
			t.Fatal(err)
		}
		for i := h * 20; i < (h+1)*20; i++ {
			b.Add(&rows[i])
		}
		halves[h] = b
	}
	var second truthState
	js, err := json.Marshal(halves[1].truth)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &second); err != nil {
		t.Fatal(err)
	}
	halves[0].truth.merge(&second)
	var sh shiftState
	js, _ = json.Marshal(&halves[1].shift)
	if err := json.Unmarshal(js, &sh); err != nil {
		t.Fatal(err)
	}
	halves[0].shift.merge(&sh)
	got := halves[0].truth.report("id", 0, 10)
	want := whole.Accuracy
	want.LabelsUnmatched = 0
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("merged halves:\n%s\nwhole:\n%s", gj, wj)
	}
	gj, _ = json.Marshal(halves[0].shift.report())
	wj, _ = json.Marshal(whole.Shift)
	if string(gj) != string(wj) {
		t.Errorf("merged shift:\n%s\nwhole:\n%s", gj, wj)
	}
}

func hdr(name, value string) record.Header { return record.Header{Name: name, Value: value} }

// TestErrorsOverTheFiniteOnes: one label of Inf makes its error infinite;
// MAE and RMSE are over the other pairs, not null for all.
func TestErrorsOverTheFiniteOnes(t *testing.T) {
	rows := []replay.Result{v1Row("r0", "[2.5]", "[2.5]"), v1Row("r1", "[1.0]", "[1.0]"), v1Row("r2", "[3.5]", "[3.5]")}
	rep := build(t, Options{Labels: labelsOf(t, "r0", "2", "r1", "1.5", "r2", "inf")}, rows)
	// Errors 0.5, -0.5 (and -Inf): MAE 0.5, RMSE sqrt((0.25 + 0.25) / 2).
	nearP(t, "MAE", rep.Accuracy.Recorded.MAE, 0.5)
	nearP(t, "RMSE", rep.Accuracy.Recorded.RMSE, 0.5)
}
