package report

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// FuzzCompare feeds two arbitrary bodies and tolerances to the JSON
// comparator: decoding fails with an error or succeeds, and comparing never
// panics and agrees with the diff (equal exactly when there is no
// difference). Seeds in testdata/fuzz/FuzzCompare.
func FuzzCompare(f *testing.F) {
	f.Add([]byte(`{"predictions":[1,2.5,"a"]}`), []byte(`{"predictions":[1,2.50001,"a"]}`), 0.0, 1e-3)
	f.Add([]byte(`[NaN, Infinity, -Infinity]`), []byte(`[NaN, 1e308, -1e308]`), 1.0, 0.0)
	f.Add([]byte(`{"a":{"b":[{"c":null}]}}`), []byte(`{"a":{"b":[{"c":false}]}}`), 0.0, 0.0)
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`), []byte(`"\u00e9\ud83d\ude00"`), 0.0, 0.0)
	f.Add([]byte(`9223372036854775807`), []byte(`9223372036854775808`), 0.0, 0.0)
	f.Fuzz(func(t *testing.T, a, b []byte, abs, rel float64) {
		x, errA := decodeJSON(a)
		y, errB := decodeJSON(b)
		// One decoder reused, as a Builder does (across errors too), gives
		// the trees of fresh ones.
		shared := newDecoder()
		for i, body := range [][]byte{a, b, a} {
			want, wantErr := []any{x, y, x}[i], []error{errA, errB, errA}[i]
			got, err := shared.decode(body)
			if (err == nil) != (wantErr == nil) || err == nil && (!equalJSON(got, want, Tolerance{}) || !sameTypes(got, want)) {
				t.Fatalf("reused decoder: %#v, %v; fresh one: %#v, %v", got, err, want, wantErr)
			}
		}
		if errA != nil || errB != nil {
			for _, err := range []error{errA, errB} {
				if err != nil && (err.Error() == "" || strings.Contains(err.Error(), "\n")) {
					t.Fatalf("error is not one clear line: %q", err)
				}
			}
			return
		}
		tol := Tolerance{Abs: math.Abs(abs), Rel: math.Abs(rel)}
		if math.IsNaN(tol.Abs) || math.IsNaN(tol.Rel) {
			return // rejected by NewBuilder
		}
		var diffs []Difference
		n := diffJSON(x, y, tol, "$", 3, &diffs)
		if eq := equalJSON(x, y, tol); eq != (n == 0) {
			t.Fatalf("equal %v but %d differences: %v", eq, n, diffs)
		}
		if len(diffs) > 3 || (n > 0 && len(diffs) == 0) {
			t.Fatalf("%d differences kept of %d, limit 3", len(diffs), n)
		}
		for _, d := range diffs {
			if !strings.HasPrefix(d.Path, "$") {
				t.Fatalf("difference path %q", d.Path)
			}
		}
	})
}

// FuzzJSONPath feeds arbitrary --field / --ignore paths and bodies to the
// report: a bad path is one clear error naming the option, a good one selects
// and removes nodes without panicking. Seeds in testdata/fuzz/FuzzJSONPath.
func FuzzJSONPath(f *testing.F) {
	f.Add("$.predictions[*]", []byte(`{"predictions":[1,2],"model_version":"3"}`))
	f.Add("$..a", []byte(`{"a":{"a":[{"a":1}]}}`))
	f.Add("$.outputs[0].data[-1:0:-2]", []byte(`{"outputs":[{"data":[1,2,3,4,5]}]}`))
	f.Add("$[?@.x > 1 && length(@.y) == 2]", []byte(`[{"x":2,"y":"ab"},{"x":0}]`))
	f.Add("$[?match(@, '[a-z]+')]", []byte(`["abc","1"]`))
	f.Add("$.", []byte(`{}`))
	f.Add("predictions", []byte(`{}`))
	f.Fuzz(func(t *testing.T, path string, body []byte) {
		b, err := NewBuilder(Options{Field: path, Ignore: []string{path}})
		if err != nil {
			msg := err.Error()
			var oe *OptionError
			if !errors.As(err, &oe) || (oe.Option != "Ignore" && oe.Option != "Field") || oe.Value != path {
				t.Fatalf("error does not name the option and the path: %q", msg)
			}
			if strings.Contains(msg, "\n") {
				t.Fatalf("error is not one line: %q", msg)
			}
			return
		}
		v, err := decodeJSON(body)
		if err != nil {
			return
		}
		b.field.extract(v)
		removePaths(v, b.ignore)
	})
}

// FuzzParseGate feeds arbitrary --fail-on expressions: each parses or fails
// with one line wrapping ErrGate, and a parsed gate evaluates on a report.
// Seeds in testdata/fuzz/FuzzParseGate.
func FuzzParseGate(f *testing.F) {
	for _, s := range []string{"agreement.rate < 0.99", "latency_ms.ratio.p99>1.5", "errors.candidate.by_kind.timeout >= 1",
		"agreement.rate < NaN", "x <", "agreement.rate <= 1e999", " exchanges == -0 ", "errors.candidate.by_kind.* > 0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		g, err := ParseGate(expr)
		if err != nil {
			if !errors.Is(err, ErrGate) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q: want one line wrapping ErrGate", err)
			}
			return
		}
		if math.IsNaN(g.Threshold) || math.IsInf(g.Threshold, 0) {
			t.Fatalf("threshold %v accepted", g.Threshold)
		}
		r := &Report{}
		if _, err := r.Evaluate([]Gate{g}); err != nil {
			t.Fatalf("evaluate %q: %v", expr, err)
		}
	})
}
