package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/shadowctl/shadowctl/replay"
)

func readStream(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "streams", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The fixtures are written from the documented stream formats of OpenAI
// (chat.completion.chunk with stream_options.include_usage, tool-call
// deltas, text_completion), vLLM (an empty last content delta, usage in a
// chunk without choices) and llama.cpp's server (a null first content,
// usage and timings in the finishing chunk), with ": ping" comments,
// multi-line data, event and id fields, and CRLF line ends.
func TestReassembleDocumentedStreams(t *testing.T) {
	type call struct{ ID, Name, Args string }
	type choice struct {
		Content any // string, or nil for a null content
		Text    string
		Finish  string
		Calls   []call
	}
	cases := []struct {
		file     string
		object   string
		choices  []choice
		tokens   int64
		content  []int // events that carry content
		complete bool
	}{
		{file: "openai_chat_usage.sse", object: "chat.completion", choices: []choice{{Content: "Hello there!", Finish: "stop"}},
			tokens: 3, content: []int{1, 2}, complete: true},
		{file: "openai_chat_crlf.sse", object: "chat.completion", choices: []choice{{Content: "Hello there!", Finish: "stop"}},
			tokens: 3, content: []int{1, 2}, complete: true},
		{file: "vllm_chat.sse", object: "chat.completion", choices: []choice{{Content: "The capital is Paris.", Finish: "stop"}},
			tokens: 4, content: []int{1, 2, 3}, complete: true},
		// Event 1 is the ": ping" block, which carries no data.
		{file: "llamacpp_chat.sse", object: "chat.completion", choices: []choice{{Content: "Hi!", Finish: "stop"}},
			tokens: 2, content: []int{2, 3}, complete: true},
		{file: "openai_tools.sse", object: "chat.completion", choices: []choice{{Content: nil, Finish: "tool_calls",
			Calls: []call{{"call_a", "get_weather", `{"location": "Paris"}`}, {"call_b", "get_time", `{"tz": "CET"}`}}}},
			tokens: -1, content: []int{0, 1, 2, 3}, complete: true},
		// Two choices interleaved; the third data event spans two lines.
		{file: "completions.sse", object: "text_completion", choices: []choice{{Text: "Once upon", Finish: "length"}, {Text: "Twice", Finish: "stop"}},
			tokens: -1, content: []int{0, 1, 3}, complete: true},
		// Cut inside the fifth event: no [DONE], no finish_reason.
		{file: "vllm_cut.sse", object: "chat.completion", choices: []choice{{Content: "The capital", Finish: ""}},
			tokens: -1, content: []int{1, 2}, complete: false},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			body := readStream(t, c.file)
			if !isEventStream(body) {
				t.Fatal("not detected as an event stream")
			}
			s := reassemble(body)
			if s.Complete != c.complete || s.CompletionTokens != c.tokens || !reflect.DeepEqual(s.Content, c.content) {
				t.Errorf("complete %v tokens %d content events %v, want %v %d %v", s.Complete, s.CompletionTokens, s.Content,
					c.complete, c.tokens, c.content)
			}
			var got struct {
				Object  string `json:"object"`
				Choices []struct {
					Index   int     `json:"index"`
					Text    string  `json:"text"`
					Finish  *string `json:"finish_reason"`
					Message struct {
						Role      string `json:"role"`
						Content   any    `json:"content"`
						ToolCalls []struct {
							ID       string `json:"id"`
							Type     string `json:"type"`
							Function struct{ Name, Arguments string }
						} `json:"tool_calls"`
					} `json:"message"`
				} `json:"choices"`
			}
			if err := json.Unmarshal(s.Body, &got); err != nil {
				t.Fatalf("reassembled body %s: %v", s.Body, err)
			}
			if got.Object != c.object || len(got.Choices) != len(c.choices) {
				t.Fatalf("got %s", s.Body)
			}
			for i, w := range c.choices {
				g := got.Choices[i]
				finish := ""
				if g.Finish != nil {
					finish = *g.Finish
				}
				var calls []call
				for _, tc := range g.Message.ToolCalls {
					if tc.Type != "function" {
						t.Errorf("tool call type %q", tc.Type)
					}
					calls = append(calls, call{tc.ID, tc.Function.Name, tc.Function.Arguments})
				}
				content := g.Message.Content
				if c.object == "text_completion" {
					content = nil
				} else if g.Message.Role != "assistant" {
					t.Errorf("role %q", g.Message.Role)
				}
				if g.Index != i || g.Text != w.Text || content != w.Content || finish != w.Finish || !reflect.DeepEqual(calls, w.Calls) {
					t.Errorf("choice %d = %s", i, s.Body)
				}
			}
		})
	}
}

func TestSplitEventsCountsBlocks(t *testing.T) {
	cases := []struct {
		body string
		n    int
		tail bool
	}{
		{"data: a\n\ndata: b\n\n", 2, false},
		{"data: a\r\n\r\ndata: b\r\n\r\n", 2, false},
		{"data: a\r\rdata: b\r\r", 2, false},
		{"\n\n: ping\n\ndata: a\n\n", 2, false}, // leading blank lines make no block
		{"data: a\n\ndata: b", 1, true},
		{"data: a\n\ndata: b\n", 1, true},
		{"", 0, false},
	}
	for _, c := range cases {
		ev, tail := splitEvents([]byte(c.body))
		if len(ev) != c.n || tail != c.tail {
			t.Errorf("%q: %d events, tail %v; want %d, %v", c.body, len(ev), tail, c.n, c.tail)
		}
	}
	ev, _ := splitEvents([]byte("data: {\"a\":\ndata:1}\nid: 3\n\n"))
	if len(ev) != 1 || ev[0].Data != "{\"a\":\n1}" {
		t.Errorf("multi-line data = %+v", ev)
	}
}

func TestIsEventStream(t *testing.T) {
	for body, want := range map[string]bool{
		"data: {}\n\n": true, ": ping\n\n": true, "\n\nevent: x\n": true, "id: 1\n": true, "\xef\xbb\xbfdata: x": true,
		`{"choices":[]}`: false, "": false, "datum": false,
	} {
		if got := isEventStream([]byte(body)); got != want {
			t.Errorf("%q: %v, want %v", body, got, want)
		}
	}
}

// A stream compares as the non-streamed answer it adds up to; a cut one is
// the candidate error stream_incomplete, not a disagreement.
func TestBuildComparesStreamsAsAnswers(t *testing.T) {
	const chat = `{"id":"chatcmpl-9","object":"chat.completion","created":5,"model":"gpt-4o-mini",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello there!"},"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}`
	stream := string(readStream(t, "openai_chat_usage.sse"))
	cut := string(readStream(t, "vllm_cut.sse"))
	rows := []replay.Result{
		row("a", "/v1/chat/completions", side{status: 200, body: chat, lat: 10}, side{status: 200, body: stream, lat: 12}, nil),
		row("b", "/v1/chat/completions", side{status: 200, body: stream, lat: 10}, side{status: 200, body: stream, lat: 12}, nil),
		row("c", "/v1/chat/completions", side{status: 200, body: stream, lat: 10}, side{status: 200, body: cut, lat: 12}, nil),
	}
	r := buildRows(t, Options{}, rows)
	if r.Agreement.Requests.Compared != 3 || r.Agreement.Requests.Agreed != 2 {
		t.Errorf("requests %+v, want 2 of 3 agreed", r.Agreement.Requests)
	}
	if n := r.Errors.Candidate.ByKind["stream_incomplete"]; n != 1 {
		t.Errorf("stream_incomplete = %d, want 1 (%v)", n, r.Errors.Candidate.ByKind)
	}
	if r.Agreement.Field != "$.choices[*].message.content" {
		t.Errorf("field %q", r.Agreement.Field)
	}
	if r.Agreement.Text == nil || r.Agreement.Text.Count != 2 || f(r.Agreement.Text.Exact) != 1 {
		t.Errorf("text %+v", r.Agreement.Text)
	}
	// Recorded cut: not compared, counted as the recorded side's error.
	r = buildRows(t, Options{}, []replay.Result{
		row("d", "/v1/chat/completions", side{status: 200, body: cut, lat: 10}, side{status: 200, body: stream, lat: 12}, nil)})
	if r.NotCompared.RecordedFailed != 1 || r.Errors.Recorded.ByKind["stream_incomplete"] != 1 {
		t.Errorf("not compared %+v, recorded errors %v", r.NotCompared, r.Errors.Recorded.ByKind)
	}
}
