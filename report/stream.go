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

// asCompared is one side's answer as it is compared: body with an event
// stream reassembled (st, nil for another body), and kind, the side's
// error kind, or KindStreamIncomplete for a stream that was cut. The
// Builder and the Comparator both take a row's sides through it.
func asCompared(body []byte, kind string) ([]byte, *stream, string) {
	b, st := unstream(body)
	return b, st, streamKind(kind, st)
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
	Mean  *float64 `json:"mean" gate:"nonneg"`
	P50   *float64 `json:"p50" gate:"nonneg"`
	P99   *float64 `json:"p99" gate:"nonneg"`
	Max   *float64 `json:"max" gate:"nonneg"`
}

// TokenRatio compares mean completion tokens with the recorded answers':
// 2 means twice as verbose.
type TokenRatio struct {
	// Completion is candidate / recorded, Baseline baseline / recorded
	// (its noise floor).
	Completion *float64 `json:"completion" gate:"nonneg"`
	Baseline   *float64 `json:"baseline_completion" gate:"nonneg"`
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

// streamLatency is the time to first token and inter-token latency of each
// side's streamed answers, in nanoseconds.
type streamLatency struct {
	ttftRec, ttftCand, ttftBase, ttftDelta quantiles
	itlRec, itlCand, itlBase               quantiles
}

func newStreamLatency() streamLatency {
	return streamLatency{ttftRec: newQuantiles(), ttftCand: newQuantiles(), ttftBase: newQuantiles(), ttftDelta: newQuantiles(),
		itlRec: newQuantiles(), itlCand: newQuantiles(), itlBase: newQuantiles()}
}

func (s *streamLatency) merge(o *streamLatency) {
	s.ttftRec.Merge(o.ttftRec)
	s.ttftCand.Merge(o.ttftCand)
	s.ttftBase.Merge(o.ttftBase)
	s.ttftDelta.Merge(o.ttftDelta)
	s.itlRec.Merge(o.itlRec)
	s.itlCand.Merge(o.itlCand)
	s.itlBase.Merge(o.itlBase)
}

// tokenTimes adds a side's time to first token (the end of the first event
// that carries content, as vLLM's and NVIDIA's benchmarks count it) and its
// inter-token latencies (the gaps between consecutive content events) to
// ttft and itl. A stream without event times (a results/1 file, an answer
// past the events timed) adds what it has; ok says whether it had a TTFT.
func tokenTimes(st *stream, times []int64, ttft, itl quantiles) (first int64, ok bool) {
	if st == nil || len(st.Content) == 0 || st.Content[0] >= len(times) {
		return 0, false
	}
	first = times[st.Content[0]]
	ttft.Add(float64(first))
	prev := first
	for _, i := range st.Content[1:] {
		if i >= len(times) {
			break
		}
		itl.Add(float64(times[i] - prev))
		prev = times[i]
	}
	return first, true
}

// addStreamLatency counts the streamed answers of row r into c: only sides
// that answered without error.
func (c *core) addStreamLatency(r *replay.Result, rec, cand, base *stream, recKind, candKind, baseKind string) {
	s := &c.stream
	if recKind == "" {
		tokenTimes(rec, r.RecordedEventNs, s.ttftRec, s.itlRec)
	}
	var ct int64
	cok := false
	if candKind == "" {
		ct, cok = tokenTimes(cand, r.CandidateEventNs, s.ttftCand, s.itlCand)
	}
	if r.HasBaseline() && baseKind == "" {
		if bt, ok := tokenTimes(base, r.BaselineEventNs, s.ttftBase, s.itlBase); ok && cok {
			s.ttftDelta.Add(float64(ct - bt))
		}
	}
}

// TTFT is the time to first token of each side's streamed answers, in
// milliseconds (JSON key latency_ms.ttft); null when no answer was a timed
// stream.
type TTFT struct {
	Recorded  *LatencySummary `json:"recorded"`
	Candidate *LatencySummary `json:"candidate"`
	Baseline  *LatencySummary `json:"baseline"`
	// Ratio is candidate / baseline, or / recorded without a baseline.
	Ratio *LatencyRatio `json:"ratio"`
	// Delta is the paired candidate − baseline per request.
	Delta *LatencyDelta `json:"delta"`
}

// ITL is the inter-token latency (gaps between content events) of each
// side, in milliseconds (JSON key latency_ms.itl).
type ITL struct {
	Recorded  *LatencySummary `json:"recorded"`
	Candidate *LatencySummary `json:"candidate"`
	Baseline  *LatencySummary `json:"baseline"`
}

func (s *streamLatency) summaries() (*TTFT, *ITL) {
	var t *TTFT
	if s.ttftRec.Count()+s.ttftCand.Count()+s.ttftBase.Count() > 0 {
		t = &TTFT{Recorded: summarize(s.ttftRec), Candidate: summarize(s.ttftCand), Baseline: summarize(s.ttftBase),
			Delta: delta(s.ttftDelta)}
		if t.Baseline != nil {
			t.Ratio = ratio(t.Candidate, t.Baseline, "baseline")
		} else {
			t.Ratio = ratio(t.Candidate, t.Recorded, "recorded")
		}
	}
	var i *ITL
	if s.itlRec.Count()+s.itlCand.Count()+s.itlBase.Count() > 0 {
		i = &ITL{Recorded: summarize(s.itlRec), Candidate: summarize(s.itlCand), Baseline: summarize(s.itlBase)}
	}
	return t, i
}
