package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/shadowctl/shadowctl/internal/safetext"
	"github.com/shadowctl/shadowctl/replay"
)

// ErrGate is wrapped by every error about a gate expression. The errors
// begin with the expression, quoted, so a caller can prefix where it came
// from.
var ErrGate = errors.New("bad gate")

// UnknownNameError is the error of a gate on a name that its map of counts
// never holds, such as errors.candidate.by_kind.timout: it would count 0
// forever and the gate pass in silence. It wraps ErrGate.
type UnknownNameError struct {
	Expr string
	// Map is the key of the map of counts (errors.candidate.by_kind), What
	// what it counts ("error kind", "instance kind"), Name the name asked
	// for and Known the names the map may hold, sorted.
	Map, What, Name string
	Known           []string
}

func (e *UnknownNameError) Error() string {
	return fmt.Sprintf("%q: %v: unknown %s %q in %s; known: %s", e.Expr, ErrGate, e.What, e.Name, e.Map, strings.Join(e.Known, ", "))
}

func (e *UnknownNameError) Unwrap() error { return ErrGate }

// UnknownKeyError is the error of a gate on a key the report does not
// have. Suggest holds the nearest keys (those below Key, or a few edits
// away), best first; Keys is how many keys there are in all (GateKeys).
type UnknownKeyError struct {
	Expr, Key string
	Suggest   []string
	Keys      int
}

func (e *UnknownKeyError) Error() string {
	msg := fmt.Sprintf("%q: %v: unknown key %q", e.Expr, ErrGate, e.Key)
	if len(e.Suggest) > 0 {
		msg += "; did you mean " + strings.Join(e.Suggest, ", ") + "?"
	}
	return msg
}

func (e *UnknownKeyError) Unwrap() error { return ErrGate }

// suggestKeys returns up to n of keys near key: first those below it
// ("agreement" → agreement.rate), shortest first, then those within a few
// edits of it ("latency_ms.ratio.p98" → latency_ms.ratio.p99), nearest first.
func suggestKeys(key string, keys []string, n int) []string {
	type cand struct {
		k    string
		rank int
	}
	var cs []cand
	maxEdits := max(2, len(key)/4)
	for _, k := range keys {
		switch {
		case strings.HasPrefix(k, key+"."):
			cs = append(cs, cand{k, -1000 + strings.Count(k, ".")*100 + len(k)})
		default:
			if d := editDistance(key, k, maxEdits); d <= maxEdits {
				cs = append(cs, cand{k, d})
			}
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].rank < cs[j].rank })
	out := make([]string, 0, min(n, len(cs)))
	for _, c := range cs[:min(n, len(cs))] {
		out = append(out, c.k)
	}
	return out
}

// editDistance is the Levenshtein distance of a and b, or limit+1 once it
// is sure to exceed limit.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d > limit || -d > limit {
		return limit + 1
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		best := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			best = min(best, cur[j])
		}
		if best > limit {
			return limit + 1
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// countNames says what the map of counts at key counts and the names it may
// hold; ok is false for a map whose names are open.
func countNames(key string) (what string, names []string, ok bool) {
	switch {
	case key == "errors.recorded.by_kind":
		// recordedKind's kinds.
		return "error kind", []string{replay.KindHTTP4xx, replay.KindHTTP5xx, replay.KindNoResponse, replay.KindStreamIncomplete}, true
	case strings.HasSuffix(key, ".by_kind"):
		return "error kind", replay.Kinds, true
	case strings.HasSuffix(key, ".kinds"):
		return "instance kind", []string{kindLabels, kindScores, kindProbabilities, kindEmbeddings, kindText, kindOther}, true
	}
	return "", nil, false
}

// Gate is a parsed --fail-on expression: the report fails when the value of
// Key compares with Threshold as Op says.
type Gate struct {
	Expr      string
	Key       string
	Op        string
	Threshold float64
}

var gateRE = regexp.MustCompile(`^\s*([A-Za-z0-9_.]+)\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*$`)

// ParseGate parses "KEY OP NUMBER", where KEY is a numeric key of the JSON
// report (dotted: agreement.rate, latency_ms.ratio.p99,
// errors.candidate.by_kind.timeout) and OP one of < <= > >= == !=.
func ParseGate(expr string) (Gate, error) {
	m := gateRE.FindStringSubmatch(expr)
	if m == nil {
		return Gate{}, fmt.Errorf("%q: %w: want KEY OP NUMBER, e.g. 'agreement.rate < 0.99' (OP is one of < <= > >= == !=)", expr, ErrGate)
	}
	th, err := strconv.ParseFloat(m[3], 64)
	if err != nil || math.IsNaN(th) || math.IsInf(th, 0) {
		return Gate{}, fmt.Errorf("%q: %w: %q is not a number", expr, ErrGate, m[3])
	}
	key := m[1]
	if !validKey(reportKeys, key) {
		keys := GateKeys()
		return Gate{}, &UnknownKeyError{Expr: expr, Key: key, Suggest: suggestKeys(key, keys, 6), Keys: len(keys)}
	}
	if reportKeys[key] {
		what, names, ok := countNames(key)
		if !ok {
			what, names = "name", []string{"NAME"}
		}
		return Gate{}, fmt.Errorf("%q: %w: %s is a map of counts, not a number: name one of its %ss, e.g. %s.%s",
			expr, ErrGate, key, what, key, names[0])
	}
	if i := strings.LastIndexByte(key, '.'); i > 0 && reportKeys[key[:i]] {
		mapKey, name := key[:i], key[i+1:]
		if what, names, ok := countNames(mapKey); ok && !slices.Contains(names, name) {
			known := slices.Sorted(slices.Values(names))
			return Gate{}, &UnknownNameError{Expr: expr, Map: mapKey, What: what, Name: name, Known: known}
		}
	}
	if r, ok := rangeOf(reportRanges, key); ok {
		if how := vacuous(m[2], th, r); how != "" {
			return Gate{}, &RangeError{Expr: expr, Key: key, Threshold: th, Lo: r.lo, Hi: r.hi, What: r.what, Never: how == "never"}
		}
	}
	return Gate{Expr: strings.TrimSpace(expr), Key: key, Op: m[2], Threshold: th}, nil
}

// RangeError is the error of a gate whose number lies outside, or bounds,
// every value its key can take, so that it could never fail the run (Never)
// or always would: errors.candidate.rate > 1, meant as 1%, or
// agreement.rate <= 1. It wraps ErrGate.
type RangeError struct {
	Expr, Key string
	Threshold float64
	// Lo and Hi bound the key's values (Hi may be +Inf); What says so in
	// words ("between 0 and 1").
	Lo, Hi float64
	What   string
	Never  bool
}

func (e *RangeError) Error() string {
	how := "so this gate would fail every run"
	if e.Never {
		how = "so this gate could never fail"
	}
	msg := fmt.Sprintf("%q: %v: %s is %s, %s", e.Expr, ErrGate, e.Key, e.What, how)
	if e.Lo == 0 && e.Hi == 1 && e.Threshold >= 1 && e.Threshold <= 100 {
		msg += fmt.Sprintf("; for %s%% write %s", formatValue(e.Threshold), formatValue(e.Threshold/100))
	}
	return msg
}

func (e *RangeError) Unwrap() error { return ErrGate }

// GateKeys lists the keys a gate may use; a key ending in ".*" stands for
// any name below it (an error kind), which counts 0 when absent.
func GateKeys() []string {
	out := make([]string, 0, len(reportKeys))
	for k, anyName := range reportKeys {
		if anyName {
			k += ".*"
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// reportKeys and groupKeys map the numeric keys of the JSON report (and of
// one group) to whether they are a map of counts (any name below them).
// They come from the types, so gates and the JSON can never disagree.
// keyRanges holds the values each key can take, from the same walk.
var (
	reportKeys, reportRanges = numericKeys(reflect.TypeFor[Report]())
	groupKeys, _             = numericKeys(reflect.TypeFor[Group]())
)

// valueRange is the closed interval of values a key can take, from its
// field's gate tag: "unit" (a rate, share, interval bound or p-value),
// "signed" (a difference of two rates, a correlation, kappa, a cosine) or
// "nonneg" (latencies, ratios, errors, statistics); a count is nonneg too.
// A float field without a tag is unbounded (a latency difference).
type valueRange struct {
	lo, hi float64
	what   string
}

var gateRanges = map[string]valueRange{
	"unit":   {0, 1, "between 0 and 1"},
	"signed": {-1, 1, "between -1 and 1"},
	"nonneg": {0, math.Inf(1), "never negative"},
}

func numericKeys(t reflect.Type) (map[string]bool, map[string]valueRange) {
	out := map[string]bool{}
	ranges := map[string]valueRange{}
	// A struct type may appear twice on a path: Agreement.Baseline is an
	// Agreement, whose own Baseline is always null.
	seen := map[reflect.Type]int{}
	var walk func(t reflect.Type, prefix, tag string)
	walk = func(t reflect.Type, prefix, tag string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Int, reflect.Int32, reflect.Int64:
			out[prefix] = false
			ranges[prefix] = gateRanges["nonneg"]
		case reflect.Float64:
			out[prefix] = false
			if r, ok := gateRanges[tag]; ok {
				ranges[prefix] = r
			} else if tag != "" {
				panic(fmt.Sprintf("report: gate tag %q of %s is none of unit, signed, nonneg", tag, prefix))
			}
		case reflect.Map:
			if isNumeric(t.Elem()) {
				out[prefix] = true
				ranges[prefix] = gateRanges["nonneg"]
			}
		case reflect.Struct:
			if seen[t] >= 2 {
				return
			}
			seen[t]++
			defer func() { seen[t]-- }()
			for i := range t.NumField() {
				sf := t.Field(i)
				name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
				if name == "-" || !sf.IsExported() {
					continue
				}
				if sf.Anonymous && name == "" {
					walk(sf.Type, prefix, "")
					continue
				}
				p := name
				if prefix != "" {
					p = prefix + "." + name
				}
				walk(sf.Type, p, sf.Tag.Get("gate"))
			}
		}
	}
	walk(t, "", "")
	delete(out, "schema_version")
	delete(ranges, "schema_version")
	return out, ranges
}

// rangeOf is the range of key's values (a name below a map of counts has
// the map's), and whether it is bounded at all.
func rangeOf(ranges map[string]valueRange, key string) (valueRange, bool) {
	if r, ok := ranges[key]; ok {
		return r, true
	}
	if i := strings.LastIndexByte(key, '.'); i > 0 {
		r, ok := ranges[key[:i]]
		return r, ok
	}
	return valueRange{}, false
}

// vacuous says why a gate on a value in r can never fail the run, or
// always does: what it compares with lies outside every value the key can
// take, or bounds all of them. It returns "" for a gate that can go either
// way.
func vacuous(op string, th float64, r valueRange) string {
	lo, hi := r.lo, r.hi
	switch op {
	case "<":
		if th <= lo {
			return "never"
		}
		if th > hi {
			return "always"
		}
	case "<=":
		if th < lo {
			return "never"
		}
		if th >= hi {
			return "always"
		}
	case ">":
		if th >= hi {
			return "never"
		}
		if th < lo {
			return "always"
		}
	case ">=":
		if th > hi {
			return "never"
		}
		if th <= lo {
			return "always"
		}
	case "==":
		if th < lo || th > hi {
			return "never"
		}
	case "!=":
		if th < lo || th > hi {
			return "always"
		}
	}
	return ""
}

func isNumeric(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Float64:
		return true
	}
	return false
}

func validKey(keys map[string]bool, key string) bool {
	if _, ok := keys[key]; ok {
		return true
	}
	i := strings.LastIndexByte(key, '.')
	return i > 0 && keys[key[:i]]
}

// Evaluate evaluates the gates on the report (and, with groups, on every
// group whose summary has the key), fills Gates and Passed, and returns
// whether every gate passed.
func (r *Report) Evaluate(gates []Gate) (bool, error) {
	r.Gates, r.Passed = []GateResult{}, true
	doc, err := asMap(r)
	if err != nil {
		return false, err
	}
	for _, g := range gates {
		r.add(evaluate(g, doc, reportKeys, ""))
	}
	for i := range r.Groups {
		var gdoc map[string]any
		for _, g := range gates {
			if !perGroup(g.Key) {
				continue
			}
			if gdoc == nil {
				if gdoc, err = asMap(&r.Groups[i]); err != nil {
					return false, err
				}
			}
			r.add(evaluate(g, gdoc, groupKeys, r.Groups[i].Key))
		}
	}
	return r.Passed, nil
}

// perGroup tells whether a gate also applies to each group: the
// agreement, latency, error and accuracy keys a group repeats (not counts
// of rows, which differ by group by nature).
func perGroup(key string) bool {
	for _, p := range []string{"agreement.", "latency_ms.", "errors.", "accuracy."} {
		if strings.HasPrefix(key, p) {
			return validKey(groupKeys, key)
		}
	}
	return false
}

func (r *Report) add(res GateResult) {
	r.Gates = append(r.Gates, res)
	r.Passed = r.Passed && res.Passed
}

// asMap is v as the generic JSON object the renderers write, so a gate reads
// exactly what the JSON report says.
func asMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("evaluate gates: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("evaluate gates: %w", err)
	}
	return m, nil
}

func evaluate(g Gate, doc map[string]any, keys map[string]bool, group string) GateResult {
	res := GateResult{Expr: g.Expr, Group: group, Key: g.Key, Op: g.Op, Threshold: g.Threshold}
	where := ""
	if group != "" {
		// Quoted (its controls escaped) and clipped: a group is a path
		// or a header's value, and this line goes to stderr and CI logs.
		where = " in group " + strconv.Quote(safetext.Truncate(group, maxCell))
	}
	v, ok := lookup(doc, g.Key, keys)
	if !ok {
		res.Message = fmt.Sprintf("%s has no value%s in this run, so the gate cannot pass", g.Key, where)
		return res
	}
	res.Value = &v
	fails := compareOp(v, g.Op, g.Threshold)
	res.Passed = !fails
	th := strconv.FormatFloat(g.Threshold, 'g', -1, 64)
	if fails {
		res.Message = fmt.Sprintf("FAILED%s: %s = %s, which is %s %s", where, g.Key, formatValue(v), g.Op, th)
	} else {
		res.Message = fmt.Sprintf("passed%s: %s = %s (fails when %s %s)", where, g.Key, formatValue(v), g.Op, th)
	}
	return res
}

func formatValue(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

func compareOp(v float64, op string, th float64) bool {
	switch op {
	case "<":
		return v < th
	case "<=":
		return v <= th
	case ">":
		return v > th
	case ">=":
		return v >= th
	case "==":
		return v == th
	case "!=":
		return v != th
	}
	return false
}

// lookup walks doc along the dotted key. A name below a map of counts that
// is absent counts 0; any other absent or null value is not there.
func lookup(doc map[string]any, key string, keys map[string]bool) (float64, bool) {
	parts := strings.Split(key, ".")
	var cur any = doc
	for i, p := range parts {
		m, ok := cur.(map[string]any)
		if !ok {
			return 0, false
		}
		next, ok := m[p]
		if !ok {
			if i == len(parts)-1 && keys[strings.Join(parts[:i], ".")] {
				return 0, true
			}
			return 0, false
		}
		cur = next
	}
	f, ok := cur.(float64)
	return f, ok
}
