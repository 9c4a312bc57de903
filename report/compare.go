package report

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/theory/jsonpath"
	"github.com/theory/jsonpath/spec"
)

// Tolerance says when two numbers count as equal: |a-b| <= Abs + Rel*|a|,
// where a is the reference side (the recorded answer). NaN equals NaN and an
// infinity equals the infinity of the same sign, so a model that answers NaN
// on both sides agrees with itself.
type Tolerance struct {
	Abs, Rel float64
}

// Equal reports whether candidate b equals reference a within t.
func (t Tolerance) Equal(a, b float64) bool {
	if a == b {
		return true
	}
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	if math.IsInf(a, 0) || math.IsInf(b, 0) {
		return false // equal infinities were caught by a == b
	}
	return math.Abs(a-b) <= t.Abs+t.Rel*math.Abs(a)
}

// toFloat is the numeric value of a decoded JSON number.
func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// equalJSON compares two decoded JSON values structurally: key order does not
// matter, numbers compare within t, everything else exactly.
func equalJSON(a, b any, t Tolerance) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !equalJSON(xv, yv, t) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalJSON(x[i], y[i], t) {
				return false
			}
		}
		return true
	case int64, float64:
		fa, _ := toFloat(a)
		fb, ok := toFloat(b)
		return ok && t.Equal(fa, fb)
	default: // string, bool, nil
		return a == b
	}
}

// Difference is one place where two answers differ: a JSONPath and the
// value on each side, rendered compactly.
type Difference struct {
	Path      string `json:"path"`
	Recorded  string `json:"recorded"`
	Candidate string `json:"candidate"`
}

func (d Difference) String() string {
	return fmt.Sprintf("%s: %s → %s", d.Path, d.Recorded, d.Candidate)
}

// diffJSON lists up to limit differences between a and b, in a stable order
// (sorted object keys), and returns how many there are in all.
func diffJSON(a, b any, t Tolerance, path string, limit int, out *[]Difference) int {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := make([]string, 0, len(x)+len(y))
		for k := range x {
			keys = append(keys, k)
		}
		for k := range y {
			if _, ok := x[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		n := 0
		for _, k := range keys {
			xv, xok := x[k]
			yv, yok := y[k]
			p := path + childName(k)
			switch {
			case !xok:
				n += addDiff(out, limit, p, "(absent)", compact(yv))
			case !yok:
				n += addDiff(out, limit, p, compact(xv), "(absent)")
			default:
				n += diffJSON(xv, yv, t, p, limit, out)
			}
		}
		return n
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			break
		}
		n := 0
		for i := range x {
			n += diffJSON(x[i], y[i], t, path+"["+strconv.Itoa(i)+"]", limit, out)
		}
		return n
	}
	if equalJSON(a, b, t) {
		return 0
	}
	return addDiff(out, limit, path, compact(a), compact(b))
}

func addDiff(out *[]Difference, limit int, path, a, b string) int {
	if len(*out) < limit {
		*out = append(*out, Difference{Path: path, Recorded: a, Candidate: b})
	}
	return 1
}

// childName is the JSONPath step to member k: .k for plain names, ['k']
// otherwise (RFC 9535 normalized form).
func childName(k string) string {
	plain := k != ""
	for i, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			plain = false
			break
		}
	}
	if plain {
		return "." + k
	}
	return "['" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(k) + "']"
}

// compactLimit bounds a value rendered in a diff.
const compactLimit = 40

// compact renders a decoded JSON value on one short line.
func compact(v any) string { return shorten(compactFull(v), compactLimit) }

// compactFull renders a decoded JSON value on one line.
func compactFull(v any) string {
	switch x := v.(type) {
	case float64:
		return formatFloat(x)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	b, err := json.Marshal(sanitize(v))
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// sanitize replaces non-finite numbers, which encoding/json refuses, with
// their token names.
func sanitize(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return formatFloat(x)
		}
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = sanitize(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = sanitize(e)
		}
		return a
	}
	return v
}

func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// shorten cuts s to at most n runes, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// ignorePath is an --ignore path; names is set when the path is a plain
// chain of member names ($.a.b), which is deleted without the general
// query machinery (the common case, and much cheaper per row).
type ignorePath struct {
	path  *jsonpath.Path
	names []string
}

func newIgnorePath(p *jsonpath.Path) ignorePath {
	var names []string
	for _, seg := range p.Query().Segments() {
		sels := seg.Selectors()
		if seg.IsDescendant() || len(sels) != 1 {
			return ignorePath{path: p}
		}
		n, ok := sels[0].(spec.Name)
		if !ok {
			return ignorePath{path: p}
		}
		names = append(names, string(n))
	}
	if len(names) == 0 {
		return ignorePath{path: p}
	}
	return ignorePath{path: p, names: names}
}

// removePaths deletes every node the paths select from v and returns the
// result (v itself is changed). General paths are all resolved against the
// document first, then their nodes go from the last to the first, children
// before parents, so removing array elements shifts no index still to
// remove.
func removePaths(v any, paths []ignorePath) any {
	var located []*spec.LocatedNode
	for _, p := range paths {
		if p.names == nil {
			located = append(located, p.path.SelectLocated(v)...)
		}
	}
	for _, p := range paths {
		if p.names != nil {
			v = removeNames(v, p.names)
		}
	}
	if len(located) == 0 {
		return v
	}
	sort.Slice(located, func(i, j int) bool {
		return located[i].Path.Compare(located[j].Path) > 0
	})
	for i, n := range located {
		if i > 0 && n.Path.Compare(located[i-1].Path) == 0 {
			continue // selected twice
		}
		v = removeAt(v, n.Path)
	}
	return v
}

func removeNames(v any, names []string) any {
	m, ok := v.(map[string]any)
	for _, n := range names[:len(names)-1] {
		if !ok {
			return v
		}
		m, ok = m[n].(map[string]any)
	}
	if ok {
		delete(m, names[len(names)-1])
	}
	return v
}

// removeAt deletes the node at path from v. Removing the root leaves nil.
func removeAt(v any, path spec.NormalizedPath) any {
	if len(path) == 0 {
		return nil
	}
	switch sel := path[0].(type) {
	case spec.Name:
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		if len(path) == 1 {
			delete(m, string(sel))
			return m
		}
		if child, ok := m[string(sel)]; ok {
			m[string(sel)] = removeAt(child, path[1:])
		}
		return m
	case spec.Index:
		a, ok := v.([]any)
		i := int(sel)
		if !ok || i < 0 || i >= len(a) {
			return v
		}
		if len(path) == 1 {
			return append(a[:i:i], a[i+1:]...)
		}
		a[i] = removeAt(a[i], path[1:])
		return a
	}
	return v
}
