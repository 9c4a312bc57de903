package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/shadowctl/shadowctl/report"
)

type reportOptions struct {
	Format    string
	Field     string
	Ignore    []string
	AbsTol    float64
	RelTol    float64
	Top       int
	By        []string
	MaxGroups int
	FailOn    []string
	// shaped names the flags given that shape the aggregation: report
	// states must then match them, rather than lend theirs.
	shaped  []string
	TextSim string
	// Ground truth and bias (issue 13).
	Labels        []string
	LabelKey      string
	PositiveClass string
	MinGroup      int
	// GateKeys lists the keys --fail-on takes, instead of reporting.
	GateKeys bool
}

// shapingFlags are the flags that shape the aggregation, which report
// states record.
var shapingFlags = map[string]string{"Field": "--field", "Ignore": "--ignore", "AbsTol": "--abs-tol",
	"RelTol": "--rel-tol", "Top": "--top", "By": "--by", "MaxGroups": "--max-groups", "Text": "--text-similarity",
	"ByAlso": "--by", "PositiveClass": "--positive-class", "MinGroup": "--min-group", "Labels": "--labels",
	"LabelKey": "--label-key"}

// shapingFlagOrder is shapingFlags' flags in the order help lists them.
var shapingFlagOrder = []string{"--field", "--ignore", "--abs-tol", "--rel-tol", "--top", "--by", "--max-groups",
	"--text-similarity", "--positive-class", "--min-group", "--labels", "--label-key"}

func (o *reportOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Format, "format", "table", "output format: "+strings.Join(report.Formats, ", ")+
		", or "+stateFormat+" (a summary that 'report STATE...' merges)")
	fs.StringVar(&o.Field, "field", "", "JSONPath (RFC 9535) of the prediction in a response body; default: detected from the serving protocol")
	fs.StringArrayVar(&o.Ignore, "ignore", nil, "JSONPath removed from both bodies before comparing (repeatable), e.g. '$.model_version'")
	fs.Float64Var(&o.AbsTol, "abs-tol", 0, "absolute tolerance: numbers a (recorded) and b agree when |a-b| <= abs-tol + rel-tol*|a|")
	fs.Float64Var(&o.RelTol, "rel-tol", 0, "relative tolerance (see --abs-tol)")
	fs.IntVar(&o.Top, "top", 10, "disagreements listed, and classes in the confusion matrix")
	fs.StringArrayVar(&o.By, "by", nil, "repeat agreement, latency, errors, predictions and accuracy per value of a column ("+
		strings.Join(report.ByColumns, ", ")+"), a request header (header:NAME) or a request field (request:JSONPATH, "+
		"per instance when it selects one value per instance); repeatable: groups of the combined values")
	fs.IntVar(&o.MaxGroups, "max-groups", 50, "groups shown with --by, largest first; the rest are merged into \"(other)\"")
	fs.StringVar(&o.TextSim, "text-similarity", "exact", "when generated texts (OpenAI chat/completions) agree: exact, normalized, or METRIC>=T with METRIC token-f1, rouge-l or edit, e.g. 'rouge-l>=0.8'")
	fs.StringArrayVar(&o.Labels, "labels", nil, "ground-truth file (CSV with a header, JSON Lines or Parquet; columns key and label, a JSON array for a batch) (repeatable)")
	fs.StringVar(&o.LabelKey, "label-key", "id", "how an exchange finds its label: id, header:NAME or request:JSONPATH")
	fs.StringVar(&o.PositiveClass, "positive-class", "", "the class whose rate and true-positive rate --by groups compare (bias)")
	fs.IntVar(&o.MinGroup, "min-group", 30, "groups with fewer instances are shown but left out of the bias gaps")
	fs.StringArrayVar(&o.FailOn, "fail-on", nil, "gate 'KEY OP NUMBER' on any numeric key of the JSON report, OP one of < <= > >= == != (repeatable); exit 1 when true")
	fs.BoolVar(&o.GateKeys, "gate-keys", false, "list every key --fail-on takes, one per line (KEY.* takes any name below KEY), and exit; takes no files")
}

func newReportCmd(g *globalOptions) *cobra.Command {
	o := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "report RESULTS|STATE...",
		Short: "Compare candidate and recorded answers: agreement, latency, errors, CI gates",
		Long: `Report reads results files written by 'shadowctl replay' (files, folders with
every *.parquet below them, glob patterns or bucket URLs such as
s3://bkt/results/?region=eu-west-1, so the shards of one replay report
together) in one streaming pass
and shows how often the candidate gave production's answer, how fast each side
was and how often each failed. With --labels it also judges each side against the
ground truth (accuracy, per-class precision/recall/F1, the paired delta and
McNemar's test); it always shows how the predictions shifted; with --by and
--positive-class, the bias gaps across groups. With a baseline in the results it also shows the
noise floor: how often production disagrees with itself.

JSON bodies are compared structurally (key order does not matter, numbers
within the tolerances, --ignore paths removed), other bodies byte for byte. The
prediction is --field or detected from the response shape (KServe/TF Serving
V1, Open Inference Protocol V2, OpenAI-compatible). Streamed OpenAI answers
(text/event-stream) are reassembled into the answer they add up to; a stream
cut midway is the error kind stream_incomplete. Generated texts agree as
--text-similarity says, and their similarity is shown either way.

--format html writes one self-contained page (inline CSS and SVG, nothing
fetched) with the verdict, the headline numbers and plots of latency, errors
over time, the confusion matrix and agreement per group.

Gates (--fail-on) make the exit code: 0 when every gate passes, 1 when any
fails (the report is still printed, with the failed gates marked), 2 for usage
or input errors.

--format state writes, instead of a report, a summary of the aggregation (a
few KB, versioned, see README "Report state") where the results are; 'report
STATE...' merges any number of them, mixed with results files, into the report
of all their rows. States are found by their content, whatever their name.
Without any of the options that shape the aggregation (--field, --ignore,
--abs-tol, --rel-tol, --top, --by, --max-groups, --text-similarity,
--positive-class, --min-group, --labels, --label-key) the options come from the
first state; once one is given, the others are the command line's too (their
defaults when not given), and every state must have been made with the same.`,
		Example: `  shadowctl report results/
  shadowctl report --format json 'results/*.parquet' | jq .agreement.rate
  shadowctl report --by path --ignore '$.model_version' --abs-tol 1e-6 results.parquet
  shadowctl report --format html --by path --fail-on 'agreement.ci95_low < 0.99' results/ > report.html
  shadowctl report --labels truth.csv --label-key 'request:$.id' --by 'request:$.clinic' \
      --positive-class malignant --fail-on 'accuracy.delta.ci95_low < -0.01' results/
  shadowctl report --fail-on 'agreement.ci95_low < 0.99' --fail-on 'latency_ms.ratio.p99 > 1.2' \
      --fail-on 'errors.candidate.rate > 0.001' --format junit results/ > report.xml
  shadowctl report --format state --by path results/shard-3.parquet > shard-3.state
  shadowctl report --fail-on 'agreement.ci95_low < 0.99' shard-*.state`,
		Args: func(cmd *cobra.Command, args []string) error {
			// cobra.NoArgs would call a file an unknown command.
			if o.GateKeys && len(args) > 0 {
				return fmt.Errorf("--gate-keys takes no files (got %q): it only lists the keys --fail-on takes; leave it out to report on files", args[0])
			}
			if o.GateKeys {
				return nil
			}
			return cobra.MinimumNArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.GateKeys {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), strings.Join(report.GateKeys(), "\n"))
				return err
			}
			for _, flag := range shapingFlagOrder {
				if cmd.Flags().Changed(strings.TrimPrefix(flag, "--")) {
					o.shaped = append(o.shaped, flag)
				}
			}
			// Flags that only act with another: given alone they would
			// change nothing, which is a mistake to say, not to ignore.
			for _, d := range [][2]string{{"positive-class", "by"}, {"min-group", "by"}, {"label-key", "labels"}} {
				if cmd.Flags().Changed(d[0]) && !cmd.Flags().Changed(d[1]) {
					return usageErrorf("--%s acts only with --%s: give --%s too, or leave --%s out", d[0], d[1], d[1], d[0])
				}
			}
			return runReport(cmd.Context(), g, o, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// errGatesFailed is the error of a run whose report printed fine but whose
// gates did not all pass.
var errGatesFailed = errors.New("gates failed")

// stateFormat is the --format that writes a report state.
const stateFormat = "state"

func runReport(ctx context.Context, g *globalOptions, o *reportOptions, args []string) error {
	known := o.Format == stateFormat
	for _, f := range report.Formats {
		known = known || f == o.Format
	}
	if !known {
		return usageErrorf("--format %q: want %s, %s", o.Format, strings.Join(report.Formats, ", "), stateFormat)
	}
	if o.Format == stateFormat && len(o.FailOn) > 0 {
		return usageErrorf("--fail-on gates a report, not --format state: gate the report that merges the states")
	}
	if o.Top < 1 || o.MaxGroups < 1 {
		return usageErrorf("--top and --max-groups must be at least 1")
	}
	var gates []report.Gate
	for _, e := range o.FailOn {
		gate, err := report.ParseGate(e)
		if err != nil {
			return gateError(err)
		}
		gates = append(gates, gate)
	}
	text, err := report.ParseTextRule(o.TextSim)
	if err != nil {
		return usageErrorf("--text-similarity %v", err)
	}
	if o.MinGroup < 1 {
		return usageErrorf("--min-group must be at least 1")
	}
	opts := report.Options{Field: o.Field, Ignore: o.Ignore, AbsTol: o.AbsTol, RelTol: o.RelTol,
		Top: o.Top, MaxGroups: o.MaxGroups, FromStates: len(o.shaped) == 0, Text: text,
		LabelKey: o.LabelKey, PositiveClass: o.PositiveClass, MinGroup: o.MinGroup}
	if len(o.By) > 0 {
		opts.By, opts.ByAlso = o.By[0], o.By[1:]
	}
	if len(o.Labels) > 0 {
		opts.Labels = &report.Labels{} // checked with the options, read after
	}
	// Check the options before reading anything: a typo is a usage error.
	if _, err := report.NewBuilder(opts); err != nil {
		return badInput(optionError(err))
	}
	if len(o.Labels) > 0 {
		labels, err := report.ReadLabels(o.Labels)
		if err != nil {
			return badInput(fmt.Errorf("--labels: %w", err))
		}
		opts.Labels = labels
	}
	if g.StderrIsTerminal {
		bar := progressbar.NewOptions64(-1, progressbar.OptionSetWriter(g.Stderr),
			progressbar.OptionSetDescription("reading results"), progressbar.OptionShowCount(),
			progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100_000_000),
			// see newReplayBar: no spinner goroutine of the library's own
			progressbar.OptionSetSpinnerChangeInterval(0))
		opts.Progress = func(done, total int64) {
			if bar.GetMax64() != total {
				bar.ChangeMax64(total)
			}
			_ = bar.Set64(done)
		}
		defer bar.Finish()
	}
	if o.Format == stateFormat {
		return writeState(ctx, g, opts, args, o.shaped)
	}
	rep, err := report.Build(ctx, opts, args)
	if err != nil {
		return reportInputError(err, args, o.shaped)
	}
	for _, p := range rep.PartialFiles {
		g.Logger.Warn("skipping in-progress results file", "path", p)
	}
	if err := checkLabelsUsed(opts.Labels, o.LabelKey, o.Labels); err != nil {
		return err
	}
	if b := rep.Bias; b != nil && !b.PositiveSeen && len(b.Classes) > 0 {
		return usageErrorf("--positive-class %q: no side predicted it and no label holds it, so every bias gap would be 0; the classes predicted are: %s",
			b.PositiveClass, strings.Join(b.Classes, ", "))
	}
	passed, err := rep.Evaluate(gates)
	if err != nil {
		return err
	}
	if err := rep.Write(g.Stdout, o.Format); err != nil {
		return err
	}
	if !passed {
		var failed []string
		for _, gr := range rep.Gates {
			if !gr.Passed {
				failed = append(failed, gr.Message)
			}
		}
		return fmt.Errorf("%w: %s", errGatesFailed, strings.Join(failed, "; "))
	}
	return nil
}

// checkLabelsUsed refuses labels that no exchange asked for: with a
// --label-key that names something the requests do not carry, every
// accuracy figure would be null and the report would say so only in a
// count.
func checkLabelsUsed(labels *report.Labels, key string, files []string) error {
	if labels == nil {
		return nil
	}
	if labels.Len() == 0 {
		return usageErrorf("--labels %s: the files hold no labels", strings.Join(files, ", "))
	}
	if labels.Matched() > 0 {
		return nil
	}
	return usageErrorf("--labels: none of the %d keys (such as %q) matched an exchange's --label-key %s; give the --label-key that holds them, e.g. 'request:$.id' or 'header:X-Request-Id'",
		labels.Len(), labels.Key(0), key)
}

// gateError words the error of a --fail-on expression: a usage error.
func gateError(err error) error {
	var uk *report.UnknownKeyError
	if errors.As(err, &uk) {
		return usageErrorf("--fail-on %v (shadowctl report --gate-keys lists all %d)", err, uk.Keys)
	}
	var un *report.UnknownNameError
	if errors.As(err, &un) {
		return usageErrorf("--fail-on %q: unknown %s %q; %s.* takes one of: %s",
			un.Expr, un.What, un.Name, un.Map, strings.Join(un.Known, ", "))
	}
	return usageErrorf("--fail-on %v", err)
}

// optionError words the error of a report option with the flag that set it.
func optionError(err error) error {
	var oe *report.OptionError
	if !errors.As(err, &oe) {
		return err
	}
	switch oe.Option {
	case "Field":
		return fmt.Errorf("--field %q: %w", oe.Value, oe.Err)
	case "Ignore":
		return fmt.Errorf("--ignore %q: %w", oe.Value, oe.Err)
	case "By", "ByAlso":
		return fmt.Errorf("--by %q: %w", oe.Value, oe.Err)
	case "LabelKey":
		return fmt.Errorf("--label-key %q: %w", oe.Value, oe.Err)
	}
	return err
}

// writeState writes the report state of args on stdout.
func writeState(ctx context.Context, g *globalOptions, opts report.Options, args []string, shaped []string) error {
	b, err := report.Aggregate(ctx, opts, args)
	if err != nil {
		return reportInputError(err, args, shaped)
	}
	for _, p := range b.PartialFiles() {
		g.Logger.Warn("skipping in-progress results file", "path", p)
	}
	return b.WriteState(g.Stdout)
}

// reportInputError words an error of reading results and report states
// given as args; shaped are the shaping flags given.
func reportInputError(err error, args []string, shaped []string) error {
	err = foundInFolder(err, args)
	var me *report.OptionMismatchError
	switch {
	case errors.As(err, &me):
		flag := shapingFlags[me.Option]
		if me.From == "" && !slices.Contains(shaped, flag) {
			// The user did not give this one: it is the default because
			// others were given.
			return usageErrorf("state %s was made with %s %s; with %s given, every option that shapes the aggregation is the command line's (%s %s by default): give %s %s too, or none of them to use the state's",
				me.File, flag, me.Got, strings.Join(shaped, ", "), flag, me.Want, flag, me.Got)
		}
		if me.From == "" {
			return usageErrorf("state %s was made with %s %s, this report has %s %s: give the same options, or none to use the state's",
				me.File, flag, me.Got, flag, me.Want)
		}
		return usageErrorf("state %s was made with %s %s, but %s with %s %s: states made with other options do not merge",
			me.File, flag, me.Got, me.From, flag, me.Want)
	case errors.Is(err, report.ErrJSONReport):
		return usageErrorf("%v: make states with --format state", err)
	case errors.Is(err, report.ErrStateLabels):
		return usageErrorf("%v: give --labels (and the --label-key the states were made with), or report the states alone", err)
	case errors.Is(err, report.ErrEmpty), errors.Is(err, report.ErrLabels), errors.Is(err, report.ErrStateFormat),
		errors.Is(err, report.ErrStateVersion), errors.Is(err, report.ErrLabelSet):
		return badInput(err)
	}
	return inputError(err)
}
