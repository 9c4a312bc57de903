// Streamed answers in a results row: reassembling them before comparison,
// and the token counts of each side.

package report

import "github.com/shadowctl/shadowctl/replay"

// unstream returns the body to compare: an OpenAI event stream reassembled
// into the answer it adds up to, any other body as it is. st is nil when the
// body is not an event stream.
func unstream(body []byte) ([]byte, *stream) {
	if !isEventStream(body) {
		return body, nil
	}
	s := reassemble(body)
	if s.Body != nil {
		return s.Body, &s
	}
	return body, &s
}

// streamKind is kind, or KindStreamIncomplete for a side that answered
// without error a stream that was cut.
func streamKind(kind string, st *stream) string {
	if kind == "" && st != nil && !st.Complete {
		return replay.KindStreamIncomplete
	}
	return kind
}

// Token count sources.
const (
	tokensUsage  = "usage"
	tokensEvents = "events"
)

// tokenStats are the completion tokens of one side's answers and its output
// rate, in tokens per second of the request's latency.
type tokenStats struct {
	completion, perSecond quantiles
	// fromUsage and fromEvents count the answers whose tokens came from
	// usage.completion_tokens, and from counting content events of a
	// stream without usage.
	fromUsage, fromEvents int64
}

func newTokenStats() tokenStats {
	return tokenStats{completion: newQuantiles(), perSecond: newQuantiles()}
}

// add counts one answer: tokens from usage (-1 when absent), else the
// content events of st, and its latency.
func (t *tokenStats) add(tokens int64, st *stream, latencyNs int64) {
	switch {
	case tokens >= 0:
		t.fromUsage++
	case st != nil && st.Body != nil:
		tokens = int64(len(st.Content))
		t.fromEvents++
	default:
		return
	}
	t.completion.Add(float64(tokens))
	if latencyNs > 0 {
		t.perSecond.Add(float64(tokens) / (float64(latencyNs) / 1e9))
	}
}

func (t *tokenStats) merge(o *tokenStats) {
	t.completion.Merge(o.completion)
	t.perSecond.Merge(o.perSecond)
	t.fromUsage += o.fromUsage
	t.fromEvents += o.fromEvents
}

// Tokens is the output length of each side's LLM answers (JSON key tokens).
// Null when no answer had a token count.
type Tokens struct {
	Recorded  *SideTokens `json:"recorded"`
	Candidate *SideTokens `json:"candidate"`
	Baseline  *SideTokens `json:"baseline"`
	Ratio     *TokenRatio `json:"ratio"`
}

// SideTokens summarises one side.
type SideTokens struct {
	Completion *Summary `json:"completion"`
	// PerSecond is completion tokens over the whole request's latency, per
	// request.
	PerSecond *Summary `json:"per_second"`
	// Source says where the counts came from: "usage" (the answers'
	// usage.completion_tokens), "events" (counted content events of streams
	// sent without usage) or "usage+events".
	Source string `json:"source"`
}

// Summary is a distribution of plain numbers.
type Summary struct {
	Count int64    `json:"count"`
	Mean  *float64 `json:"mean"`
	P50   *float64 `json:"p50"`
	P99   *float64 `json:"p99"`
	Max   *float64 `json:"max"`
}

// TokenRatio compares mean completion tokens with the recorded answers':
// 2 means twice as verbose.
type TokenRatio struct {
	// Completion is candidate / recorded, Baseline baseline / recorded
	// (its noise floor).
	Completion *float64 `json:"completion"`
	Baseline   *float64 `json:"baseline_completion"`
}

func summaryOf(q quantiles) *Summary {
	if q == nil || q.Count() == 0 {
		return nil
	}
	return &Summary{Count: q.Count(), Mean: num(q.Mean()), P50: num(q.Quantile(0.5)), P99: num(q.Quantile(0.99)),
		Max: num(q.Max())}
}

func (t *tokenStats) side() *SideTokens {
	if t.completion.Count() == 0 {
		return nil
	}
	s := &SideTokens{Completion: summaryOf(t.completion), PerSecond: summaryOf(t.perSecond), Source: tokensUsage}
	switch {
	case t.fromUsage > 0 && t.fromEvents > 0:
		s.Source = tokensUsage + "+" + tokensEvents
	case t.fromEvents > 0:
		s.Source = tokensEvents
	}
	return s
}

func (b *Builder) tokens() *Tokens {
	t := &Tokens{Recorded: b.recTokens.side(), Candidate: b.candidate.tokens.side(), Baseline: b.baseline.tokens.side()}
	if t.Recorded == nil && t.Candidate == nil && t.Baseline == nil {
		return nil
	}
	meanRatio := func(s *SideTokens) *float64 {
		if s == nil || t.Recorded == nil || t.Recorded.Completion.Mean == nil || *t.Recorded.Completion.Mean == 0 {
			return nil
		}
		return num(*s.Completion.Mean / *t.Recorded.Completion.Mean)
	}
	t.Ratio = &TokenRatio{Completion: meanRatio(t.Candidate), Baseline: meanRatio(t.Baseline)}
	return t
}
