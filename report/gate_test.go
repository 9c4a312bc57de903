package report

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseGate(t *testing.T) {
	cases := []struct {
		expr    string
		key, op string
		th      float64
		errPart string
	}{
		{expr: "agreement.rate < 0.99", key: "agreement.rate", op: "<", th: 0.99},
		{expr: "latency_ms.ratio.p99 > 1.2", key: "latency_ms.ratio.p99", op: ">", th: 1.2},
		{expr: "errors.candidate.rate>0.001", key: "errors.candidate.rate", op: ">", th: 0.001},
		{expr: " agreement.ci95_low <= 0.95 ", key: "agreement.ci95_low", op: "<=", th: 0.95},
		{expr: "errors.candidate.by_kind.timeout != 0", key: "errors.candidate.by_kind.timeout", op: "!=", th: 0},
		{expr: "agreement.baseline.rate >= 1e-3", key: "agreement.baseline.rate", op: ">=", th: 0.001},
		{expr: "exchanges == 8", key: "exchanges", op: "==", th: 8},
		{expr: "agreement.rate", errPart: "want KEY OP NUMBER"},
		{expr: "agreement.rate =< 0.9", errPart: "want KEY OP NUMBER"},
		{expr: "agreement.rate < abc", errPart: `"abc" is not a number`},
		{expr: "agreement.rate < NaN", errPart: "not a number"},
		{expr: "agreement.rat < 0.9", errPart: `unknown key "agreement.rat"; did you mean agreement.rate?`},
		{expr: "agreement.field < 1", errPart: "unknown key"}, // a string, not a number
		{expr: "groups < 1", errPart: "unknown key"},
	}
	for _, c := range cases {
		g, err := ParseGate(c.expr)
		if c.errPart != "" {
			if err == nil || !strings.Contains(err.Error(), c.errPart) || !errors.Is(err, ErrGate) {
				t.Errorf("%q: err = %v, want one containing %q", c.expr, err, c.errPart)
			}
			continue
		}
		if err != nil || g.Key != c.key || g.Op != c.op || g.Threshold != c.th {
			t.Errorf("%q = %+v, %v", c.expr, g, err)
		}
	}
	keys := strings.Join(GateKeys(), " ")
	for _, want := range []string{"agreement.rate", "agreement.requests.rate", "agreement.instances.compared",
		"agreement.labels.kappa", "agreement.numeric.mae", "latency_ms.candidate.p999", "latency_ms.delta.p90",
		"errors.candidate.by_kind.*", "agreement.baseline.rate", "exchanges"} {
		if !strings.Contains(" "+keys+" ", " "+want+" ") {
			t.Errorf("gate keys lack %s", want)
		}
	}
}

func TestEvaluateGates(t *testing.T) {
	cases := []struct {
		expr    string
		passed  bool
		value   float64 // NaN: no value
		message string
	}{
		// agreement.rate = 9/13 = 0.6923
		{"agreement.rate < 0.5", true, 9.0 / 13, "passed: agreement.rate = 0.692308 (fails when < 0.5)"},
		{"agreement.rate < 0.99", false, 9.0 / 13, "FAILED: agreement.rate = 0.692308, which is < 0.99"},
		{"agreement.requests.rate <= 0.5", false, 0.5, ""},
		{"agreement.requests.rate < 0.5", true, 0.5, ""},
		{"errors.candidate.rate > 0.001", false, 0.25, ""},
		{"errors.candidate.by_kind.timeout != 1", true, 1, ""},
		{"errors.candidate.by_kind.dns > 0", true, 0, ""}, // absent kind counts 0
		{"latency_ms.ratio.p50 > 1.2", true, 0.8, ""},
		{"exchanges == 8", false, 8, ""},
		{"agreement.numeric.mae > 0.1", false, nan(), "agreement.numeric.mae has no value in this run, so the gate cannot pass"},
	}
	for _, c := range cases {
		g, err := ParseGate(c.expr)
		if err != nil {
			t.Fatal(err)
		}
		r := fixtureReport(t, Options{})
		passed, err := r.Evaluate([]Gate{g})
		if err != nil {
			t.Fatal(err)
		}
		res := r.Gates[0]
		if passed != c.passed || res.Passed != c.passed || r.Passed != c.passed || len(r.Gates) != 1 {
			t.Errorf("%s: passed %v, want %v (%+v)", c.expr, passed, c.passed, res)
		}
		if (res.Value == nil) != (c.value != c.value) || res.Value != nil && !near(*res.Value, c.value, 1e-12) {
			t.Errorf("%s: value %v, want %v", c.expr, res.Value, c.value)
		}
		if c.message != "" && res.Message != c.message {
			t.Errorf("%s: message %q, want %q", c.expr, res.Message, c.message)
		}
	}

	// With groups, agreement/latency/error gates apply to each group too;
	// /v2 (r03 2/2, r05 0/2) has rate 0.5, /v1 7/9.
	r := fixtureReport(t, Options{By: "path"})
	g1, _ := ParseGate("agreement.rate < 0.6")
	g2, _ := ParseGate("exchanges < 1")
	passed, err := r.Evaluate([]Gate{g1, g2})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range r.Gates {
		got = append(got, g.Group+"|"+g.Expr+"|"+map[bool]string{true: "pass", false: "fail"}[g.Passed])
	}
	want := "|agreement.rate < 0.6|pass |exchanges < 1|pass /v1/models/m:predict|agreement.rate < 0.6|pass /v2/models/m/infer|agreement.rate < 0.6|fail"
	if passed || strings.Join(got, " ") != want {
		t.Errorf("group gates: passed %v\n got %s\nwant %s", passed, strings.Join(got, " "), want)
	}
}

func nan() float64 { var z float64; return z / z }

// A name below a map of counts that the map never holds (a typo) would count
// 0 forever and the gate pass in silence: it is an error listing the names
// the map holds. Unknown keys were errors already.
func TestParseGateRefusesUnknownNames(t *testing.T) {
	errorKinds := "body_too_large, canceled, connection_refused, connection_reset, dns, http_4xx, http_5xx, other, stream_incomplete, timeout, tls"
	cases := []struct {
		expr      string
		mapKey    string // "": not an UnknownNameError
		name      string
		known     string
		errPart   string
		wantValid bool
	}{
		{expr: "errors.candidate.by_kind.timout > 0", mapKey: "errors.candidate.by_kind", name: "timout", known: errorKinds},
		{expr: "errors.baseline.by_kind.Timeout > 0", mapKey: "errors.baseline.by_kind", name: "Timeout", known: errorKinds},
		{expr: "errors.candidate.by_kind.no_response > 0", mapKey: "errors.candidate.by_kind", name: "no_response", known: errorKinds},
		{expr: "errors.recorded.by_kind.timeout > 0", mapKey: "errors.recorded.by_kind", name: "timeout", known: "http_4xx, http_5xx, no_response, stream_incomplete"},
		{expr: "agreement.kinds.lables > 0", mapKey: "agreement.kinds", name: "lables",
			known: "embeddings, labels, other, probabilities, scores, text"},
		{expr: "agreement.baseline.kinds.text2 > 0", mapKey: "agreement.baseline.kinds", name: "text2",
			known: "embeddings, labels, other, probabilities, scores, text"},
		{expr: "errors.candidate.by_kind. > 0", mapKey: "errors.candidate.by_kind", name: "", known: errorKinds},
		// The map itself, and keys that were unknown already.
		{expr: "errors.candidate.by_kind > 0", errPart: "errors.candidate.by_kind is a map of counts, not a number: name one of its error kinds, e.g. errors.candidate.by_kind.timeout"},
		{expr: "latency_ms.ratio.p98 > 1", errPart: `unknown key "latency_ms.ratio.p98"`},
		{expr: "errors.candidat.rate > 0", errPart: `unknown key "errors.candidat.rate"`},
		{expr: "errors.candidate.by_kind.timeout.count > 0", errPart: `unknown key "errors.candidate.by_kind.timeout.count"`},
		{expr: "agreement.rate.low < 1", errPart: `unknown key "agreement.rate.low"`},
		// Known names still parse.
		{expr: "errors.candidate.by_kind.timeout > 0", wantValid: true},
		{expr: "errors.baseline.by_kind.body_too_large > 0", wantValid: true},
		{expr: "errors.recorded.by_kind.no_response > 0", wantValid: true},
		{expr: "agreement.kinds.labels < 1", wantValid: true},
	}
	for _, c := range cases {
		_, err := ParseGate(c.expr)
		if c.wantValid {
			if err != nil {
				t.Errorf("%q: %v", c.expr, err)
			}
			continue
		}
		if !errors.Is(err, ErrGate) || strings.Contains(err.Error(), "--fail-on") || !strings.HasPrefix(err.Error(), `"`+c.expr+`": bad gate: `) {
			t.Errorf("%q: err = %v, want a neutral error wrapping ErrGate that begins with the expression", c.expr, err)
			continue
		}
		var un *UnknownNameError
		if c.mapKey == "" {
			if errors.As(err, &un) || !strings.Contains(err.Error(), c.errPart) {
				t.Errorf("%q: err = %v, want one containing %q", c.expr, err, c.errPart)
			}
			continue
		}
		if !errors.As(err, &un) || un.Map != c.mapKey || un.Name != c.name || strings.Join(un.Known, ", ") != c.known {
			t.Errorf("%q: err = %#v, want an UnknownNameError for %q in %s knowing %s", c.expr, err, c.name, c.mapKey, c.known)
		}
	}
}

// A key a few edits off names its neighbours, nearest first; a key that is
// a prefix names the keys below it; one far from every key names none.
func TestUnknownGateKeySuggestions(t *testing.T) {
	keys := []string{"agreement.rate", "agreement.requests.rate", "agreement.ci95_low", "latency_ms.ratio.p50",
		"latency_ms.ratio.p99", "latency_ms.ratio.p999", "errors.candidate.rate"}
	for _, c := range []struct {
		key  string
		want []string
	}{
		// By hand: p98 is one substitution from p99; two from p50 (9→5,
		// 8→0) and from p999 (8→9, one 9 more); ties keep the keys' order.
		{"latency_ms.ratio.p98", []string{"latency_ms.ratio.p99", "latency_ms.ratio.p50", "latency_ms.ratio.p999"}},
		{"agreement", []string{"agreement.rate", "agreement.ci95_low", "agreement.requests.rate"}},
		{"agreemnt.rate", []string{"agreement.rate"}},
		{"zzz", []string{}},
	} {
		if got := suggestKeys(c.key, keys, 6); !slices.Equal(got, c.want) {
			t.Errorf("suggestKeys(%q) = %v, want %v", c.key, got, c.want)
		}
	}
	for _, c := range []struct {
		a, b  string
		limit int
		want  int
	}{
		{"kitten", "sitting", 5, 3}, // the textbook example: two substitutions, one insertion
		{"p98", "p99", 2, 1},
		{"p98", "p999", 2, 2},
		{"abc", "abcdefgh", 2, 3}, // more than the limit: limit+1
		{"", "ab", 2, 2},
	} {
		if got := editDistance(c.a, c.b, c.limit); got != c.want {
			t.Errorf("editDistance(%q, %q, %d) = %d, want %d", c.a, c.b, c.limit, got, c.want)
		}
	}
	_, err := ParseGate("agreemnt.rate < 1")
	var uk *UnknownKeyError
	if !errors.As(err, &uk) || !errors.Is(err, ErrGate) || uk.Keys != len(GateKeys()) || !slices.Equal(uk.Suggest, []string{"agreement.rate"}) {
		t.Errorf("ParseGate error %#v", err)
	}
}

// A gate whose number lies outside every value its key can take, or
// bounds them all, is refused: it would pass or fail every run whatever
// the models did (errors.candidate.rate > 1 was meant as 1%). Gates at the
// edge of a range that can still go either way parse.
func TestParseGateRefusesVacuousGates(t *testing.T) {
	cases := []struct {
		expr  string
		never bool   // the gate could never fail (else: always fails)
		hint  string // a part of the message
	}{
		{"errors.candidate.rate > 1", true, "errors.candidate.rate is between 0 and 1, so this gate could never fail; for 1% write 0.01"},
		{"agreement.rate < -0.1", true, "agreement.rate is between 0 and 1"},
		{"agreement.rate < 0", true, ""},
		{"agreement.rate > 1", true, ""},
		{"agreement.rate < 1.5", false, "so this gate would fail every run"},
		{"agreement.ci95_low < 99", false, "for 99% write 0.99"},
		{"agreement.rate <= 1", false, ""},
		{"agreement.rate >= 0", false, ""},
		{"agreement.rate == 2", true, ""},
		{"agreement.rate != 2", false, ""},
		{"latency_ms.candidate.p99 < -5", true, "latency_ms.candidate.p99 is never negative"},
		{"latency_ms.ratio.p99 < -1", true, ""},
		{"latency_ms.ratio.p99 >= 0", false, ""},
		{"accuracy.delta.rate < -1.5", true, "accuracy.delta.rate is between -1 and 1"},
		{"agreement.labels.kappa > 1", true, ""},
		{"errors.candidate.by_kind.timeout < 0", true, "errors.candidate.by_kind.timeout is never negative"},
		{"agreement.requests.compared >= 0", false, ""},
	}
	for _, c := range cases {
		_, err := ParseGate(c.expr)
		var re *RangeError
		if !errors.As(err, &re) || !errors.Is(err, ErrGate) || re.Never != c.never || !strings.Contains(err.Error(), c.hint) ||
			!strings.HasPrefix(err.Error(), `"`+c.expr+`": bad gate: `) {
			t.Errorf("%q: err = %v, want a RangeError (never fails: %v) containing %q", c.expr, err, c.never, c.hint)
		}
	}
	for _, expr := range []string{"agreement.rate < 1", "agreement.rate > 0", "errors.candidate.rate > 0",
		"errors.candidate.rate >= 1", "agreement.rate <= 0", "agreement.rate == 1", "accuracy.delta.rate < -0.5",
		"accuracy.delta.ci95_low < -0.01", "latency_ms.delta.p99 < -5", "latency_ms.ratio.p99 > 1.5",
		"latency_ms.candidate.p99 > 250", "errors.candidate.by_kind.timeout > 0", "agreement.labels.kappa < 0.8",
		"agreement.numeric.pearson < -0.5", "shift.psi > 0.2"} {
		if _, err := ParseGate(expr); err != nil {
			t.Errorf("%q: %v", expr, err)
		}
	}
}
