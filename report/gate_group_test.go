package report

import (
	"fmt"
	"testing"

	"github.com/shadowctl/shadowctl/replay"
)

// An accuracy gate holds in every group too: "v2 at least 70% right in
// each clinic", with the groups' accuracy counted by hand.
func TestAccuracyGatesApplyPerGroup(t *testing.T) {
	var rows []replay.Result
	var kv []string
	add := func(clinic string, cand, label []int) {
		for i := range cand {
			id := fmt.Sprintf("%s-%d", clinic, i)
			r := row(id, v1Path, side{status: 200, body: fmt.Sprintf(`{"predictions":[%d]}`, label[i]), lat: 10},
				side{status: 200, body: fmt.Sprintf(`{"predictions":[%d]}`, cand[i]), lat: 12}, nil)
			r.RequestBody = []byte(`{"clinic": "` + clinic + `"}`)
			rows = append(rows, r)
			kv = append(kv, id, fmt.Sprint(label[i]))
		}
	}
	add("north", []int{1, 1, 0, 0}, []int{1, 1, 0, 0}) // 4 of 4 right
	add("south", []int{1, 1, 1, 0}, []int{0, 0, 1, 0}) // 2 of 4 right
	rep := build(t, Options{By: "request:$.clinic", Labels: labelsOf(t, kv...)}, rows)
	passed, err := rep.Evaluate([]Gate{mustGate(t, "accuracy.candidate.rate < 0.7")})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, g := range rep.Gates {
		if g.Value == nil {
			t.Fatalf("gate %+v has no value", g)
		}
		got[g.Group] = *g.Value
		if g.Passed != (*g.Value >= 0.7) {
			t.Errorf("gate %+v: passed %v", g, g.Passed)
		}
	}
	// 6 of 8 overall; north 4/4, south 2/4.
	if len(got) != 3 || got[""] != 0.75 || got["north"] != 1 || got["south"] != 0.5 || passed {
		t.Errorf("gate values %v, passed %v; want overall 0.75, north 1, south 0.5 and a failure", got, passed)
	}
}
