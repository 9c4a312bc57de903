package report

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/shadowctl/shadowctl/replay"
)

// labeledRows are rows of three clinics with a label for most of them,
// and label keys no row asks for.
func labeledRows(n int) ([]replay.Result, []string) {
	var rows []replay.Result
	var kv []string
	for i := range n {
		id := fmt.Sprintf("r%04d", i)
		rec, cand := i%3, (i/2)%3
		r := row(id, v1Path, side{status: 200, body: fmt.Sprintf(`{"predictions":[%d]}`, rec), lat: int64(10 + i%7)},
			side{status: 200, body: fmt.Sprintf(`{"predictions":[%d]}`, cand), lat: int64(12 + i%5)}, nil)
		r.RequestBody = []byte(fmt.Sprintf(`{"clinic":"c%d"}`, i%3))
		rows = append(rows, r)
		if i%10 != 0 { // a tenth has no label
			kv = append(kv, id, fmt.Sprint((i/3)%3))
		}
	}
	for i := range 25 { // labels no exchange asks for
		kv = append(kv, fmt.Sprintf("extra%d", i), "1")
	}
	return rows, kv
}

// Each shard reads the label file itself; the merged states give the
// report over all rows, labels_unmatched too (a label is unmatched only
// if no shard asked for it).
func TestStateMergesAccuracyAgainstLabels(t *testing.T) {
	rows, kv := labeledRows(600)
	opts := func() Options {
		return Options{By: "request:$.clinic", PositiveClass: "1", MinGroup: 2, Labels: labelsOf(t, kv...)}
	}
	want := build(t, opts(), rows)
	if want.Accuracy == nil || want.Accuracy.LabelsUnmatched != 25 {
		t.Fatalf("accuracy %+v: want 25 labels unmatched", want.Accuracy)
	}
	for _, parts := range []int{2, 7} {
		var merged *Builder
		for k := range parts {
			s := stateOf(t, opts(), rows[k*len(rows)/parts:(k+1)*len(rows)/parts])
			if merged == nil {
				merged = s
			} else if err := merged.Merge(s); err != nil {
				t.Fatal(err)
			}
		}
		assertSameReport(t, merged.Report(), want)
	}
}

func TestStateLabelsMustBeTheSameSet(t *testing.T) {
	rows, kv := labeledRows(60)
	a := stateOf(t, Options{Labels: labelsOf(t, kv...)}, rows[:30])
	b := stateOf(t, Options{Labels: labelsOf(t, append(kv, "one-more", "0")...)}, rows[30:])
	if err := a.Merge(b); !errors.Is(err, ErrLabelSet) {
		t.Errorf("merging states of two label sets: %v, want ErrLabelSet", err)
	}
	plain := stateOf(t, Options{}, rows[30:])
	if err := a.Merge(plain); err == nil || !strings.Contains(err.Error(), "Labels") {
		t.Errorf("merging a state with labels and one without: %v, want an option mismatch", err)
	}
}

func TestStateLabelsRefuseDamage(t *testing.T) {
	rows, kv := labeledRows(60)
	good := stateText(t, Options{Labels: labelsOf(t, kv...)}, rows)
	for _, c := range []struct{ name, old, new string }{
		{"a McNemar count past its pairs", `"B":`, `"B":9999`},
		{"fewer bytes than labels", `"count":79`, `"count":799`},
		{"accuracy in a state without labels", `"labels":true`, `"labels":false`},
	} {
		if !strings.Contains(good, c.old) {
			t.Fatalf("%s: the state lacks %q", c.name, c.old)
		}
		if _, err := ReadState(strings.NewReader(strings.Replace(good, c.old, c.new, 1))); !errors.Is(err, ErrStateFormat) {
			t.Errorf("%s: %v, want ErrStateFormat", c.name, err)
		}
	}
}
