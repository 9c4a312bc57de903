package report

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shadowctl/shadowctl/replay"
)

// A Comparator's verdict on each row is what a Report counts for that row
// alone, and what the case says by hand: the same bytes and different
// bytes that agree (tolerance, ignored paths, key order), disagreements,
// failed sides and rows not compared.
func TestComparatorVerdictIsTheReportsAgreement(t *testing.T) {
	ok := func(rec, cand string) *replay.Result {
		return &replay.Result{ID: "x", RecordedStatus: 200, RecordedBody: []byte(rec), CandidateStatus: 200, CandidateBody: []byte(cand)}
	}
	with := func(r *replay.Result, f func(*replay.Result)) *replay.Result { f(r); return r }
	cases := []struct {
		name             string
		opts             Options
		row              *replay.Result
		compared, agreed bool
	}{
		{"same bytes", Options{}, ok(`{"predictions":[1,2]}`, `{"predictions":[1,2]}`), true, true},
		{"same bytes, not JSON", Options{}, ok(`cat`, `cat`), true, true},
		{"different bytes, same JSON", Options{}, ok(`{"a":1,"b":[2]}`, `{"b":[2], "a":1.0}`), true, true},
		{"within tolerance", Options{AbsTol: 0.01}, ok(`{"predictions":[0.5]}`, `{"predictions":[0.505]}`), true, true},
		{"past tolerance", Options{AbsTol: 0.001}, ok(`{"predictions":[0.5]}`, `{"predictions":[0.505]}`), true, false},
		{"one instance of two differs", Options{}, ok(`{"predictions":["cat","dog"]}`, `{"predictions":["cat","cow"]}`), true, false},
		{"ignored path differs", Options{Ignore: []string{"$.model_version"}}, ok(`{"predictions":[1],"model_version":"1"}`, `{"predictions":[1],"model_version":"2"}`), true, true},
		{"not JSON, different", Options{}, ok(`cat`, `dog`), true, false},
		{"candidate not JSON", Options{}, ok(`{"predictions":[1]}`, `oops`), true, false},
		{"field absent in candidate", Options{}, ok(`{"predictions":[1]}`, `{"outputs":[1]}`), true, false},
		{"candidate 500, same body", Options{}, with(ok(`{}`, `{}`), func(r *replay.Result) { r.CandidateStatus = 500 }), true, false},
		{"candidate 201, same body", Options{}, with(ok(`{}`, `{}`), func(r *replay.Result) { r.CandidateStatus = 201 }), true, true},
		{"candidate timed out", Options{}, with(ok(`{}`, ``), func(r *replay.Result) {
			r.CandidateStatus, r.CandidateError, r.CandidateErrorKind = 0, "timeout", replay.KindTimeout
		}), true, false},
		{"candidate error, no kind", Options{}, with(ok(`{}`, `{}`), func(r *replay.Result) { r.CandidateError = "reset" }), true, false},
		{"production 503", Options{}, with(ok(`{}`, `{}`), func(r *replay.Result) { r.RecordedStatus = 503 }), false, false},
		{"production failed", Options{}, with(ok(``, `{}`), func(r *replay.Result) { r.RecordedStatus, r.RecordedError = 0, "reset" }), false, false},
		{"production body truncated", Options{}, with(ok(`{"a"`, `{"a"`), func(r *replay.Result) { r.RecordedBodyTruncated = true }), false, false},
		// Event streams are compared as the message they reassemble into.
		{"streams, same text, other created times", Options{}, ok(chunks(1, "Hi", " there"), chunks(2, "Hi", " there")), true, true},
		{"streams, other text", Options{}, ok(chunks(1, "Hi", " there"), chunks(1, "Hi", " you")), true, false},
		{"candidate stream cut", Options{}, ok(chunks(1, "Hi"), cut(chunks(1, "Hi"))), true, false},
		{"production stream cut, same bytes", Options{}, ok(cut(chunks(1, "Hi")), cut(chunks(1, "Hi"))), false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewComparator(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			compared, agreed := c.Compare(tc.row)
			if compared != tc.compared || agreed != tc.agreed {
				t.Errorf("Compare = %v, %v; want %v, %v", compared, agreed, tc.compared, tc.agreed)
			}
			b, err := NewBuilder(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			b.Add(tc.row)
			req := b.Report().Agreement.Requests
			if want := btoi(compared); req.Compared != want || req.Agreed != btoi(agreed) {
				t.Errorf("Report counts %d compared, %d agreed; the Comparator said %v, %v", req.Compared, req.Agreed, compared, agreed)
			}
		})
	}
}

// A Comparator is reused row after row: an earlier row changes no later
// verdict.
func TestComparatorReuse(t *testing.T) {
	c, err := NewComparator(Options{})
	if err != nil {
		t.Fatal(err)
	}
	rows := []struct {
		rec, cand string
		agreed    bool
	}{
		{`{"predictions":["a"]}`, `{"predictions":["b"]}`, false},
		{`{"predictions":["a"]}`, `{"predictions":["a"] }`, true},
		{`{"outputs":[{"name":"o","shape":[1],"datatype":"FP32","data":[1]}]}`, `{"outputs":[{"name":"o","shape":[1],"datatype":"FP32","data":[2]}]}`, false},
		{`{"predictions":["a"]}`, `{"predictions":["a"]}`, true},
	}
	for i, r := range rows {
		row := &replay.Result{RecordedStatus: 200, RecordedBody: []byte(r.rec), CandidateStatus: 200, CandidateBody: []byte(r.cand)}
		if compared, agreed := c.Compare(row); !compared || agreed != r.agreed {
			t.Errorf("row %d: Compare = %v, %v; want true, %v", i, compared, agreed, r.agreed)
		}
	}
}

// chunks is an OpenAI chat stream of the texts, each chunk stamped with
// created (which differs between any two real streams).
func chunks(created int, texts ...string) string {
	var b strings.Builder
	for _, t := range texts {
		fmt.Fprintf(&b, "data: {\"object\":\"chat.completion.chunk\",\"created\":%d,\"choices\":[{\"index\":0,\"delta\":{\"content\":%q}}]}\n\n", created, t)
	}
	fmt.Fprintf(&b, "data: {\"object\":\"chat.completion.chunk\",\"created\":%d,\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n", created)
	return b.String() + "data: [DONE]\n\n"
}

// cut is a stream cut before its end.
func cut(stream string) string {
	i := strings.LastIndex(stream, "data: {")
	return stream[:i]
}
