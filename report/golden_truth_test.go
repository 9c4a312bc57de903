package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/shadowctl/shadowctl/replay"
)

// TestGoldenTruth: labels, slices, bias and a baseline, in every format.
// The plain golden files (plain.txt) show that none of it appears without
// labels, groups or a positive class.
func TestGoldenTruth(t *testing.T) {
	rep := truthReport(t)
	for _, c := range []struct{ format, file string }{
		{"json", "truth.json"}, {"table", "truth.txt"}, {"markdown", "truth.md"}, {"junit", "truth.xml"},
	} {
		var buf bytes.Buffer
		if err := rep.Write(&buf, c.format); err != nil {
			t.Fatal(err)
		}
		golden(t, c.file, buf.Bytes())
		if c.format != "json" {
			for _, want := range []string{"ccuracy", "McNemar", "PSI", "arity gap"} {
				if !strings.Contains(buf.String(), want) {
					t.Errorf("%s lacks %q", c.format, want)
				}
			}
		}
	}
}

// truthReport is the golden truth fixture: labels, a request-field slice,
// bias with a positive class, a baseline and two gates.
func truthReport(t *testing.T) *Report {
	t.Helper()
	var rows []replay.Result
	var kv []string
	add := func(clinic string, rec, cand, label []int) {
		for i := range rec {
			id := fmt.Sprintf("%s-%d", clinic, i)
			r := row(id, v1Path, side{status: 200, body: fmt.Sprintf(`{"predictions":[%d]}`, rec[i]), lat: 10},
				side{status: 200, body: fmt.Sprintf(`{"predictions":[%d]}`, cand[i]), lat: 12},
				&side{status: 200, body: fmt.Sprintf(`{"predictions":[%d]}`, rec[i]), lat: 11})
			r.RequestBody = []byte(`{"clinic": "` + clinic + `"}`)
			rows = append(rows, r)
			kv = append(kv, id, fmt.Sprint(label[i]))
		}
	}
	add("north", []int{1, 1, 0, 0}, []int{1, 1, 1, 0}, []int{1, 0, 1, 0})
	add("south", []int{1, 0, 0, 0}, []int{1, 0, 0, 0}, []int{1, 1, 0, 0})
	add("tiny", []int{1}, []int{1}, []int{1})
	rep := build(t, Options{By: "request:$.clinic", PositiveClass: "1", MinGroup: 2, Labels: labelsOf(t, kv...)}, rows)
	if _, err := rep.Evaluate([]Gate{mustGate(t, "accuracy.delta.ci95_low < -0.01"), mustGate(t, "bias.delta.parity_gap > 0.02")}); err != nil {
		t.Fatal(err)
	}
	return rep
}
