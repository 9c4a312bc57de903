// LLM answers (OpenAI chat and text completions): text similarity, JSON
// contents, tool calls and finish reasons of one side against the recorded
// answer.

package report

import (
	"bytes"
	"math"
	"sort"
	"strings"
)

// TextAgreement summarises the generated texts of one side against the
// recorded ones (JSON key agreement.text). Rates are in [0, 1].
type TextAgreement struct {
	// Count is the number of text pairs compared as text; JSON contents
	// are counted apart.
	Count      int64    `json:"count"`
	Exact      *float64 `json:"exact" gate:"unit"`
	Normalized *float64 `json:"normalized" gate:"unit"`
	// Rule is the --text-similarity rule, Agreed the rate it gives.
	Rule       string        `json:"rule"`
	Agreed     *float64      `json:"agreed" gate:"unit"`
	Similarity *Distribution `json:"similarity"`
	TokenF1    *Distribution `json:"token_f1"`
	RougeL     *Distribution `json:"rouge_l"`
	Edit       *Distribution `json:"edit"`
	// JSON counts the contents that parsed as JSON on both sides, compared
	// as JSON (tolerances and ignored paths apply).
	JSON *JSONContents `json:"json"`
}

// Distribution is a similarity's distribution over the compared pairs.
type Distribution struct {
	Metric string   `json:"metric,omitempty"`
	Mean   *float64 `json:"mean" gate:"unit"`
	P10    *float64 `json:"p10" gate:"unit"`
	P50    *float64 `json:"p50" gate:"unit"`
	Min    *float64 `json:"min" gate:"unit"`
}

// JSONContents counts contents compared as JSON.
type JSONContents struct {
	Count  int64    `json:"count"`
	Agreed *float64 `json:"agreed" gate:"unit"`
}

// ToolCallAgreement compares tool calls (JSON key agreement.tool_calls).
type ToolCallAgreement struct {
	// Count is the number of recorded calls compared, by position in the
	// choice; CountMismatch the choices whose number of calls differ.
	Count         int64    `json:"count"`
	CountMismatch int64    `json:"count_mismatch"`
	Names         *float64 `json:"names" gate:"unit"`
	Arguments     *float64 `json:"arguments" gate:"unit"`
}

// FinishReasons counts finish_reason changes (JSON key
// agreement.finish_reason), "stop → length" being the one users watch.
type FinishReasons struct {
	Count       int64        `json:"count"`
	Changed     *float64     `json:"changed" gate:"unit"`
	Transitions []Transition `json:"transitions"`
}

// simScale is the resolution similarities are kept at (1/1000).
const simScale = 1000

// simDist is a distribution of similarities in [0, 1] kept at 1/simScale:
// plain fields, so it survives encoding/json and merges by adding.
type simDist struct {
	N    int64           `json:"n"`
	Sum  float64         `json:"sum"`
	Bins map[int32]int64 `json:"bins"`
}

func (d *simDist) add(v float64) {
	if d.Bins == nil {
		d.Bins = map[int32]int64{}
	}
	d.N++
	d.Sum += v
	d.Bins[int32(math.Round(v*simScale))]++
}

func (d *simDist) merge(o *simDist) {
	d.N += o.N
	d.Sum += o.Sum
	for k, v := range o.Bins {
		if d.Bins == nil {
			d.Bins = map[int32]int64{}
		}
		d.Bins[k] += v
	}
}

// quantile is the nearest-rank q-quantile (the smallest value with at
// least ⌈q·n⌉ values at or below it), to 1/simScale.
func (d *simDist) quantile(q float64) float64 {
	keys := make([]int32, 0, len(d.Bins))
	for k := range d.Bins {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	rank := int64(math.Ceil(q * float64(d.N)))
	rank = max(rank, 1)
	var seen int64
	for _, k := range keys {
		seen += d.Bins[k]
		if seen >= rank {
			return float64(k) / simScale
		}
	}
	return math.NaN()
}

func (d *simDist) summary(metric string) *Distribution {
	if d.N == 0 {
		return nil
	}
	return &Distribution{Metric: metric, Mean: num(d.Sum / float64(d.N)), P10: num(d.quantile(0.10)),
		P50: num(d.quantile(0.50)), Min: num(d.quantile(0))}
}

// llmStats is what one side's LLM answers add up to. Its fields are plain
// so that shard summaries can be written with encoding/json and merged.
type llmStats struct {
	Text, Exact, Normalized, Agreed int64
	TokenF1, RougeL, Edit           simDist
	JSON, JSONAgreed                int64
	Calls, CallCounts, Names, Args  int64
	Finish                          int64
	FinishChanged                   map[string]int64 // "from\x00to"
}

func (s *llmStats) merge(o *llmStats) {
	s.Text += o.Text
	s.Exact += o.Exact
	s.Normalized += o.Normalized
	s.Agreed += o.Agreed
	s.TokenF1.merge(&o.TokenF1)
	s.RougeL.merge(&o.RougeL)
	s.Edit.merge(&o.Edit)
	s.JSON += o.JSON
	s.JSONAgreed += o.JSONAgreed
	s.Calls += o.Calls
	s.CallCounts += o.CallCounts
	s.Names += o.Names
	s.Args += o.Args
	s.Finish += o.Finish
	for k, v := range o.FinishChanged {
		if s.FinishChanged == nil {
			s.FinishChanged = map[string]int64{}
		}
		s.FinishChanged[k] += v
	}
}

func ratio64(k, n int64) *float64 {
	if n == 0 {
		return nil
	}
	return num(float64(k) / float64(n))
}

func (s *llmStats) text(rule TextRule) *TextAgreement {
	if s.Text == 0 && s.JSON == 0 {
		return nil
	}
	t := &TextAgreement{Count: s.Text, Exact: ratio64(s.Exact, s.Text), Normalized: ratio64(s.Normalized, s.Text),
		Rule: rule.String(), Agreed: ratio64(s.Agreed, s.Text),
		TokenF1: s.TokenF1.summary(TextTokenF1), RougeL: s.RougeL.summary(TextRougeL), Edit: s.Edit.summary(TextEdit)}
	switch rule.similarityMetric() {
	case TextTokenF1:
		t.Similarity = t.TokenF1
	case TextEdit:
		t.Similarity = t.Edit
	default:
		t.Similarity = t.RougeL
	}
	if s.JSON > 0 {
		t.JSON = &JSONContents{Count: s.JSON, Agreed: ratio64(s.JSONAgreed, s.JSON)}
	}
	return t
}

func (s *llmStats) toolCalls() *ToolCallAgreement {
	if s.Calls == 0 && s.CallCounts == 0 {
		return nil
	}
	return &ToolCallAgreement{Count: s.Calls, CountMismatch: s.CallCounts, Names: ratio64(s.Names, s.Calls),
		Arguments: ratio64(s.Args, s.Calls)}
}

func (s *llmStats) finishReasons() *FinishReasons {
	if s.Finish == 0 {
		return nil
	}
	var changed int64
	f := &FinishReasons{Count: s.Finish, Transitions: []Transition{}}
	for k, n := range s.FinishChanged {
		from, to, _ := strings.Cut(k, "\x00")
		f.Transitions = append(f.Transitions, Transition{From: from, To: to, Count: n})
		changed += n
	}
	sort.Slice(f.Transitions, func(i, j int) bool {
		a, c := f.Transitions[i], f.Transitions[j]
		if a.Count != c.Count {
			return a.Count > c.Count
		}
		return a.From+"\x00"+a.To < c.From+"\x00"+c.To
	})
	f.Changed = ratio64(changed, s.Finish)
	return f
}

// llmChoice is what the comparison reads of one choice besides its text.
type llmChoice struct {
	finish string // "" when absent or null
	calls  []toolCall
}

type toolCall struct {
	name, args string
}

// llmAnswer is the part of a decoded chat or completions answer that the
// text comparison does not see.
type llmAnswer struct {
	choices []llmChoice
	// tokens is usage.completion_tokens, -1 when absent.
	tokens int64
}

// llmOf reads finish reasons, tool calls and usage from a decoded answer.
func llmOf(v any) llmAnswer {
	out := llmAnswer{tokens: -1}
	obj, _ := v.(map[string]any)
	if u, ok := obj["usage"].(map[string]any); ok {
		if t, ok := toFloat(u["completion_tokens"]); ok {
			out.tokens = int64(t)
		}
	}
	list, _ := obj["choices"].([]any)
	for _, c := range list {
		ch, _ := c.(map[string]any)
		var lc llmChoice
		lc.finish, _ = ch["finish_reason"].(string)
		msg, _ := ch["message"].(map[string]any)
		calls, _ := msg["tool_calls"].([]any)
		for _, tc := range calls {
			fn, _ := tc.(map[string]any)["function"].(map[string]any)
			name, _ := fn["name"].(string)
			args, _ := fn["arguments"].(string)
			lc.calls = append(lc.calls, toolCall{name: name, args: args})
		}
		out.choices = append(out.choices, lc)
	}
	return out
}

// compareChoice compares the finish reason and tool calls of choice i of
// both answers, counts them into m and returns whether the calls agree.
func (b *Builder) compareChoice(rec, side *llmAnswer, i int, m *llmStats) bool {
	if i >= len(rec.choices) || i >= len(side.choices) {
		return true
	}
	a, c := rec.choices[i], side.choices[i]
	if a.finish != "" || c.finish != "" {
		m.Finish++
		if a.finish != c.finish {
			if m.FinishChanged == nil {
				m.FinishChanged = map[string]int64{}
			}
			from, to := a.finish, c.finish
			if from == "" {
				from = "(none)"
			}
			if to == "" {
				to = "(none)"
			}
			m.FinishChanged[from+"\x00"+to]++
		}
	}
	agree := len(a.calls) == len(c.calls)
	if !agree {
		m.CallCounts++
	}
	for k, call := range a.calls {
		m.Calls++
		if k >= len(c.calls) {
			continue
		}
		names := call.name == c.calls[k].name
		args := b.sameArguments(call.args, c.calls[k].args)
		m.Names += btoi(names)
		m.Args += btoi(args)
		agree = agree && names && args
	}
	return agree
}

// sameArguments compares tool-call arguments as JSON (with the tolerances
// and ignored paths), or as bytes when either is not JSON.
func (b *Builder) sameArguments(a, c string) bool {
	if a == c {
		return true
	}
	x, okA := b.contentJSON(a)
	y, okC := b.contentJSON(c)
	if !okA || !okC {
		return false
	}
	return equalJSON(x, y, b.tol)
}

// contentJSON decodes s when it is a JSON object or array (JSON mode,
// structured outputs, tool arguments), with the ignored paths removed.
func (b *Builder) contentJSON(s string) (any, bool) {
	t := bytes.TrimSpace([]byte(s))
	if len(t) == 0 || (t[0] != '{' && t[0] != '[') {
		return nil, false
	}
	v, err := decodeJSON(t)
	if err != nil {
		return nil, false
	}
	if len(b.ignore) > 0 {
		v = removePaths(v, b.ignore)
	}
	return v, true
}

// compareText decides whether two generated texts agree and counts their
// measures into m. Contents that are JSON on both sides are compared as
// JSON; a null content counts as empty text.
func (b *Builder) compareText(a, c any, m *llmStats) bool {
	sa, okA := a.(string)
	sc, okC := c.(string)
	if (!okA && a != nil) || (!okC && c != nil) {
		return equalJSON(a, c, b.tol)
	}
	if x, ok := b.contentJSON(sa); ok {
		if y, ok := b.contentJSON(sc); ok {
			eq := equalJSON(x, y, b.tol)
			m.JSON++
			m.JSONAgreed += btoi(eq)
			return eq
		}
	}
	s := scoreText(sa, sc)
	m.Text++
	m.Exact += btoi(s.exact)
	m.Normalized += btoi(s.normalized)
	m.TokenF1.add(s.tokenF1)
	m.RougeL.add(s.rougeL)
	m.Edit.add(s.edit)
	eq := b.opts.Text.agrees(s)
	m.Agreed += btoi(eq)
	return eq
}
