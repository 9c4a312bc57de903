package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/theory/jsonpath"

	"github.com/shadowctl/shadowctl/internal/parquetfile"
	"github.com/shadowctl/shadowctl/replay"
)

// ErrEmpty is returned when the input holds no results rows: a report over
// nothing must not pass a gate.
var ErrEmpty = errors.New("no results rows")

// Options shape a report. The zero value compares exactly, detects the
// prediction field and keeps 10 disagreements.
type Options struct {
	// Field is the JSONPath of the prediction; empty detects it from the
	// response shape.
	Field string
	// Ignore are JSONPaths removed from both bodies before comparing.
	Ignore []string
	// AbsTol and RelTol: numbers a (recorded) and b agree when
	// |a-b| <= AbsTol + RelTol*|a|.
	AbsTol, RelTol float64
	// Top is the number of disagreements kept (default 10) and of classes
	// in the confusion matrix.
	Top int
	// By names a results column to group by: path, method,
	// recorded_status, candidate_status, candidate_error_kind.
	By string
	// MaxGroups bounds the groups shown (default 50); the rest are merged
	// into one "(other)" group.
	MaxGroups int
	// Progress, when set, is called now and then with the rows read so far
	// and the total of every file.
	Progress func(done, total int64)
}

// ByColumns are the columns --by accepts.
var ByColumns = []string{"path", "method", "recorded_status", "candidate_status", "candidate_error_kind"}

// defaultTop is used when Options.Top is 0.
const defaultTop = 10

// maxTrackedGroups bounds the groups aggregated separately; values seen
// after that go straight to the "(other)" group, so memory stays bounded
// whatever the column holds.
const maxTrackedGroups = 200

// otherGroup is the key of the group that collects the rest.
const otherGroup = "(other)"

// Build reads results files (files, folders or globs, as Expand takes them)
// in one streaming pass and returns their report. Gates are evaluated
// separately (Report.Evaluate).
func Build(ctx context.Context, opts Options, args []string) (*Report, error) {
	exp, err := parquetfile.Expand(args)
	if err != nil {
		return nil, err
	}
	if len(exp.Files) == 0 {
		return nil, fmt.Errorf("%s: %w (only in-progress files: %s)", strings.Join(args, " "), ErrEmpty, strings.Join(exp.Partial, ", "))
	}
	b, err := NewBuilder(opts)
	if err != nil {
		return nil, err
	}
	var readers []*replay.ResultsReader
	defer func() {
		for _, r := range readers {
			r.Close()
		}
	}()
	var total int64
	for _, path := range exp.Files {
		r, err := replay.OpenResults(path)
		if err != nil {
			return nil, err
		}
		readers = append(readers, r)
		total += r.NumRows()
	}
	var progress func(int64)
	if opts.Progress != nil {
		progress = func(done int64) { opts.Progress(done, total) }
	}
	done, err := addAll(ctx, b, readers, progress)
	if err != nil {
		return nil, err
	}
	if progress != nil {
		progress(done)
	}
	if done == 0 {
		return nil, fmt.Errorf("%s: %w", strings.Join(exp.Files, ", "), ErrEmpty)
	}
	rep := b.Report()
	rep.Files = exp.Files
	rep.PartialFiles = append([]string{}, exp.Partial...)
	return rep, nil
}

// Builder aggregates results rows one at a time; memory does not grow with
// the number of rows. Build drives one over files; tests and other sources
// can feed rows directly.
type Builder struct {
	opts   Options
	tol    Tolerance
	ignore []ignorePath
	field  *extractor // --field, or nil to detect
	dec    decoder

	all       core
	candidate sideMetrics
	baseline  sideMetrics
	fields    map[fieldKey]*FieldUse
	trans     map[[2]string]int64
	top       topN

	groups  map[string]*core
	overflw *core
}

// NewBuilder checks the options and returns an empty Builder.
func NewBuilder(opts Options) (*Builder, error) {
	if opts.Top <= 0 {
		opts.Top = defaultTop
	}
	if opts.MaxGroups <= 0 {
		opts.MaxGroups = 50
	}
	if opts.AbsTol < 0 || opts.RelTol < 0 || math.IsNaN(opts.AbsTol) || math.IsNaN(opts.RelTol) {
		return nil, fmt.Errorf("tolerances must be >= 0 (abs %v, rel %v)", opts.AbsTol, opts.RelTol)
	}
	b := &Builder{
		opts:      opts,
		tol:       Tolerance{Abs: opts.AbsTol, Rel: opts.RelTol},
		fields:    map[fieldKey]*FieldUse{},
		trans:     map[[2]string]int64{},
		top:       topN{n: opts.Top},
		candidate: newSideMetrics(),
		baseline:  newSideMetrics(),
		all:       newCore(),
		dec:       newDecoder(),
	}
	for _, s := range opts.Ignore {
		p, err := jsonpath.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("--ignore %q: %w", s, err)
		}
		b.ignore = append(b.ignore, newIgnorePath(p))
	}
	if opts.Field != "" {
		e, err := newExtractor(protoFlag, opts.Field)
		if err != nil {
			return nil, err
		}
		b.field = &e
	}
	if opts.By != "" {
		ok := false
		for _, c := range ByColumns {
			ok = ok || c == opts.By
		}
		if !ok {
			return nil, fmt.Errorf("--by %q: want one of %s", opts.By, strings.Join(ByColumns, ", "))
		}
		b.groups = map[string]*core{}
	}
	return b, nil
}

// core is what every group counts: agreement, latency and errors.
type core struct {
	exchanges, withBaseline int64
	notCompared             NotCompared
	req, inst               tally
	baseReq, baseInst       tally
	latRec, latCand         quantiles
	latBase, delta          quantiles
	errRec, errCand         errTally
	errBase                 errTally
}

type tally struct{ compared, agreed int64 }

func (t *tally) add(compared, agreed int64) { t.compared += compared; t.agreed += agreed }

type errTally struct {
	n, count int64
	byKind   map[string]int64
}

func (e *errTally) add(kind string) {
	e.n++
	if kind == "" {
		return
	}
	e.count++
	if e.byKind == nil {
		e.byKind = map[string]int64{}
	}
	e.byKind[kind]++
}

func newCore() core {
	return core{latRec: newQuantiles(), latCand: newQuantiles(), latBase: newQuantiles(), delta: newQuantiles()}
}

func (c *core) merge(o *core) {
	c.exchanges += o.exchanges
	c.withBaseline += o.withBaseline
	c.notCompared.RecordedFailed += o.notCompared.RecordedFailed
	c.notCompared.RecordedTruncated += o.notCompared.RecordedTruncated
	c.req.add(o.req.compared, o.req.agreed)
	c.inst.add(o.inst.compared, o.inst.agreed)
	c.baseReq.add(o.baseReq.compared, o.baseReq.agreed)
	c.baseInst.add(o.baseInst.compared, o.baseInst.agreed)
	c.latRec.Merge(o.latRec)
	c.latCand.Merge(o.latCand)
	c.latBase.Merge(o.latBase)
	c.delta.Merge(o.delta)
	for _, p := range []struct{ to, from *errTally }{{&c.errRec, &o.errRec}, {&c.errCand, &o.errCand}, {&c.errBase, &o.errBase}} {
		p.to.n += p.from.n
		p.to.count += p.from.count
		for k, v := range p.from.byKind {
			if p.to.byKind == nil {
				p.to.byKind = map[string]int64{}
			}
			p.to.byKind[k] += v
		}
	}
}

// sideMetrics are the instance metrics of one side against the recorded
// answer.
type sideMetrics struct {
	kinds   map[string]int64
	labels  *labelStats
	numeric numericStats
	probs   vectorStats
	embed   vectorStats
}

func newSideMetrics() sideMetrics {
	return sideMetrics{kinds: map[string]int64{}, labels: newLabelStats()}
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

// recordedKind is the error kind of the recorded side ("" when production
// answered 2xx or 3xx).
func recordedKind(r *replay.Result) string {
	switch {
	case r.RecordedError != "" || r.RecordedStatus == 0:
		return replay.KindNoResponse
	case r.RecordedStatus >= 500:
		return replay.KindHTTP5xx
	case r.RecordedStatus >= 400:
		return replay.KindHTTP4xx
	}
	return ""
}

func candidateKind(r *replay.Result) string {
	switch {
	case r.CandidateErrorKind != "":
		return r.CandidateErrorKind
	case r.CandidateError != "":
		return replay.KindOther
	}
	return statusKind(r.CandidateStatus)
}

func baselineKind(r *replay.Result) string {
	switch {
	case r.BaselineErrorKind != nil && *r.BaselineErrorKind != "":
		return *r.BaselineErrorKind
	case r.BaselineError != nil && *r.BaselineError != "":
		return replay.KindOther
	}
	return statusKind(*r.BaselineStatus)
}

func statusKind(status int32) string {
	switch {
	case status >= 500:
		return replay.KindHTTP5xx
	case status >= 400:
		return replay.KindHTTP4xx
	case status == 0:
		return replay.KindOther
	}
	return ""
}

// Add aggregates one results row. The row is not kept.
func (b *Builder) Add(r *replay.Result) {
	cores := []*core{&b.all}
	if g := b.group(r); g != nil {
		cores = append(cores, g)
	}
	recKind, candKind := recordedKind(r), candidateKind(r)
	hasBase := r.HasBaseline()
	baseKind := ""
	if hasBase {
		baseKind = baselineKind(r)
	}
	for _, c := range cores {
		c.exchanges++
		c.errRec.add(recKind)
		c.errCand.add(candKind)
		if r.RecordedStatus != 0 && r.RecordedError == "" {
			c.latRec.Add(float64(r.RecordedLatencyNs))
		}
		if r.CandidateStatus != 0 {
			c.latCand.Add(float64(r.CandidateLatencyNs))
		}
		if hasBase {
			c.withBaseline++
			c.errBase.add(baseKind)
			if *r.BaselineStatus != 0 && r.BaselineLatencyNs != nil {
				c.latBase.Add(float64(*r.BaselineLatencyNs))
				if r.CandidateStatus != 0 {
					c.delta.Add(float64(r.CandidateLatencyNs - *r.BaselineLatencyNs))
				}
			}
		}
	}
	if recKind != "" || candKind != "" {
		from := strconv.Itoa(int(r.RecordedStatus))
		if r.RecordedStatus == 0 {
			from = recKind
		}
		to := strconv.Itoa(int(r.CandidateStatus))
		if r.CandidateStatus == 0 {
			to = candKind
		}
		if from != to {
			key := [2]string{from, to}
			if _, ok := b.trans[key]; !ok && len(b.trans) >= 100 {
				key = [2]string{otherClass, otherClass}
			}
			b.trans[key]++
		}
	}

	// Agreement: only rows where production answered 2xx with a whole body.
	if r.RecordedError != "" || r.RecordedStatus < 200 || r.RecordedStatus > 299 {
		for _, c := range cores {
			c.notCompared.RecordedFailed++
		}
		return
	}
	if r.RecordedBodyTruncated {
		for _, c := range cores {
			c.notCompared.RecordedTruncated++
		}
		return
	}
	rec := b.prepareRecorded(r.RecordedBody)

	out := b.compare(&rec, r.CandidateStatus, candKind, r.CandidateBody, &b.candidate)
	for _, c := range cores {
		c.req.add(1, btoi(out.agreed))
		c.inst.add(out.instCompared, out.instAgreed)
	}
	if !out.agreed && b.top.wants(out.severity, r.ID) {
		b.top.push(b.disagreement(r, &rec, out), out.severity)
	}
	if hasBase {
		bout := b.compare(&rec, *r.BaselineStatus, baseKind, r.BaselineBody, &b.baseline)
		for _, c := range cores {
			c.baseReq.add(1, btoi(bout.agreed))
			c.baseInst.add(bout.instCompared, bout.instAgreed)
		}
	}
}

func btoi(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func (b *Builder) group(r *replay.Result) *core {
	if b.groups == nil {
		return nil
	}
	var key string
	switch b.opts.By {
	case "path":
		key = r.Path
	case "method":
		key = r.Method
	case "recorded_status":
		key = strconv.Itoa(int(r.RecordedStatus))
	case "candidate_status":
		key = strconv.Itoa(int(r.CandidateStatus))
	case "candidate_error_kind":
		key = candidateKind(r)
		if key == "" {
			key = "(none)"
		}
	}
	if g, ok := b.groups[key]; ok {
		return g
	}
	if len(b.groups) >= maxTrackedGroups {
		if b.overflw == nil {
			c := newCore()
			b.overflw = &c
		}
		return b.overflw
	}
	c := newCore()
	b.groups[strings.Clone(key)] = &c
	return &c
}

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
}

func (b *Builder) prepareRecorded(body []byte) recorded {
	rec := recorded{body: body}
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

// outcome is the comparison of one side of one row.
type outcome struct {
	agreed                   bool
	instCompared, instAgreed int64
	severity                 severity
	side                     any // the side's prediction, when decoded
	failed                   string
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
		return outcome{instCompared: n, failed: why,
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
			return outcome{agreed: true}
		}
		return outcome{severity: severity{class: 2, instances: 1}}
	}
	var pred any
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
	}
	out := outcome{side: pred}
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
		eq := equalJSON(a, c, b.tol)
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

// Report returns the report of the rows added so far.
func (b *Builder) Report() *Report {
	r := &Report{
		SchemaVersion: SchemaVersion,
		Files:         []string{},
		PartialFiles:  []string{},
		Settings: Settings{Field: b.opts.Field, Ignore: append([]string{}, b.opts.Ignore...),
			AbsTol: b.opts.AbsTol, RelTol: b.opts.RelTol, Top: b.opts.Top, By: b.opts.By},
		Exchanges:     b.all.exchanges,
		WithBaseline:  b.all.withBaseline,
		NotCompared:   b.all.notCompared,
		Groups:        []Group{},
		Disagreements: b.top.sorted(),
		Gates:         []GateResult{},
		Passed:        true,
	}
	r.Agreement = b.agreement(&b.candidate, b.all.req, b.all.inst)
	if b.all.withBaseline > 0 {
		base := b.agreement(&b.baseline, b.all.baseReq, b.all.baseInst)
		r.Agreement.Baseline = &base
	}
	r.Latency, r.Errors = b.all.latencyErrors()
	for k, n := range b.trans {
		r.Errors.Transitions = append(r.Errors.Transitions, Transition{From: k[0], To: k[1], Count: n})
	}
	sort.Slice(r.Errors.Transitions, func(i, j int) bool {
		a, c := r.Errors.Transitions[i], r.Errors.Transitions[j]
		if a.Count != c.Count {
			return a.Count > c.Count
		}
		return a.From+"\x00"+a.To < c.From+"\x00"+c.To
	})
	r.Groups = b.groupReports()
	return r
}

func summary(req, inst tally) AgreementSummary {
	s := AgreementSummary{Unit: "request", Requests: counts(req.agreed, req.compared),
		Instances: counts(inst.agreed, inst.compared)}
	head := s.Requests
	if inst.compared > 0 {
		s.Unit, head = "instance", s.Instances
	}
	s.Rate, s.CI95Low, s.CI95High = head.Rate, head.CI95Low, head.CI95High
	return s
}

func (b *Builder) agreement(m *sideMetrics, req, inst tally) Agreement {
	a := Agreement{AgreementSummary: summary(req, inst), Kinds: map[string]int64{}, Fields: []FieldUse{}}
	for _, f := range b.fields {
		a.Fields = append(a.Fields, *f)
	}
	sort.Slice(a.Fields, func(i, j int) bool {
		if a.Fields[i].Requests != a.Fields[j].Requests {
			return a.Fields[i].Requests > a.Fields[j].Requests
		}
		return a.Fields[i].Path < a.Fields[j].Path
	})
	if len(a.Fields) > 0 {
		a.Field, a.FieldSource = a.Fields[0].Path, a.Fields[0].Source
	}
	var best int64
	for k, n := range m.kinds {
		a.Kinds[k] = n
		if n > best || n == best && k < a.Kind {
			a.Kind, best = k, n
		}
	}
	a.Labels = m.labels.metrics(b.opts.Top)
	a.Numeric = m.numeric.metrics()
	if m.probs.n > 0 {
		mean, lo := m.probs.cos()
		a.Probabilities = &VectorMetrics{Count: m.probs.n, Argmax: rate(m.probs.argmaxAgreed, m.probs.n), MeanCosine: mean, MinCosine: lo}
	}
	if m.embed.n > 0 {
		mean, lo := m.embed.cos()
		a.Embeddings = &EmbeddingMetrics{Count: m.embed.n, MeanCosine: mean, MinCosine: lo}
	}
	return a
}

func (c *core) latencyErrors() (Latency, Errors) {
	l := Latency{Recorded: summarize(c.latRec), Candidate: summarize(c.latCand), Baseline: summarize(c.latBase),
		Delta: delta(c.delta)}
	if l.Baseline != nil {
		l.Ratio = ratio(l.Candidate, l.Baseline, "baseline")
	} else {
		l.Ratio = ratio(l.Candidate, l.Recorded, "recorded")
	}
	side := func(t errTally) *SideErrors {
		if t.n == 0 {
			return nil
		}
		r := rate(t.count, t.n)
		s := &SideErrors{Count: t.count, Of: t.n, Rate: r.Rate, CI95Low: r.CI95Low, CI95High: r.CI95Hi, ByKind: map[string]int64{}}
		for k, v := range t.byKind {
			s.ByKind[k] = v
		}
		return s
	}
	return l, Errors{Recorded: side(c.errRec), Candidate: side(c.errCand), Baseline: side(c.errBase)}
}

func (b *Builder) groupReports() []Group {
	if b.groups == nil {
		return []Group{}
	}
	type kv struct {
		key string
		c   *core
	}
	var all []kv
	for k, c := range b.groups {
		all = append(all, kv{k, c})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].c.exchanges != all[j].c.exchanges {
			return all[i].c.exchanges > all[j].c.exchanges
		}
		return all[i].key < all[j].key
	})
	if len(all) > b.opts.MaxGroups || b.overflw != nil {
		// A fresh core, so that calling Report twice merges nothing twice.
		rest := newCore()
		if b.overflw != nil {
			rest.merge(b.overflw)
		}
		for _, g := range all[min(len(all), b.opts.MaxGroups):] {
			rest.merge(g.c)
		}
		all = append(all[:min(len(all), b.opts.MaxGroups)], kv{otherGroup, &rest})
	}
	out := make([]Group, 0, len(all))
	for _, g := range all {
		gr := Group{Key: g.key, Exchanges: g.c.exchanges, NotCompared: g.c.notCompared,
			Agreement: summary(g.c.req, g.c.inst)}
		gr.Latency, gr.Errors = g.c.latencyErrors()
		out = append(out, gr)
	}
	return out
}
