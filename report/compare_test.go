package report

import (
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/theory/jsonpath"
)

func TestDecodeJSON(t *testing.T) {
	cases := []struct {
		in   string
		want any
	}{
		{`{"a":[1,2.5,"x",true,null]}`, map[string]any{"a": []any{int64(1), 2.5, "x", true, nil}}},
		{` [ -3 , 1e2 , -0.5E-1 ] `, []any{int64(-3), 100.0, -0.05}},
		{`"caf\u00e9 \"q\""`, `café "q"`},
		{`{"k\n":{}}`, map[string]any{"k\n": map[string]any{}}},
		{`[NaN, Infinity, -Infinity, +Infinity]`, []any{math.NaN(), math.Inf(1), math.Inf(-1), math.Inf(1)}},
		{`"NaN"`, "NaN"}, // inside a string it stays a string
		{`99999999999999999999`, 1e20},
	}
	for _, c := range cases {
		got, err := decodeJSON([]byte(c.in))
		if err != nil {
			t.Errorf("decode %s: %v", c.in, err)
			continue
		}
		if !equalJSON(got, c.want, Tolerance{}) || !sameTypes(got, c.want) {
			t.Errorf("decode %s = %#v, want %#v", c.in, got, c.want)
		}
	}
	for _, bad := range []string{``, `{`, `[1,]`, `{"a" 1}`, `tru`, `1 2`, `nan`, "\"a\x01\"", `[` + string(make([]byte, 0)) + `]]`} {
		if v, err := decodeJSON([]byte(bad)); err == nil {
			t.Errorf("decode %q = %#v, want an error", bad, v)
		}
	}
	deep := make([]byte, 0, 2*maxDepth+10)
	for range maxDepth + 5 {
		deep = append(deep, '[')
	}
	if _, err := decodeJSON(deep); err == nil {
		t.Error("decode of a too deep body succeeded")
	}
}

// TestDecoderReuse: one decoder used for body after body (as a Builder
// does), across errors mid-array, gives exactly the trees of fresh ones, and
// its table of shared strings stays bounded.
func TestDecoderReuse(t *testing.T) {
	d := newDecoder()
	for _, in := range []string{
		`{"predictions":[1,0,1],"model_version":"1"}`,
		`[1,[2,"x",[3`, // error with three arrays open
		`[4,5]`,
		`{"predictions":["cat","dog"],"model_version":"1"}`,
		`{"a":[[],[{"b":["cat"]}]],"c\"d":"e\u00e9"}`,
		`["cat", "dog"`,
		`{"predictions":["dog","cat"]}`,
	} {
		want, wantErr := decodeJSON([]byte(in))
		got, err := d.decode([]byte(in))
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("decode %s: error %v, fresh decoder %v", in, err, wantErr)
		}
		if err == nil && (!reflect.DeepEqual(got, want) || !sameTypes(got, want)) {
			t.Errorf("decode %s = %#v, fresh decoder %#v", in, got, want)
		}
	}
	if len(d.stack) != 0 {
		t.Errorf("stack left with %d elements", len(d.stack))
	}
	many := []byte("[")
	for i := range maxInterned + 100 {
		many = append(many, fmt.Sprintf("%q,", fmt.Sprint(i))...)
	}
	many = append(many, `"x"]`...)
	v, err := d.decode(many)
	if err != nil || len(v.([]any)) != maxInterned+101 {
		t.Fatalf("decode of many strings: %v", err)
	}
	if len(d.strs) != maxInterned {
		t.Errorf("%d strings interned, want the bound %d", len(d.strs), maxInterned)
	}
}

func sameTypes(a, b any) bool {
	if reflect.TypeOf(a) != reflect.TypeOf(b) {
		return false
	}
	switch x := a.(type) {
	case []any:
		for i := range x {
			if !sameTypes(x[i], b.([]any)[i]) {
				return false
			}
		}
	case map[string]any:
		for k := range x {
			if !sameTypes(x[k], b.(map[string]any)[k]) {
				return false
			}
		}
	}
	return true
}

func TestToleranceEdges(t *testing.T) {
	cases := []struct {
		name     string
		tol      Tolerance
		a, b     float64
		expected bool
	}{
		{"exact, no tolerance", Tolerance{}, 0.5, 0.5, true},
		{"any difference, no tolerance", Tolerance{}, 0.5, 0.5000001, false},
		// 0.25 and 0.5 are exact in binary, so "exactly at" is exact.
		{"exactly at abs tol", Tolerance{Abs: 0.25}, 1, 1.25, true},
		{"just over abs tol", Tolerance{Abs: 0.25}, 1, math.Nextafter(1.25, 2), false},
		{"exactly at rel tol", Tolerance{Rel: 0.25}, 2, 2.5, true},
		{"just over rel tol", Tolerance{Rel: 0.25}, 2, math.Nextafter(2.5, 3), false},
		{"rel tol is relative to recorded", Tolerance{Rel: 0.25}, 2.5, 2, true},
		{"abs and rel add", Tolerance{Abs: 0.25, Rel: 0.25}, 2, 2.75, true},
		{"abs and rel add, over", Tolerance{Abs: 0.25, Rel: 0.25}, 2, 2.75 + 1e-12, false},
		{"NaN equals NaN", Tolerance{}, math.NaN(), math.NaN(), true},
		{"NaN differs from a number", Tolerance{Abs: 1e9}, math.NaN(), 1, false},
		{"same infinity", Tolerance{}, math.Inf(1), math.Inf(1), true},
		{"opposite infinities", Tolerance{Abs: 1e300}, math.Inf(1), math.Inf(-1), false},
		{"infinity vs number", Tolerance{Rel: 1e9}, math.Inf(1), 1e300, false},
	}
	for _, c := range cases {
		if got := c.tol.Equal(c.a, c.b); got != c.expected {
			t.Errorf("%s: Equal(%v, %v) = %v, want %v", c.name, c.a, c.b, got, c.expected)
		}
	}
}

func mustDecode(t *testing.T, s string) any {
	t.Helper()
	v, err := decodeJSON([]byte(s))
	if err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

func TestEqualAndDiff(t *testing.T) {
	cases := []struct {
		name  string
		a, b  string
		tol   Tolerance
		equal bool
		diffs []string
	}{
		{"key order does not matter", `{"a":1,"b":[1,2]}`, `{"b":[1,2],"a":1}`, Tolerance{}, true, nil},
		{"int equals float of same value", `[1]`, `[1.0]`, Tolerance{}, true, nil},
		{"number within tol", `{"p":[0.5,0.25]}`, `{"p":[0.5001,0.25]}`, Tolerance{Abs: 0.001}, true, nil},
		{"changed element", `{"p":[0.5,0.25]}`, `{"p":[0.5,0.75]}`, Tolerance{}, false, []string{"$.p[1]: 0.25 → 0.75"}},
		{"missing and extra keys", `{"a":1,"b":2}`, `{"b":2,"c":"x"}`, Tolerance{}, false,
			[]string{"$.a: 1 → (absent)", "$.c: (absent) → \"x\""}},
		{"length change", `{"p":[1,2]}`, `{"p":[1]}`, Tolerance{}, false, []string{"$.p: [1,2] → [1]"}},
		{"type change", `{"p":1}`, `{"p":"1"}`, Tolerance{}, false, []string{`$.p: 1 → "1"`}},
		{"odd key quoted", `{"a b":1}`, `{"a b":2}`, Tolerance{}, false, []string{`$['a b']: 1 → 2`}},
		{"NaN tokens", `[NaN, Infinity]`, `[NaN, Infinity]`, Tolerance{}, true, nil},
		{"NaN vs number", `[NaN]`, `[0]`, Tolerance{}, false, []string{"$[0]: NaN → 0"}},
	}
	for _, c := range cases {
		a, b := mustDecode(t, c.a), mustDecode(t, c.b)
		if got := equalJSON(a, b, c.tol); got != c.equal {
			t.Errorf("%s: equal = %v, want %v", c.name, got, c.equal)
		}
		var out []Difference
		n := diffJSON(a, b, c.tol, "$", 10, &out)
		var got []string
		for _, d := range out {
			got = append(got, d.String())
		}
		if n != len(c.diffs) || !reflect.DeepEqual(got, c.diffs) {
			t.Errorf("%s: diffs = %d %q, want %q", c.name, n, got, c.diffs)
		}
	}
}

func TestRemovePaths(t *testing.T) {
	cases := []struct {
		name   string
		in     string
		ignore []string
		want   string
	}{
		{"member", `{"id":"x","created":5,"p":[1]}`, []string{"$.id", "$.created"}, `{"p":[1]}`},
		{"nested members", `{"a":{"b":{"c":1,"d":2}},"x":[{"b":1}]}`, []string{"$.a.b.c", "$.x.b", "$.a.zz.c"}, `{"a":{"b":{"d":2}},"x":[{"b":1}]}`},
		{"quoted member", `{"a b":1,"c":2}`, []string{"$['a b']"}, `{"c":2}`},
		{"simple and general together", `{"ts":1,"p":[{"ts":2,"v":1}]}`, []string{"$.ts", "$.p[*].ts"}, `{"p":[{"v":1}]}`},
		{"wildcard member in array", `{"p":[{"v":1,"ts":1},{"v":2,"ts":2}]}`, []string{"$.p[*].ts"}, `{"p":[{"v":1},{"v":2}]}`},
		{"array elements, no shifting", `{"p":[0,1,2,3,4]}`, []string{"$.p[1]", "$.p[3]"}, `{"p":[0,2,4]}`},
		{"several elements of one selector", `[0,1,2,3,4]`, []string{"$[0,2,4]"}, `[1,3]`},
		{"descendant", `{"a":{"model_version":"1","b":{"model_version":"2","x":1}}}`, []string{"$..model_version"}, `{"a":{"b":{"x":1}}}`},
		{"absent path", `{"a":1}`, []string{"$.zzz"}, `{"a":1}`},
		{"filter", `{"o":[{"n":"t","d":1},{"n":"k","d":2}]}`, []string{`$.o[?@.n=="t"]`}, `{"o":[{"n":"k","d":2}]}`},
	}
	for _, c := range cases {
		var paths []ignorePath
		for _, s := range c.ignore {
			paths = append(paths, newIgnorePath(jsonpath.MustParse(s)))
		}
		got := removePaths(mustDecode(t, c.in), paths)
		if want := mustDecode(t, c.want); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %s, want %s", c.name, compact(got), c.want)
		}
	}
}
