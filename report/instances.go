// Comparing one side (candidate or baseline) with the recorded answer,
// instance by instance, and the disagreement it makes.

package report

import (
	"bytes"
	"math"
	"strconv"
	"strings"

	"github.com/shadowctl/shadowctl/replay"
)

// sideMetrics are the instance metrics of one side against the recorded
// answer.
type sideMetrics struct {
	kinds   map[string]int64
	labels  *labelStats
	numeric numericStats
	probs   vectorStats
	embed   vectorStats
	llm     llmStats
	tokens  tokenStats
}

func newSideMetrics() sideMetrics {
	return sideMetrics{kinds: map[string]int64{}, labels: newLabelStats(), tokens: newTokenStats()}
}

// Instance kinds.
const (
	kindLabels        = "labels"
	kindScores        = "scores"
	kindProbabilities = "probabilities"
	kindEmbeddings    = "embeddings"
	kindText          = "text"
	kindOther         = "other"
)

// outcome is the comparison of one side of one row.
type outcome struct {
	agreed                   bool
	instCompared, instAgreed int64
	severity                 severity
	side                     any // the side's prediction, when decoded
	failed                   string
	// tokens is the side's usage.completion_tokens (-1: none).
	tokens int64
}

// compare compares one side (candidate or baseline) with the recorded
// answer and feeds the instance metrics of m.
func (b *Builder) compare(rec *recorded, status int32, kind string, body []byte, m *sideMetrics) outcome {
	var recInst []any
	if a, ok := rec.pred.([]any); ok && rec.json {
		recInst = a
	}
	fail := func(why string) outcome {
		n := int64(len(recInst))
		return outcome{instCompared: n, failed: why, tokens: -1,
			severity: severity{class: 1, instances: max(n, 1), magnitude: math.Inf(1)}}
	}
	if kind != "" {
		return fail("error " + kind)
	}
	if status < 200 || status > 299 {
		return fail("status " + strconv.Itoa(int(status)))
	}
	if !rec.json {
		if bytes.Equal(rec.body, body) {
			return outcome{agreed: true, tokens: -1}
		}
		return outcome{severity: severity{class: 2, instances: 1}, tokens: -1}
	}
	var pred any
	sideLLM := &rec.llm
	if bytes.Equal(body, rec.body) {
		// The usual case: the same bytes. Decoding them again would give
		// the same tree; the instance metrics still see every pair.
		pred = rec.pred
	} else {
		v, err := b.dec.decode(body)
		if err != nil {
			return fail("body is not JSON")
		}
		if len(b.ignore) > 0 {
			v = removePaths(v, b.ignore)
		}
		var ok bool
		if pred, ok = rec.ext.extract(v); !ok {
			return fail(rec.ext.text + " absent")
		}
		if rec.isLLM() {
			a := llmOf(v)
			sideLLM = &a
		}
	}
	out := outcome{side: pred, tokens: sideLLM.tokens}
	sideInst, isArr := pred.([]any)
	if recInst == nil || !isArr || len(sideInst) != len(recInst) {
		out.agreed = equalJSON(rec.pred, pred, b.tol)
		out.instCompared = int64(len(recInst))
		if !out.agreed {
			out.severity = severity{class: 2, instances: max(out.instCompared, 1), magnitude: math.Inf(1)}
		}
		return out
	}
	out.instCompared = int64(len(recInst))
	worst := 0.0
	for i := range recInst {
		a, c := recInst[i], sideInst[i]
		var eq bool
		if rec.isLLM() {
			eq = b.compareText(a, c, &m.llm)
			eq = b.compareChoice(&rec.llm, sideLLM, i, &m.llm) && eq
		} else {
			eq = equalJSON(a, c, b.tol)
		}
		if eq {
			out.instAgreed++
		}
		if d := b.instanceMetrics(a, c, rec.proto, m); d > worst {
			worst = d
		}
	}
	out.agreed = out.instAgreed == out.instCompared
	if !out.agreed {
		out.severity = severity{class: 2, instances: out.instCompared - out.instAgreed, magnitude: worst}
	}
	return out
}

// instanceMetrics classifies one pair of instances, feeds the metrics of its
// kind and returns how far apart the two are (0 when not numeric).
func (b *Builder) instanceMetrics(a, c any, proto protocol, m *sideMetrics) float64 {
	kind := instanceKind(a, c, proto)
	m.kinds[kind]++
	switch kind {
	case kindLabels:
		m.labels.addValues(a, c)
	case kindScores:
		x, _ := toFloat(a)
		y, _ := toFloat(c)
		m.numeric.add(x, y, b.tol)
		return math.Abs(x - y)
	case kindProbabilities, kindEmbeddings:
		x, y := floats(a.([]any)), floats(c.([]any))
		worst := 0.0
		if kind == kindProbabilities {
			i, j := m.probs.add(x, y)
			m.labels.add(strconv.Itoa(i), strconv.Itoa(j))
			for k := range x {
				m.numeric.add(x[k], y[k], b.tol)
			}
		} else {
			m.embed.add(x, y)
		}
		for k := range x {
			worst = math.Max(worst, math.Abs(x[k]-y[k]))
		}
		return worst
	}
	return 0
}

func instanceKind(a, c any, proto protocol) string {
	if x, ok := a.([]any); ok {
		if y, ok := c.([]any); ok && len(x) == len(y) && len(x) > 0 && allNumbers(x) && allNumbers(y) {
			if proto == protoEmbeddings {
				return kindEmbeddings
			}
			return kindProbabilities
		}
		return kindOther
	}
	_, fa := a.(float64)
	_, fc := c.(float64)
	_, na := toFloat(a)
	_, nc := toFloat(c)
	if na && nc && (fa || fc) {
		return kindScores
	}
	if isLabel(a) && isLabel(c) {
		if _, s := a.(string); s && (proto == protoChat || proto == protoCompletions) {
			return kindText
		}
		return kindLabels
	}
	return kindOther
}

func isLabel(v any) bool {
	switch v.(type) {
	case string, bool, int64:
		return true
	}
	return false
}

func labelOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return compact(v)
}

func allNumbers(a []any) bool {
	for _, v := range a {
		if _, ok := toFloat(v); !ok {
			return false
		}
	}
	return true
}

func floats(a []any) []float64 {
	out := make([]float64, len(a))
	for i, v := range a {
		out[i], _ = toFloat(v)
	}
	return out
}

// diffLimit bounds the differences kept per disagreement.
const diffLimit = 3

func (b *Builder) disagreement(r *replay.Result, rec *recorded, out outcome) Disagreement {
	d := Disagreement{
		ID: strings.Clone(r.ID), Method: strings.Clone(r.Method), Path: strings.Clone(r.Path),
		RecordedStatus: r.RecordedStatus, CandidateStatus: r.CandidateStatus,
		CandidateError: strings.Clone(candidateKind(r)),
		Instances:      out.severity.instances,
	}
	if out.instCompared == 0 {
		d.Instances = 0
	}
	switch {
	case out.failed != "":
		d.Differences = 1
		d.Diff = []Difference{{Path: "$", Recorded: "status " + strconv.Itoa(int(r.RecordedStatus)), Candidate: out.failed}}
	case !rec.json:
		d.Differences = 1
		d.Diff = []Difference{{Path: "$", Recorded: shorten(string(rec.body), compactLimit),
			Candidate: shorten(string(r.CandidateBody), compactLimit)}}
	default:
		d.Diff = []Difference{}
		d.Differences = diffJSON(rec.pred, out.side, b.tol, rec.ext.text, diffLimit, &d.Diff)
		rec.concretePaths(d.Diff)
	}
	return d
}
