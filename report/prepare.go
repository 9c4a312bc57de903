// The recorded answer of a row, decoded once and made ready to compare
// with each side.

package report

import "strings"

// recorded is the recorded side of a row, decoded once and shared by the
// candidate and baseline comparisons (read only).
type recorded struct {
	body   []byte
	json   bool
	pred   any
	hasPre bool
	ext    extractor
	proto  protocol
	// oneOutput: an Open Inference Protocol answer with one output, whose
	// data are the instances; reshaped: made rows of them by its shape.
	oneOutput, reshaped bool
	// llm: what an OpenAI chat or completions answer has besides its texts.
	llm llmAnswer
}

// isLLM tells whether the instances are the texts of an OpenAI chat or
// completions answer.
func (rec *recorded) isLLM() bool { return rec.proto == protoChat || rec.proto == protoCompletions }

func (b *Builder) prepareRecorded(body []byte) recorded {
	rec := recorded{body: body, llm: llmAnswer{tokens: -1}}
	v, err := b.dec.decode(body)
	if err != nil {
		b.useField("", "not JSON: bytes")
		return rec
	}
	rec.json = true
	if len(b.ignore) > 0 {
		v = removePaths(v, b.ignore)
	}
	if b.field != nil {
		rec.ext = *b.field
	} else {
		rec.ext, _ = newExtractor(detectProtocol(v), "")
	}
	rec.proto = rec.ext.proto
	rec.pred, rec.hasPre = rec.ext.extract(v)
	if !rec.hasPre {
		// The path selects nothing in the recorded answer: compare the
		// whole bodies rather than nothing.
		rec.ext, _ = newExtractor(protoWhole, "")
		rec.pred, rec.hasPre = v, true
		b.useField("$", "whole body (field absent)")
		return rec
	}
	b.useField(rec.ext.text, protoNames[rec.ext.proto])
	if rec.isLLM() {
		rec.llm = llmOf(v)
	}
	if rec.proto == protoOIP {
		outs, _ := v.(map[string]any)["outputs"].([]any)
		flat, _ := rec.pred.([]any)
		rec.oneOutput = len(outs) == 1
		rec.reshaped = rec.oneOutput && len(flat) > 0 && isList(flat[0])
	}
	return rec
}

func isList(v any) bool { _, ok := v.([]any); return ok }

// concretePaths rewrites the paths of differences under a field with one
// wildcard into paths of the answer itself, which a user can look up:
// instance 2 of $.choices[*].message.content is $.choices[2].message.content,
// and instance 3 of the only output of an OIP answer is
// $.outputs[0].data[3]. Other paths (several wildcards, OIP data made rows
// by its shape) are left as they are.
func (rec *recorded) concretePaths(ds []Difference) {
	text := rec.ext.text
	head, tail, ok := strings.Cut(text, "[*]")
	if !ok || strings.Contains(tail, "[*]") || rec.reshaped {
		return
	}
	for i := range ds {
		rest, ok := strings.CutPrefix(ds[i].Path, text)
		if !ok {
			continue
		}
		if rec.oneOutput {
			ds[i].Path = head + "[0]" + tail + rest
			continue
		}
		// rest starts with the instance's index: [i]...
		if end := strings.IndexByte(rest, ']'); strings.HasPrefix(rest, "[") && end > 0 {
			ds[i].Path = head + rest[:end+1] + tail + rest[end+1:]
		}
	}
}

// fieldKey is a FieldUse's key: a struct, so that counting a row allocates
// nothing.
type fieldKey struct{ path, source string }

func (b *Builder) useField(path, source string) {
	key := fieldKey{path, source}
	if f, ok := b.fields[key]; ok {
		f.Requests++
		return
	}
	b.fields[key] = &FieldUse{Path: path, Source: source, Requests: 1}
}
