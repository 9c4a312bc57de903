package report

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/shadowctl/shadowctl/record"
	"github.com/shadowctl/shadowctl/replay"
)

// The recorder and replay count a stream's events as the report splits
// them, so event i of splitEvents took the i-th stored time.
func TestStreamTimingCountsTheReportsEvents(t *testing.T) {
	for _, name := range []string{"openai_chat_usage.sse", "openai_chat_crlf.sse", "vllm_chat.sse", "llamacpp_chat.sse",
		"openai_tools.sse", "completions.sse", "vllm_cut.sse"} {
		body := readStream(t, name)
		events, _ := splitEvents(body)
		for _, size := range []int{1, 2, 7, len(body)} {
			var tm record.StreamTiming
			tm.Start(true)
			for i := 0; i < len(body); i += size {
				tm.Observe(body[i:min(i+size, len(body))], 1)
			}
			if tm.Events() != int64(len(events)) {
				t.Errorf("%s in reads of %d: %d events, the report splits %d", name, size, tm.Events(), len(events))
			}
			tm.Reset()
		}
	}
}

// TTFT is the time of the first event that carries content; ITL the gaps
// between content events. The values are worked out by hand from the
// fixtures' content events (sse_test.go).
func TestBuildTTFTAndITLByHand(t *testing.T) {
	vllm := string(readStream(t, "vllm_chat.sse"))      // content events 1, 2, 3 of 7
	llama := string(readStream(t, "llamacpp_chat.sse")) // content events 2, 3 of 6
	r1 := row("a", "/v1/chat/completions", side{status: 200, body: vllm, lat: 100}, side{status: 200, body: llama, lat: 90},
		&side{status: 200, body: vllm, lat: 80})
	r1.RecordedEventNs = []int64{5 * ms, 40 * ms, 50 * ms, 70 * ms, 71 * ms, 72 * ms, 73 * ms}
	r1.CandidateEventNs = []int64{2 * ms, 3 * ms, 30 * ms, 30 * ms, 31 * ms, 31 * ms}
	r1.BaselineEventNs = []int64{5 * ms, 20 * ms, 30 * ms, 32 * ms, 33 * ms, 34 * ms, 35 * ms}
	// A second row whose candidate stream has no times (results/1): no
	// TTFT for it, and no paired delta.
	r2 := row("b", "/v1/chat/completions", side{status: 200, body: vllm, lat: 100}, side{status: 200, body: llama, lat: 90},
		&side{status: 200, body: vllm, lat: 80})
	r2.RecordedEventNs = []int64{1 * ms, 60 * ms, 61 * ms, 62 * ms}
	r2.BaselineEventNs = []int64{1 * ms, 10 * ms}
	r := buildRows(t, Options{}, []replay.Result{r1, r2})
	tt := r.Latency.TTFT
	// recorded: 40 and 60 ms; candidate: 30 (row a only); baseline 20, 10.
	if tt == nil || tt.Recorded.Count != 2 || f(tt.Recorded.P50) != 40 || f(tt.Recorded.Max) != 60 ||
		tt.Candidate.Count != 1 || f(tt.Candidate.Mean) != 30 || tt.Baseline.Count != 2 || f(tt.Baseline.Mean) != 15 {
		t.Fatalf("ttft %s", mustJSON(t, tt))
	}
	// Ratio against the baseline: candidate p50 30 / baseline p50 10
	// (nearest rank of 10, 20). Paired delta, row a only: 30 − 20.
	if tt.Ratio.Against != "baseline" || f(tt.Ratio.P50) != 3 || tt.Delta.Count != 1 || f(tt.Delta.Mean) != 10 {
		t.Errorf("ratio %s, delta %s", mustJSON(t, tt.Ratio), mustJSON(t, tt.Delta))
	}
	itl := r.Latency.ITL
	// recorded: a 10, 20; b 1, 1 (events 2 and 3 of b are timed, not 4+).
	// candidate: a 0 (both came in one read). baseline: a 10, 2; b none
	// (only events 0 and 1 timed).
	if itl == nil || itl.Recorded.Count != 4 || f(itl.Recorded.Mean) != 8 || f(itl.Recorded.Max) != 20 ||
		itl.Candidate.Count != 1 || f(itl.Candidate.Max) != 0 || itl.Baseline.Count != 2 || f(itl.Baseline.Mean) != 6 {
		t.Errorf("itl %s", mustJSON(t, itl))
	}
	// Tokens: usage on every side here (4 for vLLM, 2 for llama.cpp).
	if r.Tokens == nil || f(r.Tokens.Ratio.Completion) != 0.5 || r.Tokens.Candidate.Source != "usage" {
		t.Errorf("tokens %s", mustJSON(t, r.Tokens))
	}
	for _, key := range []string{"latency_ms.ttft.ratio.p99", "latency_ms.ttft.candidate.p90", "latency_ms.itl.baseline.p99",
		"latency_ms.ttft.delta.mean"} {
		g, err := ParseGate(key + " > 100")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Evaluate([]Gate{g}); err != nil || r.Gates[0].Value == nil {
			t.Errorf("gate on %s: %+v, %v", key, r.Gates, err)
		}
	}
	var table strings.Builder
	if err := r.Write(&table, "table"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Time to first token (ms)", "Inter-token latency (ms)", "candidate / baseline"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q", s)
		}
	}
}

// Without usage, completion tokens are the stream's content events.
func TestTokensFromEvents(t *testing.T) {
	tools := string(readStream(t, "openai_tools.sse")) // 4 content events, no usage
	r := buildRows(t, Options{}, []replay.Result{row("a", "/v1/chat/completions", side{status: 200, body: tools, lat: 10},
		side{status: 200, body: tools, lat: 20}, nil)})
	c := r.Tokens.Candidate
	if c.Source != "events" || f(c.Completion.Mean) != 4 || f(c.PerSecond.Mean) != 4/0.020 {
		t.Errorf("tokens %s", mustJSON(t, r.Tokens))
	}
}

// The stream latencies of two halves merge into those of the whole.
func TestStreamLatencyMerge(t *testing.T) {
	st := reassemble(readStream(t, "vllm_chat.sse"))
	times := [][]int64{{1, 5, 9, 20}, {2, 3, 3, 4}, {7, 8}}
	whole, a, b := newStreamLatency(), newStreamLatency(), newStreamLatency()
	for i, ts := range times {
		tokenTimes(&st, ts, whole.ttftCand, whole.itlCand)
		half := &a
		if i > 0 {
			half = &b
		}
		tokenTimes(&st, ts, half.ttftCand, half.itlCand)
	}
	a.merge(&b)
	// Tokens too: usage, counted events, and answers without either.
	tw, ta, tb := newTokenStats(), newTokenStats(), newTokenStats()
	for i, tok := range []int64{5, -1, 7, -1} {
		var s *stream
		if i == 1 {
			s = &st
		}
		tw.add(tok, s, int64(i+1)*ms)
		half := &ta
		if i > 1 {
			half = &tb
		}
		half.add(tok, s, int64(i+1)*ms)
	}
	ta.merge(&tb)
	if !reflect.DeepEqual(tw.side(), ta.side()) || tw.side().Source != "usage+events" || tw.side().Completion.Count != 3 {
		t.Errorf("merged tokens %s, whole %s", mustJSON(t, ta.side()), mustJSON(t, tw.side()))
	}
	wt, wi := whole.summaries()
	mt, mi := a.summaries()
	if !reflect.DeepEqual(wt, mt) || !reflect.DeepEqual(wi, mi) {
		t.Errorf("merged %s %s, whole %s %s", mustJSON(t, mt), mustJSON(t, mi), mustJSON(t, wt), mustJSON(t, wi))
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// On random bodies of short lines and every kind of line end, split into
// random reads, the recorder's count is the report's.
func TestStreamTimingCountsRandomBodies(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	parts := []string{"data: x", "\n", "\r", "\r\n", ": ping", "id: 1", "d"}
	for range 2000 {
		var b []byte
		for range rng.IntN(30) {
			b = append(b, parts[rng.IntN(len(parts))]...)
		}
		events, _ := splitEvents(b)
		var tm record.StreamTiming
		tm.Start(true)
		for i := 0; i < len(b); {
			n := 1 + rng.IntN(5)
			tm.Observe(b[i:min(i+n, len(b))], 1)
			i += n
		}
		if tm.Events() != int64(len(events)) {
			t.Fatalf("%q: recorder counts %d events, report %d", b, tm.Events(), len(events))
		}
		tm.Reset()
	}
}

// The keys issue 15 fixes for CI scripts are all gate keys.
func TestLLMKeysAreGateKeys(t *testing.T) {
	var keys []string
	for _, side := range []string{"recorded", "candidate", "baseline"} {
		for _, s := range []string{"count", "mean", "p50", "p90", "p99", "max"} {
			keys = append(keys, "latency_ms.ttft."+side+"."+s)
		}
		for _, s := range []string{"count", "mean", "p50", "p99"} {
			keys = append(keys, "latency_ms.itl."+side+"."+s)
		}
		for _, s := range []string{"count", "mean", "p99"} {
			keys = append(keys, "tokens."+side+".completion."+s)
		}
	}
	for _, s := range []string{"p50", "p90", "p99"} {
		keys = append(keys, "latency_ms.ttft.ratio."+s)
	}
	for _, a := range []string{"agreement.text.", "agreement.baseline.text."} {
		for _, s := range []string{"count", "exact", "normalized", "similarity.mean", "similarity.p10", "similarity.p50"} {
			keys = append(keys, a+s)
		}
	}
	keys = append(keys, "tokens.ratio.completion", "errors.candidate.by_kind.stream_incomplete")
	for _, k := range keys {
		if _, err := ParseGate(k + " > 0.5"); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
}
