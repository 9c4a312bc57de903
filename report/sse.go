// Server-Sent Events: splitting a recorded text/event-stream body into its
// events, and reassembling an OpenAI-style stream of chunks into the answer
// the same request would have had without "stream": true.

package report

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
)

// sseEvent is one block of a stream: the lines up to a blank line. Data is
// the joined data lines (WHATWG: joined with "\n"); HasData is false for a
// block of comments only (a ": ping" keep-alive).
type sseEvent struct {
	Data    string
	HasData bool
}

// isEventStream tells from its first bytes whether a body is a stream of
// Server-Sent Events (the results format keeps no Content-Type): its first
// non-blank line is a field (data:, event:, id:, retry:) or a comment.
func isEventStream(body []byte) bool {
	b := bytes.TrimLeft(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(b) == 0 {
		return false
	}
	if b[0] == ':' {
		return true
	}
	for _, f := range []string{"data:", "event:", "id:", "retry:"} {
		if bytes.HasPrefix(b, []byte(f)) {
			return true
		}
	}
	return false
}

// splitEvents splits body into its blocks, in order. A block ends at a
// blank line and holds at least one line; this is the count the recorder
// and replay keep event times for (record.StreamTiming), so block i arrived
// at their i-th time. tail is true when the body ends inside a block (the
// stream was cut before the block's blank line).
func splitEvents(body []byte) (events []sseEvent, tail bool) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	var cur sseEvent
	var data strings.Builder
	lines := 0
	for len(body) > 0 {
		i := bytes.IndexAny(body, "\r\n")
		line := body
		rest := []byte(nil)
		if i >= 0 {
			line = body[:i]
			rest = body[i+1:]
			if body[i] == '\r' && len(rest) > 0 && rest[0] == '\n' {
				rest = rest[1:]
			}
		}
		body = rest
		if len(line) == 0 {
			if i < 0 {
				break
			}
			if lines > 0 {
				cur.Data = data.String()
				events = append(events, cur)
			}
			cur, lines = sseEvent{}, 0
			data.Reset()
			continue
		}
		lines++
		if i < 0 {
			// The last line has no end: the block is cut.
			return events, true
		}
		if line[0] == ':' {
			continue // a comment
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		if string(name) == "data" {
			if cur.HasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			cur.HasData = true
		}
	}
	return events, lines > 0
}

// stream is what the report learns from an event-stream body.
type stream struct {
	// Body is the reassembled answer as JSON, or nil when the stream is not
	// an OpenAI stream of chunks (then the raw bytes are compared).
	Body []byte
	// Complete: the stream ended as a stream should ([DONE], or every
	// choice finished at an event's end); false for one cut midway or one
	// that sent an error event.
	Complete bool
	// Content lists the indexes of the events (of splitEvents) that carry
	// content: text, a content delta or a tool-call fragment. The first is
	// the time to first token; the gaps between them the inter-token
	// latencies.
	Content []int
	// CompletionTokens is usage.completion_tokens of the final chunk, or -1
	// when the stream sent no usage.
	CompletionTokens int64
}

// chunk is the part of an OpenAI chat.completion.chunk or text_completion
// chunk that reassembly reads.
type chunk struct {
	ID                string          `json:"id"`
	Object            string          `json:"object"`
	Created           json.RawMessage `json:"created"`
	Model             string          `json:"model"`
	SystemFingerprint string          `json:"system_fingerprint"`
	Choices           []chunkChoice   `json:"choices"`
	Usage             json.RawMessage `json:"usage"`
	Error             json.RawMessage `json:"error"`
}

type chunkChoice struct {
	Index        int             `json:"index"`
	Text         *string         `json:"text"`
	Delta        *chunkDelta     `json:"delta"`
	FinishReason *string         `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs"`
}

type chunkDelta struct {
	Role      string          `json:"role"`
	Content   *string         `json:"content"`
	Refusal   *string         `json:"refusal"`
	ToolCalls []toolCallDelta `json:"tool_calls"`
}

type toolCallDelta struct {
	Index    int    `json:"index"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// choiceAcc accumulates one choice of a stream.
type choiceAcc struct {
	role       string
	content    strings.Builder
	hasContent bool
	text       bool // a text_completion choice
	finish     *string
	tools      map[int]*toolAcc
}

type toolAcc struct {
	id, typ, name string
	args          strings.Builder
}

// reassemble reads an event-stream body. A stream none of whose events is
// an OpenAI chunk has a nil Body.
func reassemble(body []byte) stream {
	events, tail := splitEvents(body)
	s := stream{CompletionTokens: -1}
	var head *chunk
	choices := map[int]*choiceAcc{}
	var usage json.RawMessage
	done, failed := false, false
	for i, ev := range events {
		if !ev.HasData {
			continue
		}
		d := strings.TrimSpace(ev.Data)
		if d == "[DONE]" {
			done = true
			continue
		}
		var c chunk
		if err := json.Unmarshal([]byte(d), &c); err != nil {
			failed = true
			continue
		}
		if len(c.Error) > 0 && string(c.Error) != "null" {
			failed = true
			continue
		}
		if c.Choices == nil && len(c.Usage) == 0 {
			continue
		}
		if head == nil {
			h := c
			head = &h
		}
		if len(c.Usage) > 0 && string(c.Usage) != "null" {
			usage = c.Usage
		}
		carries := false
		for _, ch := range c.Choices {
			acc := choices[ch.Index]
			if acc == nil {
				acc = &choiceAcc{}
				choices[ch.Index] = acc
			}
			if ch.FinishReason != nil {
				acc.finish = ch.FinishReason
			}
			if ch.Text != nil {
				acc.text, acc.hasContent = true, true
				acc.content.WriteString(*ch.Text)
				carries = carries || *ch.Text != ""
			}
			if ch.Delta == nil {
				continue
			}
			if ch.Delta.Role != "" {
				acc.role = ch.Delta.Role
			}
			if ch.Delta.Content != nil {
				acc.hasContent = true
				acc.content.WriteString(*ch.Delta.Content)
				carries = carries || *ch.Delta.Content != ""
			}
			for _, t := range ch.Delta.ToolCalls {
				if acc.tools == nil {
					acc.tools = map[int]*toolAcc{}
				}
				ta := acc.tools[t.Index]
				if ta == nil {
					ta = &toolAcc{}
					acc.tools[t.Index] = ta
				}
				if t.ID != "" {
					ta.id = t.ID
				}
				if t.Type != "" {
					ta.typ = t.Type
				}
				ta.name += t.Function.Name
				ta.args.WriteString(t.Function.Arguments)
				carries = true
			}
		}
		if carries {
			s.Content = append(s.Content, i)
		}
	}
	if head == nil {
		s.Complete = done && !failed && !tail
		return s
	}
	finished := len(choices) > 0
	for _, acc := range choices {
		finished = finished && acc.finish != nil
	}
	s.Complete = !failed && (done || finished && !tail)
	s.Body = head.answer(choices, usage)
	if usage != nil {
		var u struct {
			CompletionTokens *int64 `json:"completion_tokens"`
		}
		if json.Unmarshal(usage, &u) == nil && u.CompletionTokens != nil {
			s.CompletionTokens = *u.CompletionTokens
		}
	}
	return s
}

// answer is the non-streamed answer the chunks add up to: a chat.completion
// (choices[].message) or a text_completion (choices[].text).
func (c *chunk) answer(choices map[int]*choiceAcc, usage json.RawMessage) []byte {
	idx := make([]int, 0, len(choices))
	text := c.Object == "text_completion"
	for i, acc := range choices {
		idx = append(idx, i)
		text = text || acc.text
	}
	sort.Ints(idx)
	out := map[string]any{}
	if c.ID != "" {
		out["id"] = c.ID
	}
	if len(c.Created) > 0 {
		out["created"] = c.Created
	}
	if c.Model != "" {
		out["model"] = c.Model
	}
	if c.SystemFingerprint != "" {
		out["system_fingerprint"] = c.SystemFingerprint
	}
	out["object"] = "chat.completion"
	if text {
		out["object"] = "text_completion"
	}
	list := make([]any, 0, len(idx))
	for _, i := range idx {
		acc := choices[i]
		ch := map[string]any{"index": i, "finish_reason": nil}
		if acc.finish != nil {
			ch["finish_reason"] = *acc.finish
		}
		if text {
			ch["text"] = acc.content.String()
			list = append(list, ch)
			continue
		}
		role := acc.role
		if role == "" {
			role = "assistant"
		}
		msg := map[string]any{"role": role, "content": nil}
		if acc.hasContent {
			msg["content"] = acc.content.String()
		}
		if len(acc.tools) > 0 {
			ti := make([]int, 0, len(acc.tools))
			for k := range acc.tools {
				ti = append(ti, k)
			}
			sort.Ints(ti)
			calls := make([]any, 0, len(ti))
			for _, k := range ti {
				t := acc.tools[k]
				typ := t.typ
				if typ == "" {
					typ = "function"
				}
				calls = append(calls, map[string]any{"id": t.id, "type": typ,
					"function": map[string]any{"name": t.name, "arguments": t.args.String()}})
			}
			msg["tool_calls"] = calls
		}
		ch["message"] = msg
		list = append(list, ch)
	}
	out["choices"] = list
	if usage != nil {
		out["usage"] = usage
	}
	b, _ := json.Marshal(out) // maps, strings and raw JSON that parsed: cannot fail
	return b
}
