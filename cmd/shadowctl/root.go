package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// globalOptions are the flags every command has, and what commands share:
// the streams, whether stderr is a terminal, and the logger.
type globalOptions struct {
	LogFormat  string
	LogLevel   string
	CPUProfile string

	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// StderrIsTerminal decides whether progress bars are drawn.
	StderrIsTerminal bool
	Logger           *slog.Logger
}

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	g := &globalOptions{Stdin: stdin, Stdout: stdout, Stderr: stderr}
	if f, ok := stderr.(*os.File); ok {
		g.StderrIsTerminal = term.IsTerminal(int(f.Fd()))
	}
	root := &cobra.Command{
		Use:   "shadowctl",
		Short: "Shadow-test a machine-learning model: record, replay, report",
		Long: `shadowctl shadow-tests a new model against the one in production.

  1. shadowctl record   a reverse proxy in front of model-v1 that serves traffic
                        unchanged and records every exchange to Parquet files;
                        with --shadow it also sends each request to model-v2
                        live and keeps both answers (the live shadow)
  2. shadowctl replay   sends the recorded requests to model-v2 (and optionally
                        to model-v1 again as a baseline) and writes a results file
  3. shadowctl report   compares the answers: agreement, latency, errors, and
                        gates whose exit code lets CI block a bad model`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			logger, err := newLogger(stderr, g.LogFormat, g.LogLevel)
			if err != nil {
				return badInput(err)
			}
			g.Logger = logger
			return startCPUProfile(g.CPUProfile)
		},
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageErrorf("%w (see '%s --help')", err, cmd.CommandPath())
	})
	root.PersistentFlags().StringVar(&g.LogFormat, "log-format", "text", "log format on stderr: text or json")
	root.PersistentFlags().StringVar(&g.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.PersistentFlags().StringVar(&g.CPUProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file, for 'go tool pprof' (to see where shadowctl spends its time)")
	root.AddCommand(
		newRecordCmd(g),
		newInspectCmd(g),
		newReplayCmd(g),
		newReportCmd(g),
	)
	// Unknown commands and wrong argument counts are usage errors too.
	for _, c := range root.Commands() {
		c.Args = usageArgs(c.Args)
		if run := c.RunE; run != nil {
			c.RunE = func(cmd *cobra.Command, args []string) error { return kindHint(run(cmd, args)) }
		}
	}
	// cobra's completion command prints its help, exit 0, for a shell it
	// does not know (or none): 'completion tcsh > file' would write help
	// text as a script. Those are usage errors.
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		shells := make([]string, 0, len(c.Commands()))
		for _, sh := range c.Commands() {
			shells = append(shells, sh.Name())
		}
		for _, sh := range c.Commands() {
			sh.Args = usageArgs(sh.Args) // 'completion fish extra'
		}
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("completion: name a shell: %s (see 'shadowctl completion --help')", strings.Join(shells, ", "))
			}
			return usageErrorf("completion %q: unknown shell; want %s", args[0], strings.Join(shells, ", "))
		}
	}
	// cobra's help command prints the root's help, exit 0, for a topic it
	// does not know: a script's 'shadowctl help recrod' would pass.
	root.InitDefaultHelpCmd()
	for _, c := range root.Commands() {
		if c.Name() != "help" {
			continue
		}
		c.RunE = func(cmd *cobra.Command, args []string) error {
			target, rest, err := cmd.Root().Find(args)
			if err != nil || target == nil || len(rest) > 0 {
				return usageErrorf("help: unknown topic %q (see 'shadowctl --help')", strings.Join(args, " "))
			}
			target.InitDefaultHelpFlag()
			return target.Help()
		}
	}
	// The root takes any arguments, so that an unknown command comes here
	// (cobra's own check would return an untyped error).
	root.Args = cobra.ArbitraryArgs
	root.SuggestionsMinimumDistance = 2
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			hint := ""
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				hint = fmt.Sprintf("; did you mean %q?", s[0])
			}
			return usageErrorf("unknown command %q%s (see 'shadowctl --help')", args[0], hint)
		}
		return cmd.Help()
	}
	return root
}

// usageArgs marks the errors of an argument validator as usage errors.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	if check == nil {
		return nil
	}
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageErrorf("%w (see '%s --help')", err, cmd.CommandPath())
		}
		return nil
	}
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}

// status writes a line for the operator on stderr: as it is, or with
// --log-format json as a log record (message the line, attrs its figures),
// so that a JSON log pipeline never meets a line of plain text.
func (g *globalOptions) status(line string, attrs ...any) {
	if g.LogFormat == "json" && g.Logger != nil {
		g.Logger.Info(line, attrs...)
		return
	}
	fmt.Fprintln(g.Stderr, line)
}
