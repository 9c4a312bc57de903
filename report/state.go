// Report state: a Builder's aggregation written to a file, so that reports
// computed where each shard's results live merge into one without moving
// the rows.

package report

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"strings"
)

// StateFormat names the format and version of a report state file. A reader
// refuses any other version: a state holds what one build of shadowctl
// counted, and merging it as something else would give wrong figures.
const StateFormat = "shadowctl.report-state/2"

// stateFormatV1 is the version before groups counted the instances sent
// (sliceSide.Instances); it is still read (see groupInstances).
const stateFormatV1 = "shadowctl.report-state/1"

// statePrefix starts the format of every version.
const statePrefix = "shadowctl.report-state/"

// maxStateBytes bounds what ReadState reads. A state is a few KB to a few
// hundred KB (--by with many groups); anything much larger is not one.
const maxStateBytes = 64 << 20

// gzipMagic starts a gzip stream (RFC 1952).
var gzipMagic = []byte{0x1f, 0x8b}

var (
	// ErrStateFormat is the error of a file that is not a report state, or
	// a damaged or truncated one.
	ErrStateFormat = errors.New("not a report state, or a damaged one")
	// ErrStateVersion is the error of a report state of another version.
	ErrStateVersion = errors.New("report state of an unknown version")
	// ErrJSONReport is the error of a JSON report (WriteJSON's) read as a
	// report state: the two are easily mixed up, and only a state merges.
	// It is an ErrStateFormat too.
	ErrJSONReport error = jsonReportError{}
)

type jsonReportError struct{}

func (jsonReportError) Error() string        { return "a JSON report, not a report state" }
func (jsonReportError) Is(target error) bool { return target == ErrStateFormat }

// stateParts lists every aggregator of a Builder: a state is these parts,
// each under its JSON key, plus the options and files of stateFile.
//
// The rule for an aggregator added to the Builder (accuracy, shift
// sketches, text metrics, latency over time, ...):
//  1. it keeps its state in fields that encoding/json round-trips (exported
//     fields, or a MarshalJSON/UnmarshalJSON pair as in state_codec.go), and
//     its UnmarshalJSON checks what it reads: a damaged state must be an
//     error, never a panic or a huge allocation;
//  2. it has a merge(other) that leaves it as if it had also seen the other's
//     rows after its own, and a test that merging the aggregations of two
//     halves of some rows equals aggregating them all (say in its comment
//     what is exact and what only up to rounding);
//  3. it gets one field here, pointing at the Builder's own (set in parts),
//     and one line in mergeParts;
//  4. once a StateFormat has shipped, adding a part bumps it: an older state
//     lacks the part, and merging it would count its rows as nothing there.
//
// Every part must be present when a state is read, and an unknown part is
// refused, for the same reason.
type stateParts struct {
	All         *core        `json:"all"`
	Candidate   *sideMetrics `json:"candidate"`
	Baseline    *sideMetrics `json:"baseline"`
	Fields      *fieldsPart  `json:"fields"`
	Transitions *transitions `json:"transitions"`
	Top         *topN        `json:"top"`
	Groups      *groupsPart  `json:"groups"`
	// RecordedTokens: the recorded side's LLM output lengths (stream.go).
	RecordedTokens *tokenStats `json:"recorded_tokens"`
	// Timeline: latency and errors per interval of sent_at (timeline.go).
	Timeline *timelinePart `json:"timeline"`
	// Shift: how the predictions moved, recorded → candidate (shift.go).
	Shift *shiftPart `json:"shift"`
	// Truth: accuracy against labels, and which labels were asked for
	// (state_labels.go); nulls without labels.
	Truth *truthPart `json:"truth"`
}

// parts points at the aggregators of b: marshalling the result writes them,
// unmarshalling into it fills them.
func (b *Builder) parts() stateParts {
	return stateParts{
		All:            &b.all,
		Candidate:      &b.candidate,
		Baseline:       &b.baseline,
		Fields:         &fieldsPart{b.fields},
		Transitions:    &b.trans,
		Top:            &b.top,
		Groups:         &groupsPart{b},
		RecordedTokens: &b.recTokens,
		Timeline:       &timelinePart{&b.time},
		Shift:          &shiftPart{&b.shift},
		Truth:          &truthPart{b},
	}
}

// mergeParts merges every part of o into b (the options are checked).
func (b *Builder) mergeParts(o *Builder) {
	b.all.merge(&o.all)
	b.candidate.merge(&o.candidate)
	b.baseline.merge(&o.baseline)
	mergeFields(b.fields, o.fields)
	b.trans.merge(&o.trans)
	b.top.merge(&o.top)
	b.mergeGroups(o)
	b.recTokens.merge(&o.recTokens)
	b.time.merge(&o.time)
	b.shift.merge(&o.shift)
	b.mergeLabels(o)
}

// stateFile is the whole file: one JSON object on one line.
type stateFile struct {
	Format string `json:"format"`
	// HistogramRelErr is the relative error of the latency histograms,
	// which fixes what their bucket indexes mean.
	HistogramRelErr float64      `json:"histogram_rel_err"`
	Options         stateOptions `json:"options"`
	// Files are the results files aggregated (with those of any state
	// merged in), PartialFiles the in-progress ones passed over.
	Files        []string `json:"files"`
	PartialFiles []string `json:"partial_files"`
	Parts        any      `json:"parts"`
}

// stateOptions are the Options that shape an aggregation.
type stateOptions struct {
	Field     string   `json:"field"`
	Ignore    []string `json:"ignore"`
	AbsTol    float64  `json:"abs_tol"`
	RelTol    float64  `json:"rel_tol"`
	Top       int      `json:"top"`
	By        string   `json:"by"`
	MaxGroups int      `json:"max_groups"`
	// Text is the --text-similarity rule (TextRule.String).
	Text string `json:"text"`
	// ByAlso, PositiveClass and MinGroup: the further slices and the bias.
	ByAlso        []string `json:"by_also"`
	PositiveClass string   `json:"positive_class"`
	MinGroup      int      `json:"min_group"`
	// Labels tells whether the rows were judged against labels, found with
	// LabelKey.
	Labels   bool   `json:"labels"`
	LabelKey string `json:"label_key"`
}

// WriteState writes the aggregation of b as a report state: one line of
// JSON, documented in the README ("Report state"). ReadState reads it back;
// merged states give the report of all their rows.
func (b *Builder) WriteState(w io.Writer) error {
	o := b.opts
	f := stateFile{
		Format: StateFormat, HistogramRelErr: relErr,
		Options: stateOptions{Field: o.Field, Ignore: append([]string{}, o.Ignore...), AbsTol: o.AbsTol,
			RelTol: o.RelTol, Top: o.Top, By: o.By, MaxGroups: o.MaxGroups, Text: o.Text.String(),
			ByAlso: append([]string{}, o.ByAlso...), PositiveClass: o.PositiveClass, MinGroup: o.MinGroup,
			Labels: o.Labels != nil, LabelKey: o.LabelKey},
		Files: append([]string{}, b.files...), PartialFiles: append([]string{}, b.partial...),
		Parts: b.parts(),
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f); err != nil {
		return fmt.Errorf("write report state: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write report state: %w", err)
	}
	return nil
}

// PartialFiles are the in-progress results files passed over, in the
// inputs and in the states merged.
func (b *Builder) PartialFiles() []string { return append([]string{}, b.partial...) }

// ReadState reads a report state written by WriteState, or that state
// gzipped (about a third of the size, for moving it), into a new Builder with
// the options the state was made with. A file that is not a state, or is
// damaged or truncated, is an ErrStateFormat; a state of another version an
// ErrStateVersion.
func ReadState(r io.Reader) (*Builder, error) {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); bytes.Equal(magic, gzipMagic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrStateFormat, err)
		}
		defer zr.Close()
		r = zr
	} else {
		r = br
	}
	data, err := io.ReadAll(io.LimitReader(r, maxStateBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStateFormat, err)
	}
	if len(data) > maxStateBytes {
		return nil, fmt.Errorf("%w: larger than %d MiB", ErrStateFormat, maxStateBytes>>20)
	}
	var head struct {
		Format string `json:"format"`
		// A JSON report has a schema_version (report.go), a state none.
		SchemaVersion json.RawMessage `json:"schema_version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStateFormat, err)
	}
	if head.Format == "" && head.SchemaVersion != nil {
		return nil, ErrJSONReport
	}
	if !strings.HasPrefix(head.Format, statePrefix) {
		return nil, fmt.Errorf("%w: format %q", ErrStateFormat, head.Format)
	}
	if head.Format != StateFormat && head.Format != stateFormatV1 {
		return nil, fmt.Errorf("%w: %q (this shadowctl reads %s and %s)", ErrStateVersion, head.Format, StateFormat, stateFormatV1)
	}
	var f stateFile
	var parts json.RawMessage
	f.Parts = &parts
	if err := strictJSON(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStateFormat, err)
	}
	if f.HistogramRelErr != relErr {
		return nil, fmt.Errorf("%w: histograms of relative error %v (this shadowctl uses %v)", ErrStateVersion, f.HistogramRelErr, relErr)
	}
	o := f.Options
	if o.Top < 1 || o.MaxGroups < 1 {
		return nil, fmt.Errorf("%w: options top %d, max_groups %d", ErrStateFormat, o.Top, o.MaxGroups)
	}
	if len(o.ByAlso) == 0 {
		o.ByAlso = nil // as NewBuilder's callers leave it
	}
	text, err := ParseTextRule(o.Text)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStateFormat, err)
	}
	b, err := NewBuilder(Options{Field: o.Field, Ignore: o.Ignore, AbsTol: o.AbsTol, RelTol: o.RelTol,
		Top: o.Top, By: o.By, MaxGroups: o.MaxGroups, Text: text, ByAlso: o.ByAlso, PositiveClass: o.PositiveClass,
		MinGroup: o.MinGroup, Labels: stateLabels(o.Labels), LabelKey: o.LabelKey})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStateFormat, err)
	}
	if err := b.readParts(parts); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStateFormat, err)
	}
	if err := b.groupInstances(head.Format == stateFormatV1); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStateFormat, err)
	}
	b.files, b.partial = f.Files, f.PartialFiles
	return b, nil
}

// readParts fills the parts of b from their JSON object: every part of
// stateParts must be there, and nothing else.
func (b *Builder) readParts(data json.RawMessage) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("parts: %v", err)
	}
	if raw == nil {
		return errors.New("no parts")
	}
	p := reflect.ValueOf(b.parts())
	t := p.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		msg, ok := raw[name]
		if !ok || string(msg) == "null" {
			return fmt.Errorf("part %q is missing", name)
		}
		if err := strictJSON(msg, p.Field(i).Interface()); err != nil {
			return fmt.Errorf("part %q: %v", name, err)
		}
		delete(raw, name)
	}
	for name := range raw {
		return fmt.Errorf("unknown part %q", name)
	}
	return nil
}

// strictJSON unmarshals data into v, refusing unknown keys: a key this
// build does not know is something it would silently drop.
func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the state")
	}
	return nil
}

// stateLabels stands for the labels of a state's rows: an empty set, whose
// use the state's truth part brings.
func stateLabels(had bool) *Labels {
	if !had {
		return nil
	}
	return &Labels{}
}

// groupInstances checks the instances each group's sides were sent, or,
// for a version 1 state, which did not count them, takes them as the
// instances a side answered or had labels for, whichever is more (all of
// them when every row was labeled).
func (b *Builder) groupInstances(v1 bool) error {
	all := maps.Clone(b.groups)
	if b.overflw != nil {
		all[otherGroup] = b.overflw
	}
	for key, c := range all {
		if c == nil || c.preds == nil {
			continue
		}
		for i := range c.preds.Sides {
			s := &c.preds.Sides[i]
			if v1 {
				s.Instances = max(s.N, s.Labeled)
			} else if s.Instances < max(s.N, s.Labeled) {
				return fmt.Errorf("group %q: %d instances, fewer than answered or labeled", key, s.Instances)
			}
		}
	}
	return nil
}
