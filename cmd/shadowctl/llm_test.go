package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeLLM is an OpenAI-compatible chat server that answers with answer, as
// vLLM does: streamed (one word per chunk, a ": ping" keep-alive, a
// finishing chunk, a usage chunk when asked, [DONE]) or not. Each chunk
// carries the time it was sent, so two streams of the same words never
// have the same bytes. A prompt "cut" gets a stream that stops after two
// words when cut is true.
func fakeLLM(t *testing.T, answer string, cut bool, gap time.Duration) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Stream   bool `json:"stream"`
			Messages []struct {
				Content string `json:"content"`
			} `json:"messages"`
			StreamOptions struct {
				IncludeUsage bool `json:"include_usage"`
			} `json:"stream_options"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.URL.Path != "/v1/chat/completions" {
			http.Error(w, "bad request", 400)
			return
		}
		words := strings.SplitAfter(answer, " ")
		usage := fmt.Sprintf(`{"prompt_tokens":3,"completion_tokens":%d,"total_tokens":%d}`, len(words), len(words)+3)
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			content, _ := json.Marshal(answer)
			fmt.Fprintf(w, `{"id":"chatcmpl-%d","object":"chat.completion","created":%d,"model":"m",`+
				`"choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}],"usage":%s}`,
				time.Now().UnixNano(), time.Now().UnixNano(), content, usage)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		f := w.(http.Flusher)
		chunk := func(delta, finish string) {
			fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":%d,\"model\":\"m\","+
				"\"choices\":[{\"index\":0,\"delta\":%s,\"logprobs\":null,\"finish_reason\":%s}]}\n\n", time.Now().UnixNano(), delta, finish)
			f.Flush()
		}
		chunk(`{"role":"assistant","content":""}`, "null")
		for i, word := range words {
			time.Sleep(gap)
			if cut && i == 2 && req.Messages[0].Content == "cut" {
				return // the stream ends midway: no finish_reason, no [DONE]
			}
			if i == 1 {
				fmt.Fprint(w, ": ping\n\n")
			}
			content, _ := json.Marshal(word)
			chunk(`{"content":`+string(content)+`}`, "null")
		}
		chunk(`{}`, `"stop"`)
		if req.StreamOptions.IncludeUsage {
			fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":%s}\n\n", usage)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// The whole path on the real binary with streamed LLM answers: record
// (the client gets the stream), replay against v2 with v1 as baseline,
// report. v1 agrees with itself although no two streams have the same
// bytes; v2 says the same in other words; one v2 stream is cut.
func TestLLMStreamsRecordReplayReport(t *testing.T) {
	bin := buildBinary(t)
	const gap = 2 * time.Millisecond
	v1 := fakeLLM(t, "The capital of France is Paris.", false, gap)
	v2 := fakeLLM(t, "Paris is the capital of France.", true, gap)
	dir := t.TempDir()
	recs := filepath.Join(dir, "rec")
	p := startRecorder(t, bin, "--listen", "127.0.0.1:0", "--admin", "", "--upstream", v1.URL, "--out", recs, "--instance", "llm")
	prompts := []struct {
		content string
		stream  bool
	}{{"a", true}, {"b", true}, {"c", true}, {"d", true}, {"cut", true}, {"plain", false}}
	for _, q := range prompts {
		body := fmt.Sprintf(`{"model":"m","messages":[{"role":"user","content":%q}],"stream":%v,"stream_options":{"include_usage":true}}`,
			q.content, q.stream)
		res, err := http.Post(p.addr+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("through the recorder: %d %v", res.StatusCode, err)
		}
		if q.stream && (!strings.HasSuffix(string(got), "data: [DONE]\n\n") || strings.Count(string(got), "\n\n") != 11) {
			t.Fatalf("the client got %q", got)
		}
	}
	p.stop(t)

	results := filepath.Join(dir, "results.parquet")
	cmd := exec.Command(bin, "replay", "--target", v2.URL, "--baseline", v1.URL, "--out", results, recs)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	// Every streamed answer was timed on each side: 11 events (role, ping,
	// 6 words, finish, usage, [DONE]), in order; the cut one 4.
	for _, r := range readResults(t, results) {
		if !strings.HasPrefix(string(r.RecordedBody), "data:") {
			continue
		}
		if r.RecordedEvents != 11 || len(r.RecordedEventNs) != 11 || !slices.IsSorted(r.RecordedEventNs) ||
			r.RecordedFirstByteNs <= 0 || r.RecordedFirstByteNs > r.RecordedEventNs[0] {
			t.Errorf("recorded timing %d %v first %d", r.RecordedEvents, r.RecordedEventNs, r.RecordedFirstByteNs)
		}
		if want := int64(11); strings.Contains(string(r.RequestBody), `"cut"`) {
			want = 4
			if r.CandidateEvents != want {
				t.Errorf("cut stream: %d candidate events, want %d", r.CandidateEvents, want)
			}
		} else if r.CandidateEvents != want || !slices.IsSorted(r.CandidateEventNs) || *r.BaselineEvents != want {
			t.Errorf("candidate %d events %v, baseline %d", r.CandidateEvents, r.CandidateEventNs, *r.BaselineEvents)
		}
	}

	cmd = exec.Command(bin, "report", "--format", "json", "--text-similarity", "rouge-l>=0.6",
		"--fail-on", "latency_ms.ttft.ratio.p99 > 1000", "--fail-on", "agreement.baseline.text.exact < 1", results)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("report: %v\n%s", err, stderr.String())
	}
	var rep struct {
		Agreement struct {
			Requests struct{ Compared, Agreed int64 }
			Text     struct {
				Count      int64
				Exact      float64
				Agreed     float64
				Similarity struct {
					Metric string
					Mean   float64
				}
			}
			Baseline struct {
				Requests struct{ Compared, Agreed int64 }
				Text     struct {
					Count int64
					Exact float64
				}
			}
		}
		Latency struct {
			TTFT struct{ Recorded, Candidate, Baseline struct{ Count int64 } } `json:"ttft"`
			ITL  struct{ Recorded, Candidate, Baseline struct{ Count int64 } } `json:"itl"`
		} `json:"latency_ms"`
		Errors struct {
			Candidate struct {
				ByKind map[string]int64 `json:"by_kind"`
			} `json:"candidate"`
		}
		Tokens struct {
			Ratio struct{ Completion float64 }
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	a := rep.Agreement
	// 6 compared; the cut one disagrees, the other 5 agree by ROUGE-L (4/6
	// of the words in order: "the capital of france"), none exactly.
	if a.Requests.Compared != 6 || a.Requests.Agreed != 5 || a.Text.Count != 5 || a.Text.Exact != 0 || a.Text.Agreed != 1 ||
		a.Text.Similarity.Metric != "rouge-l" || a.Text.Similarity.Mean < 0.666 || a.Text.Similarity.Mean > 0.667 {
		t.Errorf("agreement %+v", a)
	}
	if a.Baseline.Requests.Agreed != 6 || a.Baseline.Text.Count != 6 || a.Baseline.Text.Exact != 1 {
		t.Errorf("baseline agreement %+v", a.Baseline)
	}
	if n := rep.Errors.Candidate.ByKind["stream_incomplete"]; n != 1 {
		t.Errorf("stream_incomplete = %d", n)
	}
	// TTFT of each complete stream: 5 recorded and baseline, 4 candidate;
	// ITL: 5 gaps between the 6 words of each.
	l := rep.Latency
	if l.TTFT.Recorded.Count != 5 || l.TTFT.Baseline.Count != 5 || l.TTFT.Candidate.Count != 4 ||
		l.ITL.Recorded.Count != 25 || l.ITL.Baseline.Count != 25 || l.ITL.Candidate.Count != 20 {
		t.Errorf("latency %+v", l)
	}
	if rep.Tokens.Ratio.Completion != 1 {
		t.Errorf("token ratio %v", rep.Tokens.Ratio.Completion)
	}

	// A gate on the cut stream fails the run.
	cmd = exec.Command(bin, "report", "--fail-on", "errors.candidate.by_kind.stream_incomplete > 0", results)
	stderr.Reset()
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "errors.candidate.by_kind.stream_incomplete = 1") {
		t.Errorf("gate: %v, %s", err, stderr.String())
	}
}
