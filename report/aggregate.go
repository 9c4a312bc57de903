// The Builder: options, and the one pass that counts each results row
// (agreement, latency, error kinds) into the whole and its group.

package report

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/theory/jsonpath"

	"github.com/shadowctl/shadowctl/replay"
)

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
	// By names what to group by: a results column (path, method,
	// recorded_status, candidate_status, candidate_error_kind), a recorded
	// request header (header:NAME) or a request field
	// (request:JSONPATH; one group per instance where it selects one value
	// per instance). ByAlso are further slices: the groups are then the
	// combinations of the values.
	By     string
	ByAlso []string
	// Labels, when set, are the ground truth; LabelKey says how an
	// exchange finds its key: "id" (the default), header:NAME or
	// request:JSONPATH.
	Labels   *Labels
	LabelKey string
	// PositiveClass is the class whose rate the groups compare (bias).
	PositiveClass string
	// MinGroup is the fewest instances a group needs to count in the bias
	// gaps (default 30).
	MinGroup int
	// MaxGroups bounds the groups shown (default 50); the rest are merged
	// into one "(other)" group.
	MaxGroups int
	// Text says when two generated texts (OpenAI chat and completions
	// answers) agree; the zero value is exact equality.
	Text TextRule
	// Progress, when set, is called now and then with the rows read so far
	// and the total of every file.
	Progress func(done, total int64)
	// FromStates takes the options above that shape the aggregation (all
	// but Progress) from the first report state among the inputs, when
	// there is one, rather than from these fields.
	FromStates bool
}

// ByColumns are the results columns Options.By accepts.
var ByColumns = []string{"path", "method", "recorded_status", "candidate_status", "candidate_error_kind"}

// ErrUnknownColumn is why an Options.By that is none of ByColumns is
// refused (in an OptionError); its text lists them.
var ErrUnknownColumn = errors.New("want one of " + strings.Join(ByColumns, ", "))

// OptionError is the error of an Options value that cannot be used. It names
// the option by its Options field, never by a flag, so that a command can
// say where the value came from.
type OptionError struct {
	// Option is the Options field: "Field", "Ignore", "By", "ByAlso" or
	// "LabelKey".
	Option string
	// Value is the offending value.
	Value string
	// Err is why: a JSONPath syntax error, ErrUnknownColumn or another
	// error saying what is accepted.
	Err error
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("option %s %q: %v", e.Option, e.Value, e.Err)
}

func (e *OptionError) Unwrap() error { return e.Err }

// defaultTop is used when Options.Top is 0.
const defaultTop = 10

// Builder aggregates results rows one at a time; memory does not grow with
// the number of rows. Build drives one over files; tests and other sources
// can feed rows directly.
type Builder struct {
	opts   Options
	tol    Tolerance
	ignore []ignorePath
	field  *extractor // Options.Field, or nil to detect
	dec    decoder

	all       core
	candidate sideMetrics
	baseline  sideMetrics
	recTokens tokenStats
	fields    map[fieldKey]*FieldUse
	trans     transitions
	top       topN
	time      timeline

	groups map[string]*core
	// groupOrder lists the keys of groups in the order first seen (see
	// transitions for why).
	groupOrder []string
	overflw    *core

	// files and partial are the results files read and the in-progress
	// ones passed over, for the report to name.
	files, partial []string

	// slices are By and ByAlso; keySel finds a row's label key.
	slices []selector
	keySel selector
	labels *Labels
	// truth is nil without labels; labelErr is the first label that did
	// not fit its answer.
	truth    *truthState
	labelErr error
	// labelUse is which labels the merged states' exchanges asked for,
	// when no label file was read here (state_labels.go).
	labelUse *labelUse
	shift    shiftState

	// Buffers reused from row to row.
	view   rowView
	keyBuf []string
	valBuf [][]string
	keyVal []string
	cores  []*core
}

// NewBuilder checks the options and returns an empty Builder.
func NewBuilder(opts Options) (*Builder, error) {
	if opts.Top <= 0 {
		opts.Top = defaultTop
	}
	if opts.MaxGroups <= 0 {
		opts.MaxGroups = 50
	}
	if opts.Text.Metric == "" {
		opts.Text.Metric = TextExact // the zero rule, spelled as ParseTextRule does
	}
	if !(opts.AbsTol >= 0) || !(opts.RelTol >= 0) || math.IsInf(opts.AbsTol, 0) || math.IsInf(opts.RelTol, 0) {
		return nil, fmt.Errorf("tolerances must be finite and >= 0 (abs %v, rel %v)", opts.AbsTol, opts.RelTol)
	}
	b := &Builder{
		opts:      opts,
		tol:       Tolerance{Abs: opts.AbsTol, Rel: opts.RelTol},
		fields:    map[fieldKey]*FieldUse{},
		trans:     newTransitions(),
		top:       topN{n: opts.Top},
		candidate: newSideMetrics(),
		baseline:  newSideMetrics(),
		all:       newCore(),
		dec:       newDecoder(),
		recTokens: newTokenStats(),
	}
	for _, s := range opts.Ignore {
		p, err := jsonpath.Parse(s)
		if err != nil {
			return nil, &OptionError{Option: "Ignore", Value: s, Err: err}
		}
		b.ignore = append(b.ignore, newIgnorePath(p))
	}
	if opts.Field != "" {
		e, err := newExtractor(protoFlag, opts.Field)
		if err != nil {
			return nil, &OptionError{Option: "Field", Value: opts.Field, Err: err}
		}
		b.field = &e
	}
	if opts.By == "" && len(opts.ByAlso) > 0 {
		return nil, &OptionError{Option: "ByAlso", Value: opts.ByAlso[0], Err: errors.New("needs a first slice (By)")}
	}
	if opts.By != "" {
		for i, s := range append([]string{opts.By}, opts.ByAlso...) {
			sel, err := parseSelector(s, true, false)
			if err != nil {
				name := "By"
				if i > 0 {
					name = "ByAlso"
				}
				return nil, &OptionError{Option: name, Value: s, Err: err}
			}
			b.slices = append(b.slices, sel)
		}
		b.groups = map[string]*core{}
	}
	if b.opts.MinGroup <= 0 {
		b.opts.MinGroup = 30
	}
	b.shift = newShiftState()
	if opts.Labels != nil {
		if b.opts.LabelKey == "" {
			b.opts.LabelKey = "id"
		}
		sel, err := parseSelector(b.opts.LabelKey, false, true)
		if err != nil {
			return nil, &OptionError{Option: "LabelKey", Value: b.opts.LabelKey, Err: err}
		}
		b.keySel, b.labels, b.truth = sel, opts.Labels, &truthState{}
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
	stream                  streamLatency // stream.go
	// preds: a group's predictions per instance (nil in the whole).
	preds *slicePreds
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
	return core{latRec: newQuantiles(), latCand: newQuantiles(), latBase: newQuantiles(), delta: newQuantiles(),
		stream: newStreamLatency()}
}

// recordedKind is the error kind of the recorded side ("" when production
// answered 2xx or 3xx).
func recordedKind(r *replay.Result) string {
	if r.RecordedError != "" || r.RecordedStatus == 0 {
		return replay.KindNoResponse
	}
	return replay.Classify(nil, int(r.RecordedStatus))
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

// statusKind is the error kind of a side that recorded no error: replay's
// kind for its status, except that status 0 (no answer, yet no error) is a
// failure, KindOther, where replay.Classify(nil, 0) would say "".
func statusKind(status int32) string {
	if status == 0 {
		return replay.KindOther
	}
	return replay.Classify(nil, int(status))
}

// Add aggregates one results row. The row is not kept.
func (b *Builder) Add(r *replay.Result) {
	q := rowRequest{r: r, dec: &b.dec}
	cores := append(b.cores[:0], &b.all)
	var keys []string
	if b.groups != nil {
		keys = b.sliceKeys(&q)
		for _, k := range keys {
			if g := b.group(k); !slices.Contains(cores, g) {
				cores = append(cores, g)
			}
		}
	}
	b.cores = cores
	labels := b.rowLabels(&q)
	recBody, recSt, recKind := asCompared(r.RecordedBody, recordedKind(r))
	candBody, candSt, candKind := asCompared(r.CandidateBody, candidateKind(r))
	hasBase := r.HasBaseline()
	baseKind := ""
	var baseBody []byte
	var baseSt *stream
	if hasBase {
		baseBody, baseSt, baseKind = asCompared(r.BaselineBody, baselineKind(r))
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
		c.addStreamLatency(r, recSt, candSt, baseSt, recKind, candKind, baseKind)
	}
	b.time.add(r, recKind, candKind, baseKind, hasBase)
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
			b.trans.add([2]string{from, to}, 1)
		}
	}

	// Agreement: only rows where production answered 2xx with a whole body.
	if r.RecordedError != "" || r.RecordedStatus < 200 || r.RecordedStatus > 299 || recKind != "" {
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
	rec := b.prepareRecorded(recBody)
	b.recTokens.add(rec.llm.tokens, recSt, r.RecordedLatencyNs)

	out := b.compare(&rec, r.CandidateStatus, candKind, candBody, &b.candidate)
	if out.failed == "" {
		b.candidate.tokens.add(out.tokens, candSt, r.CandidateLatencyNs)
	}
	for _, c := range cores {
		c.req.add(1, btoi(out.agreed))
		c.inst.add(out.instCompared, out.instAgreed)
	}
	if !out.agreed && b.top.wants(out.severity, r.ID) {
		b.top.push(b.disagreement(r, &rec, out), out.severity)
	}
	var bout outcome
	if hasBase {
		bout = b.compare(&rec, *r.BaselineStatus, baseKind, baseBody, &b.baseline)
		if bout.failed == "" && r.BaselineLatencyNs != nil {
			b.baseline.tokens.add(bout.tokens, baseSt, *r.BaselineLatencyNs)
		}
		for _, c := range cores {
			c.baseReq.add(1, btoi(bout.agreed))
			c.baseInst.add(bout.instCompared, bout.instAgreed)
		}
	}
	b.observe(&q, &rec, out, bout, hasBase, labels, keys)
}

// Err is the first label that did not fit its answer (a batch label with
// the wrong number of values), wrapping ErrLabels; nil when all fit.
func (b *Builder) Err() error { return b.labelErr }

func btoi(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
