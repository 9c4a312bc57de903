package main

import (
	"context"
	"errors"
	"fmt"
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
	By        string
	MaxGroups int
	FailOn    []string
}

func (o *reportOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Format, "format", "table", "output format: "+strings.Join(report.Formats, ", "))
	fs.StringVar(&o.Field, "field", "", "JSONPath (RFC 9535) of the prediction in a response body; default: detected from the serving protocol")
	fs.StringArrayVar(&o.Ignore, "ignore", nil, "JSONPath removed from both bodies before comparing (repeatable), e.g. '$.model_version'")
	fs.Float64Var(&o.AbsTol, "abs-tol", 0, "absolute tolerance: numbers a (recorded) and b agree when |a-b| <= abs-tol + rel-tol*|a|")
	fs.Float64Var(&o.RelTol, "rel-tol", 0, "relative tolerance (see --abs-tol)")
	fs.IntVar(&o.Top, "top", 10, "disagreements listed, and classes in the confusion matrix")
	fs.StringVar(&o.By, "by", "", "repeat agreement, latency and errors per value of a column: "+strings.Join(report.ByColumns, ", "))
	fs.IntVar(&o.MaxGroups, "max-groups", 50, "groups shown with --by, largest first; the rest are merged into \"(other)\"")
	fs.StringArrayVar(&o.FailOn, "fail-on", nil, "gate 'KEY OP NUMBER' on any numeric key of the JSON report, OP one of < <= > >= == != (repeatable); exit 1 when true")
}

func newReportCmd(g *globalOptions) *cobra.Command {
	o := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "report RESULTS...",
		Short: "Compare candidate and recorded answers: agreement, latency, errors, CI gates",
		Long: `Report reads results files written by 'shadowctl replay' (files, folders, glob
patterns or bucket URLs such as s3://bkt/results/?region=eu-west-1, so the
shards of one replay report together) in one streaming pass
and shows how often the candidate gave production's answer, how fast each side
was and how often each failed. With a baseline in the results it also shows the
noise floor: how often production disagrees with itself.

JSON bodies are compared structurally (key order does not matter, numbers
within the tolerances, --ignore paths removed), other bodies byte for byte. The
prediction is --field or detected from the response shape (KServe/TF Serving
V1, Open Inference Protocol V2, OpenAI-compatible).

Gates (--fail-on) make the exit code: 0 when every gate passes, 1 when any
fails (the report is still printed, with the failed gates marked), 2 for usage
or input errors.`,
		Example: `  shadowctl report results/
  shadowctl report --format json 'results/*.parquet' | jq .agreement.rate
  shadowctl report --by path --ignore '$.model_version' --abs-tol 1e-6 results.parquet
  shadowctl report --fail-on 'agreement.ci95_low < 0.99' --fail-on 'latency_ms.ratio.p99 > 1.2' \
      --fail-on 'errors.candidate.rate > 0.001' --format junit results/ > report.xml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReport(cmd.Context(), g, o, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// errGatesFailed is the error of a run whose report printed fine but whose
// gates did not all pass.
var errGatesFailed = errors.New("gates failed")

func runReport(ctx context.Context, g *globalOptions, o *reportOptions, args []string) error {
	known := false
	for _, f := range report.Formats {
		known = known || f == o.Format
	}
	if !known {
		return usageErrorf("--format %q: want %s", o.Format, strings.Join(report.Formats, ", "))
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
	opts := report.Options{Field: o.Field, Ignore: o.Ignore, AbsTol: o.AbsTol, RelTol: o.RelTol,
		Top: o.Top, By: o.By, MaxGroups: o.MaxGroups}
	// Check the options before reading anything: a typo is a usage error.
	if _, err := report.NewBuilder(opts); err != nil {
		return badInput(optionError(err))
	}
	if g.StderrIsTerminal {
		bar := progressbar.NewOptions64(-1, progressbar.OptionSetWriter(g.Stderr),
			progressbar.OptionSetDescription("reading results"), progressbar.OptionShowCount(),
			progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100_000_000))
		opts.Progress = func(done, total int64) {
			if bar.GetMax64() != total {
				bar.ChangeMax64(total)
			}
			_ = bar.Set64(done)
		}
		defer bar.Finish()
	}
	rep, err := report.Build(ctx, opts, args)
	if err != nil {
		if errors.Is(err, report.ErrEmpty) {
			return badInput(err)
		}
		return inputError(err)
	}
	for _, p := range rep.PartialFiles {
		g.Logger.Warn("skipping in-progress results file", "path", p)
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

// gateError words the error of a --fail-on expression: a usage error.
func gateError(err error) error {
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
	case "By":
		return fmt.Errorf("--by %q: %w", oe.Value, oe.Err)
	}
	return err
}
