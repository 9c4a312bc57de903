package report

import (
	"testing"

	"github.com/shadowctl/shadowctl/replay"
)

// TestMemberFastPath: a plain member path found by scanning gives what the
// general JSONPath gives on the decoded body.
func TestMemberFastPath(t *testing.T) {
	bodies := []string{
		`{"id": "a1", "region": "eu", "instances": [[1, 2], [3, 4]]}`,
		`{"instances": [{"id": "x"}], "meta": {"region": "us", "n": [1, {"id": 2}]}, "id": 17}`,
		`{"s": "with \"quotes\" and , } ]", "id": true, "region": null}`,
		`{"id": "esc\u00e9", "region": 2.5}`,
		`{"region": {"deep": [1, 2]}}`,
		`[1, 2]`,
		`not json`,
		``,
	}
	for _, path := range []string{"$.id", "$.region", "$.meta.region", "$.meta.n", "$.missing"} {
		fast, err := parseSelector("request:"+path, false, false)
		if err != nil || fast.members == nil {
			t.Fatalf("%s: no fast path (%v)", path, err)
		}
		slow := fast
		slow.members = nil
		dec := newDecoder()
		for _, body := range bodies {
			r := replay.Result{RequestBody: []byte(body)}
			got := fast.values(&rowRequest{r: &r, dec: &dec}, nil)
			want := slow.values(&rowRequest{r: &r, dec: &dec}, nil)
			if len(got) != 1 || len(want) != 1 || got[0] != want[0] {
				t.Errorf("%s in %s: scanned %q, decoded %q", path, body, got, want)
			}
		}
	}
	if _, ok := memberNames("$.instances[*].g"); ok {
		t.Error("a wildcard path took the fast path")
	}
}
