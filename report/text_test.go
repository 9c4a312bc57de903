package report

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/shadowctl/shadowctl/replay"
)

// The expected values are worked out by hand in the comments.
func TestTextSimilaritiesByHand(t *testing.T) {
	cases := []struct {
		a, c                  string
		tokenF1, rougeL, edit float64
		normalized            bool
	}{
		// 3 common words; P = 3/3, R = 3/6: F1 = 2·1·½/(1+½) = 2/3. The
		// LCS is "the cat sat" (3): the same 2/3. Edit: the last 11 of 22
		// characters deleted: 1 − 11/22.
		{"the cat sat on the mat", "the cat sat", 2.0 / 3, 2.0 / 3, 0.5, false},
		// Same words in another order: F1 1. LCS "the capital of france"
		// (4 of 6 each side): P = R = 4/6.
		{"The capital of France is Paris.", "Paris is the capital of France.", 1, 4.0 / 6, -1, false},
		// kitten → sitting: 3 edits over 7 characters.
		{"kitten", "sitting", 0, 0, 1 - 3.0/7, false},
		// Case, spacing and the final full stop fold away; words match.
		{"  Paris.\n", "paris", 1, 1, -1, true},
		{"Hello,   World!", "hello world", 1, 1, -1, false}, // the inner comma stays
		{"", "", 1, 1, 1, true},
		{"", "x", 0, 0, 0, false},
		// LCS of [a b c d] and [b d a]: "b d" (2): P = 2/3, R = 2/4:
		// F = 2·(2/3)(1/2)/(2/3+1/2) = 4/7.
		{"a b c d", "b d a", 6.0 / 7, 4.0 / 7, -1, false},
	}
	for _, c := range cases {
		s := scoreText(c.a, c.c)
		near := func(got, want float64) bool { return want < 0 || math.Abs(got-want) < 1e-12 }
		if !near(s.tokenF1, c.tokenF1) || !near(s.rougeL, c.rougeL) || !near(s.edit, c.edit) || s.normalized != c.normalized {
			t.Errorf("%q vs %q: f1 %v rouge-l %v edit %v normalized %v; want %v %v %v %v", c.a, c.c,
				s.tokenF1, s.rougeL, s.edit, s.normalized, c.tokenF1, c.rougeL, c.edit, c.normalized)
		}
		if s.exact != (c.a == c.c) {
			t.Errorf("%q vs %q: exact %v", c.a, c.c, s.exact)
		}
	}
}

func TestParseTextRule(t *testing.T) {
	for in, want := range map[string]TextRule{
		"": {Metric: "exact"}, "exact": {Metric: "exact"}, "Normalized": {Metric: "normalized"},
		"ROUGE-L>=0.8": {Metric: "rouge-l", Threshold: 0.8}, "token-f1 >= 1": {Metric: "token-f1", Threshold: 1},
		"edit>=0": {Metric: "edit"},
	} {
		got, err := ParseTextRule(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"rouge-l>0.8", "bleu>=0.5", "rouge-l>=1.5", "rouge-l>=x", "edit>=NaN", "rouge-l"} {
		if _, err := ParseTextRule(in); !errors.Is(err, ErrTextRule) {
			t.Errorf("%q: err %v, want ErrTextRule", in, err)
		}
	}
}

func TestSimDistQuantilesByHand(t *testing.T) {
	var d simDist
	for _, v := range []float64{0.9, 0.2, 1, 0.5} {
		d.add(v)
	}
	// Sorted 0.2 0.5 0.9 1: mean 2.6/4; p10 is rank ⌈0.4⌉ = 1, p50 rank 2.
	s := d.summary("rouge-l")
	if f(s.Mean) != 0.65 || f(s.P10) != 0.2 || f(s.P50) != 0.5 || f(s.Min) != 0.2 {
		t.Errorf("%+v", s)
	}
}

func chatAnswer(content string, finish string, tokens int) string {
	c, _ := json.Marshal(content)
	b, _ := json.Marshal(finish)
	return `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":` +
		string(c) + `},"finish_reason":` + string(b) + `}],"usage":{"completion_tokens":` + itoa(tokens) + `}}`
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func toolAnswer(name, args string) string {
	a, _ := json.Marshal(args)
	return `{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":null,` +
		`"tool_calls":[{"id":"c","type":"function","function":{"name":"` + name + `","arguments":` + string(a) + `}}]},` +
		`"finish_reason":"tool_calls"}]}`
}

func TestBuildTextRules(t *testing.T) {
	rec := chatAnswer("The capital of France is Paris.", "stop", 7)
	cand := chatAnswer("Paris is the capital of France.", "length", 14)
	rows := []replay.Result{row("a", "/v1/chat/completions", side{status: 200, body: rec, lat: 10},
		side{status: 200, body: cand, lat: 20}, &side{status: 200, body: rec, lat: 10})}
	// ROUGE-L is 4/6 (TestTextSimilaritiesByHand), token F1 1.
	for rule, agreed := range map[string]bool{"": false, "normalized": false, "rouge-l>=0.6": true,
		"rouge-l>=0.8": false, "token-f1>=1": true} {
		tr, err := ParseTextRule(rule)
		if err != nil {
			t.Fatal(err)
		}
		r := buildRows(t, Options{Text: tr}, rows)
		tx := r.Agreement.Text
		if got := r.Agreement.Requests.Agreed == 1; got != agreed || tx == nil || f(tx.Agreed) != btof(agreed) {
			t.Errorf("rule %q: agreed %v (%+v), want %v", rule, got, tx, agreed)
			continue
		}
		if tx.Count != 1 || f(tx.Exact) != 0 || f(tx.Normalized) != 0 || math.Abs(f(tx.RougeL.Mean)-4.0/6) > 1e-12 || f(tx.RougeL.P50) != 0.667 ||
			f(tx.TokenF1.P50) != 1 || tx.Similarity.Metric == "" {
			t.Errorf("rule %q: text %+v", rule, tx)
		}
		b := r.Agreement.Baseline.Text
		if b == nil || f(b.Exact) != 1 || f(b.Similarity.Mean) != 1 {
			t.Errorf("baseline text %+v", b)
		}
		fr := r.Agreement.FinishReason
		if fr == nil || fr.Count != 1 || f(fr.Changed) != 1 || !reflect.DeepEqual(fr.Transitions, []Transition{{From: "stop", To: "length", Count: 1}}) {
			t.Errorf("finish reasons %+v", fr)
		}
		tok := r.Tokens
		if tok == nil || f(tok.Recorded.Completion.Mean) != 7 || f(tok.Candidate.Completion.P99) != 14 ||
			f(tok.Ratio.Completion) != 2 || f(tok.Ratio.Baseline) != 1 || tok.Candidate.Source != "usage" ||
			f(tok.Candidate.PerSecond.Mean) != 14/0.020 {
			t.Errorf("tokens %+v", tok)
		}
	}
}

func btof(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// JSON-mode contents compare as JSON, with tolerances and ignored paths.
func TestBuildJSONContents(t *testing.T) {
	rec := chatAnswer(`{"answer": 42, "trace": "a1"}`, "stop", 5)
	cand := chatAnswer(`{ "trace":"b2",  "answer": 42.000001 }`, "stop", 5)
	rows := []replay.Result{row("a", "/v1/chat/completions", side{status: 200, body: rec}, side{status: 200, body: cand}, nil)}
	r := buildRows(t, Options{Ignore: []string{"$.trace"}, RelTol: 1e-6}, rows)
	if r.Agreement.Requests.Agreed != 1 || r.Agreement.Text.JSON == nil || r.Agreement.Text.JSON.Count != 1 ||
		f(r.Agreement.Text.JSON.Agreed) != 1 || r.Agreement.Text.Count != 0 {
		t.Errorf("with ignore: %+v %+v", r.Agreement.Requests, r.Agreement.Text)
	}
	r = buildRows(t, Options{RelTol: 1e-6}, rows)
	if r.Agreement.Requests.Agreed != 0 || f(r.Agreement.Text.JSON.Agreed) != 0 {
		t.Errorf("without ignore: %+v", r.Agreement.Text.JSON)
	}
}

func TestBuildToolCalls(t *testing.T) {
	rec := toolAnswer("get_weather", `{"location":"Paris","days":2}`)
	rows := []replay.Result{
		row("a", "/v1/chat/completions", side{status: 200, body: rec}, side{status: 200, body: toolAnswer("get_weather", `{"days": 2, "location": "Paris"}`)}, nil),
		row("b", "/v1/chat/completions", side{status: 200, body: rec}, side{status: 200, body: toolAnswer("get_time", `{"location":"Paris","days":2}`)}, nil),
		row("c", "/v1/chat/completions", side{status: 200, body: rec}, side{status: 200, body: toolAnswer("get_weather", `{"location":"Lyon","days":2}`)}, nil),
		row("d", "/v1/chat/completions", side{status: 200, body: rec}, side{status: 200, body: chatAnswer("It rains.", "stop", 3)}, nil),
	}
	r := buildRows(t, Options{}, rows)
	tc := r.Agreement.ToolCalls
	// 4 recorded calls; d has none to match (a count mismatch). Names
	// agree in a and c, arguments (as JSON) in a and b.
	if tc == nil || tc.Count != 4 || tc.CountMismatch != 1 || f(tc.Names) != 0.5 || f(tc.Arguments) != 0.5 {
		t.Errorf("tool calls %+v", tc)
	}
	if r.Agreement.Requests.Agreed != 1 {
		t.Errorf("requests %+v, want only a agreed", r.Agreement.Requests)
	}
}

// Merging the LLM statistics of two halves gives those of the whole, also
// through encoding/json (how shard summaries travel).
func TestLLMStatsMerge(t *testing.T) {
	b, err := NewBuilder(Options{})
	if err != nil {
		t.Fatal(err)
	}
	pairs := [][2]string{{"a b c", "a b"}, {"x", "x"}, {"the cat", "a dog"}, {`{"k":1}`, `{"k":1}`}, {"Paris.", "paris"}}
	var whole, first, second llmStats
	for i, p := range pairs {
		b.compareText(p[0], p[1], &whole)
		half := &first
		if i >= 2 {
			half = &second
		}
		b.compareText(p[0], p[1], half)
	}
	rec := llmOf(decodeMust(t, toolAnswer("f", `{}`)))
	side := llmOf(decodeMust(t, chatAnswer("no", "length", 1)))
	b.compareChoice(&rec, &side, 0, &whole)
	b.compareChoice(&rec, &side, 0, &second)
	enc, err := json.Marshal(second)
	if err != nil {
		t.Fatal(err)
	}
	var back llmStats
	if err := json.Unmarshal(enc, &back); err != nil {
		t.Fatal(err)
	}
	first.merge(&back)
	if !reflect.DeepEqual(first, whole) {
		t.Errorf("merged %+v\nwhole  %+v", first, whole)
	}
}

func decodeMust(t *testing.T, s string) any {
	t.Helper()
	v, err := decodeJSON([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRenderLLMSections(t *testing.T) {
	rec := chatAnswer("The capital of France is Paris.", "stop", 7)
	cand := chatAnswer("Paris is the capital of France.", "length", 14)
	r := buildRows(t, Options{Text: TextRule{Metric: TextRougeL, Threshold: 0.6}}, []replay.Result{row("a", "/v1/chat/completions",
		side{status: 200, body: rec, lat: 10}, side{status: 200, body: cand, lat: 20}, nil)})
	want := map[string][]string{
		"table":    {"LLM answers", "ROUGE-L", "mean 0.666667, p10 0.667, p50 0.667", "100.00% (rouge-l>=0.6)", "stop → length 1", "Completion tokens"},
		"markdown": {"LLM answers", "token F1", "candidate / recorded (mean)"},
		"junit":    {"text exact 0.00%, agreed 100.00% (rouge-l&gt;=0.6), rouge-l mean 0.666667", "completion tokens candidate/recorded 2"},
		"json":     {`"text": {`, `"rule": "rouge-l>=0.6"`, `"tokens": {`, `"baseline_completion": null`},
	}
	for format, subs := range want {
		var buf strings.Builder
		if err := r.Write(&buf, format); err != nil {
			t.Fatal(err)
		}
		for _, s := range subs {
			if !strings.Contains(buf.String(), s) {
				t.Errorf("%s lacks %q:\n%s", format, s, buf.String())
			}
		}
	}
	for _, key := range []string{"agreement.text.similarity.mean", "agreement.text.exact", "agreement.baseline.text.normalized",
		"tokens.ratio.completion", "tokens.candidate.completion.p99", "agreement.tool_calls.names", "errors.candidate.by_kind.stream_incomplete"} {
		if _, err := ParseGate(key + " < 0.5"); err != nil {
			t.Errorf("gate on %s: %v", key, err)
		}
	}
}
