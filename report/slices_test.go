package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/shadowctl/shadowctl/replay"
)

func groupByKey(t *testing.T, rep *Report, key string) Group {
	t.Helper()
	for _, g := range rep.Groups {
		if g.Key == key {
			return g
		}
	}
	var keys []string
	for _, g := range rep.Groups {
		keys = append(keys, g.Key)
	}
	t.Fatalf("no group %q in %v", key, keys)
	return Group{}
}

// sliceRows: three requests with a clinic header and field (the third has
// neither) and per-instance genders.
func sliceRows() []replay.Result {
	r1 := v1Row("r1", `[1, 0]`, `[1, 1]`)
	r1.RequestHeaders = append(r1.RequestHeaders, hdr("X-Clinic", "north"))
	r1.RequestBody = []byte(`{"clinic": "north", "instances": [{"g": "f"}, {"g": "m"}]}`)
	r2 := v1Row("r2", `[0]`, `[1]`)
	r2.RequestHeaders = append(r2.RequestHeaders, hdr("X-Clinic", "south"))
	r2.RequestBody = []byte(`{"clinic": "south", "instances": [{"g": "f"}]}`)
	r3 := v1Row("r3", `[1]`, `[1]`)
	r3.RequestBody = []byte(`{"instances": [{"g": "m"}]}`)
	return []replay.Result{r1, r2, r3}
}

func TestSlicesByHeaderAndRequestField(t *testing.T) {
	for _, by := range []string{"header:x-clinic", "request:$.clinic"} {
		t.Run(by, func(t *testing.T) {
			rep := build(t, Options{By: by, PositiveClass: "1"}, sliceRows())
			if len(rep.Groups) != 3 {
				t.Fatalf("groups %+v", rep.Groups)
			}
			north := groupByKey(t, rep, "north")
			if north.Exchanges != 1 || north.Predictions.Recorded.Count != 2 {
				t.Errorf("north: %d exchanges, %+v", north.Exchanges, north.Predictions.Recorded)
			}
			nearP(t, "north recorded positive rate", north.Predictions.Recorded.PositiveRate, 0.5)
			nearP(t, "north candidate positive rate", north.Predictions.Candidate.PositiveRate, 1)
			missing := groupByKey(t, rep, "(missing)")
			if missing.Exchanges != 1 || missing.Predictions.Candidate.Count != 1 {
				t.Errorf("(missing): %+v", missing)
			}
			if north.Accuracy != nil {
				t.Errorf("group accuracy without labels: %+v", north.Accuracy)
			}
		})
	}
}

func TestSlicesPerInstance(t *testing.T) {
	rep := build(t, Options{By: "request:$.instances[*].g", PositiveClass: "1"}, sliceRows())
	f, m := groupByKey(t, rep, "f"), groupByKey(t, rep, "m")
	// f: r1[0] (rec 1, cand 1) and r2[0] (rec 0, cand 1); m: r1[1] (0, 1)
	// and r3[0] (1, 1). r1 counts as an exchange in both.
	if f.Predictions.Recorded.Count != 2 || m.Predictions.Recorded.Count != 2 || f.Exchanges != 2 || m.Exchanges != 2 {
		t.Errorf("f %+v (%d exchanges), m %+v (%d)", f.Predictions.Recorded, f.Exchanges, m.Predictions.Recorded, m.Exchanges)
	}
	wantF := []ClassShare{{Class: "0", Count: 1, Share: 0.5}, {Class: "1", Count: 1, Share: 0.5}}
	if !reflect.DeepEqual(f.Predictions.Recorded.Classes, wantF) {
		t.Errorf("f recorded classes %+v, want %+v", f.Predictions.Recorded.Classes, wantF)
	}
	nearP(t, "f candidate positive rate", f.Predictions.Candidate.PositiveRate, 1)
	if rep.Exchanges != 3 {
		t.Errorf("exchanges %d, want 3 (the whole counts a row once)", rep.Exchanges)
	}
}

func TestSlicesCombined(t *testing.T) {
	rep := build(t, Options{By: "header:x-clinic", ByAlso: []string{"request:$.instances[*].g"}}, sliceRows())
	var keys []string
	for _, g := range rep.Groups {
		keys = append(keys, fmt.Sprintf("%s=%d", g.Key, g.Predictions.Recorded.Count))
	}
	want := map[string]bool{"north | f=1": true, "north | m=1": true, "south | f=1": true, "(missing) | m=1": true}
	if len(keys) != 4 {
		t.Fatalf("groups %v, want %v", keys, want)
	}
	for _, k := range keys {
		if !want[k] {
			t.Errorf("group %s not expected (want %v)", k, want)
		}
	}
}

// clinics builds one single-instance row per prediction, its request
// naming its clinic, and the labels of them.
type clinics struct {
	rows []replay.Result
	kv   []string
}

// add appends a clinic's rows: the recorded and candidate predictions and
// the labels, one each per instance; a candidate's -1 is a failed answer
// (a 500).
func (c *clinics) add(clinic string, rec, cand, label []int) {
	for i := range rec {
		id := fmt.Sprintf("%s-%d", clinic, i)
		r := v1Row(id, fmt.Sprintf("[%d]", rec[i]), fmt.Sprintf("[%d]", cand[i]))
		if cand[i] < 0 {
			r = row(id, v1Path, side{status: 200, body: fmt.Sprintf(`{"predictions":[%d]}`, rec[i]), lat: 1},
				side{status: 500, kind: replay.KindHTTP5xx, lat: 1}, nil)
		}
		r.RequestBody = []byte(`{"clinic": "` + clinic + `"}`)
		c.rows = append(c.rows, r)
		c.kv = append(c.kv, id, fmt.Sprint(label[i]))
	}
}

// TestBiasGapsByHand: two clinics of four labeled instances and one of one.
func TestBiasGapsByHand(t *testing.T) {
	var c clinics
	add := c.add
	add("north", []int{1, 1, 0, 0}, []int{1, 1, 1, 0}, []int{1, 0, 1, 0})
	add("south", []int{1, 0, 0, 0}, []int{1, 0, 0, 0}, []int{1, 1, 0, 0})
	add("tiny", []int{1}, []int{1}, []int{1})
	rep := build(t, Options{By: "request:$.clinic", PositiveClass: "1", MinGroup: 2, Labels: labelsOf(t, c.kv...)}, c.rows)
	b := rep.Bias
	if b == nil {
		t.Fatal("no bias")
	}
	if !reflect.DeepEqual(b.Excluded, []string{"tiny"}) || b.MinGroup != 2 || b.PositiveClass != "1" || b.By != "request:$.clinic" {
		t.Errorf("bias settings %+v", b)
	}
	// Positive rates: recorded north 2/4, south 1/4 → gap 0.25; candidate
	// 3/4 and 1/4 → 0.5.
	nearP(t, "recorded parity", b.Recorded.ParityGap, 0.25)
	nearP(t, "candidate parity", b.Candidate.ParityGap, 0.5)
	if !reflect.DeepEqual(b.Candidate.ParityGroups, []string{"north", "south"}) || b.Candidate.GroupsUsed != 2 {
		t.Errorf("candidate parity groups %v used %d", b.Candidate.ParityGroups, b.Candidate.GroupsUsed)
	}
	// True-positive rates: recorded north 1/2 (labels 1 at 0 and 2, predicted
	// 1 and 0), south 1/2 → gap 0; candidate north 2/2, south 1/2 → 0.5.
	nearP(t, "recorded opportunity", b.Recorded.OpportunityGap, 0)
	nearP(t, "candidate opportunity", b.Candidate.OpportunityGap, 0.5)
	nearP(t, "delta parity", b.Delta.ParityGap, 0.25)
	nearP(t, "delta opportunity", b.Delta.OpportunityGap, 0.5)

	north := groupByKey(t, rep, "north")
	// Recorded right on 0 and 3 (2/4), candidate on 0, 2, 3 (3/4).
	if north.Accuracy.Recorded.Correct != 2 || north.Accuracy.Candidate.Correct != 3 {
		t.Errorf("north accuracy %+v %+v", north.Accuracy.Recorded, north.Accuracy.Candidate)
	}
	nearP(t, "north delta", north.Accuracy.Delta, 0.25)
	nearP(t, "north candidate tpr", north.Accuracy.Candidate.TruePositiveRate, 1)
	if tiny := groupByKey(t, rep, "tiny"); tiny.Predictions == nil {
		t.Error("a small group is still shown")
	}

	// A gate on the delta reads it.
	if _, err := rep.Evaluate([]Gate{mustGate(t, "bias.delta.parity_gap > 0.02")}); err != nil {
		t.Fatal(err)
	}
	if rep.Passed || rep.Gates[0].Value == nil || *rep.Gates[0].Value != 0.25 {
		t.Errorf("gate %+v", rep.Gates[0])
	}
}

func mustGate(t *testing.T, expr string) Gate {
	t.Helper()
	g, err := ParseGate(expr)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestBiasNeedsPositiveClassAndGroups(t *testing.T) {
	if rep := build(t, Options{By: "request:$.clinic"}, sliceRows()); rep.Bias != nil {
		t.Errorf("bias without a positive class: %+v", rep.Bias)
	}
	if rep := build(t, Options{PositiveClass: "1"}, sliceRows()); rep.Bias != nil {
		t.Errorf("bias without groups: %+v", rep.Bias)
	}
}

// TestSlicePredsMerge: a group's counts from two halves, one sent through
// encoding/json, merge into those of the whole.
func TestSlicePredsMerge(t *testing.T) {
	rows := sliceRows()
	opts := Options{By: "request:$.instances[*].g", PositiveClass: "1", Labels: labelsOf(t, "r1", "[1, 1]", "r2", "0", "r3", "1")}
	whole, err := NewBuilder(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		whole.Add(&rows[i])
	}
	var halves [2]*Builder
	for h := range halves {
		opts.Labels = labelsOf(t, "r1", "[1, 1]", "r2", "0", "r3", "1")
		halves[h], _ = NewBuilder(opts)
	}
	halves[0].Add(&rows[0])
	halves[1].Add(&rows[1])
	halves[1].Add(&rows[2])
	for _, key := range []string{"f", "m"} {
		js, err := json.Marshal(halves[1].groups[key].preds)
		if err != nil {
			t.Fatal(err)
		}
		var second slicePreds
		if err := json.Unmarshal(js, &second); err != nil {
			t.Fatal(err)
		}
		got := *halves[0].groups[key].preds
		got.merge(&second)
		if !reflect.DeepEqual(got, *whole.groups[key].preds) {
			t.Errorf("group %s merged %+v, whole %+v", key, got, *whole.groups[key].preds)
		}
	}
}

// TestSeveralSlicesNamed: with several slices the groups' keys combine
// their values ("/v1/... | POST"), so the section, its key column and the
// chart name every slice, not only the first.
func TestSeveralSlicesNamed(t *testing.T) {
	rep := build(t, Options{By: "path", ByAlso: []string{"method", "header:x-clinic"}, PositiveClass: "1"}, sliceRows())
	const name = "path | method | header:x-clinic"
	if g := rep.Groups[0]; g.Key != v1Path+" | POST | north" && g.Key != v1Path+" | POST | south" && g.Key != v1Path+" | POST | (missing)" {
		t.Fatalf("group key %q is not the combined values", g.Key)
	}
	for _, c := range []struct{ format, title, header string }{
		{"table", "\nBy " + name + "\n", "│ " + name + " "},
		{"markdown", "\n## By " + name + "\n", `| path \| method \| header:x-clinic | exchanges`},
		{"html", "<h3>By " + name + "</h3>", "<th>" + name + "</th><th>exchanges</th>"},
	} {
		var buf bytes.Buffer
		if err := rep.Write(&buf, c.format); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		for _, want := range []string{c.title, c.header, "Predictions by " + name} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: no %q", c.format, want)
			}
		}
		if c.format == "html" && !strings.Contains(out, "Agreement by "+name+"</figcaption>") {
			t.Errorf("html: the groups chart is not titled by every slice")
		}
	}
}

// TestBiasCountsAFailedAnswerAsNotPositive: a group's size is its
// instances, the same for every side, so a side that failed in a group
// neither drops it from the gaps nor shrinks its positive rate's
// denominator (Fairlearn's selection rate is over every sample; a failed
// answer is no positive prediction, as it is no right one for accuracy).
func TestBiasCountsAFailedAnswerAsNotPositive(t *testing.T) {
	var c clinics
	add := c.add // cand -1: the candidate failed (a 500) on that instance
	add("north", []int{1, 1, 0, 0}, []int{1, 1, 0, 0}, []int{1, 0, 1, 0})
	add("d", []int{1, 1, 1, 0}, []int{1, -1, -1, 0}, []int{1, 1, 0, 0})
	add("tiny", []int{1}, []int{1}, []int{1})
	rep := build(t, Options{By: "request:$.clinic", PositiveClass: "1", MinGroup: 3, Labels: labelsOf(t, c.kv...)}, c.rows)
	b := rep.Bias
	if b == nil {
		t.Fatal("no bias")
	}
	if !reflect.DeepEqual(b.Excluded, []string{"tiny"}) || b.Recorded.GroupsUsed != 2 || b.Candidate.GroupsUsed != 2 {
		t.Errorf("excluded %v, groups used %d and %d; want [tiny], 2 and 2", b.Excluded, b.Recorded.GroupsUsed, b.Candidate.GroupsUsed)
	}
	// Positive rates: recorded north 2/4, d 3/4 → 0.25; candidate north
	// 2/4, d 1/4 (two of its four failed) → 0.25.
	nearP(t, "recorded parity", b.Recorded.ParityGap, 0.25)
	nearP(t, "candidate parity", b.Candidate.ParityGap, 0.25)
	nearP(t, "delta parity", b.Delta.ParityGap, 0)
	if !reflect.DeepEqual(b.Candidate.ParityGroups, []string{"north", "d"}) {
		t.Errorf("candidate parity groups %v, want north (highest) and d", b.Candidate.ParityGroups)
	}
	// True-positive rates (labels 1 at north 0, 2 and d 0, 1): recorded
	// north 1/2, d 2/2 → 0.5; candidate north 1/2, d 1/2 → 0.
	nearP(t, "recorded opportunity", b.Recorded.OpportunityGap, 0.5)
	nearP(t, "candidate opportunity", b.Candidate.OpportunityGap, 0)
	nearP(t, "delta opportunity", b.Delta.OpportunityGap, -0.5)
	d := groupByKey(t, rep, "d")
	if c := d.Predictions.Candidate; c.Count != 2 {
		t.Errorf("d candidate count %d, want the 2 it answered", c.Count)
	}
	nearP(t, "d candidate positive rate", d.Predictions.Candidate.PositiveRate, 0.25)
	nearP(t, "d candidate accuracy", d.Accuracy.Candidate.Rate, 0.5)
}

// TestBiasAndClassesTakeOneForOnePointZero: a prediction 1 is right for a
// label written 1.0 (accuracy), and is that class everywhere else too: in
// the per-class scores and in the bias's positive class.
func TestBiasAndClassesTakeOneForOnePointZero(t *testing.T) {
	rows := []replay.Result{v1Row("a0", "[1]", "[1]"), v1Row("a1", "[0]", "[0]"), v1Row("b0", "[1]", "[0]"), v1Row("b1", "[0]", "[0]")}
	for i, c := range []string{"a", "a", "b", "b"} {
		rows[i].RequestBody = []byte(`{"clinic": "` + c + `"}`)
	}
	labels := labelsOf(t, "a0", "1.0", "a1", "0.0", "b0", "1", "b1", "0")
	rep := build(t, Options{By: "request:$.clinic", PositiveClass: "1", MinGroup: 1, Labels: labels}, rows)
	acc := rep.Accuracy
	nearP(t, "recorded accuracy", acc.Recorded.Rate, 1)
	nearP(t, "recorded macro-F1", acc.Recorded.MacroF1, 1)
	// Candidate: class 1 precision 1/1, recall 1/2 → F1 2/3; class 0
	// precision 2/3, recall 2/2 → F1 0.8; macro (2/3 + 0.8) / 2.
	nearP(t, "candidate macro-F1", acc.Candidate.MacroF1, (2.0/3+0.8)/2)
	// TPR: recorded a 1/1, b 1/1 → 0; candidate a 1/1, b 0/1 → 1.
	nearP(t, "recorded opportunity", rep.Bias.Recorded.OpportunityGap, 0)
	nearP(t, "candidate opportunity", rep.Bias.Candidate.OpportunityGap, 1)
	nearP(t, "a recorded TPR", groupByKey(t, rep, "a").Accuracy.Recorded.TruePositiveRate, 1)
}
