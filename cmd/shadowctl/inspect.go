package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/shadowctl/shadowctl/internal/safetext"
	"github.com/shadowctl/shadowctl/record"
	"github.com/shadowctl/shadowctl/replay"
)

type inspectOptions struct {
	Format string
	Top    int
}

func (o *inspectOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Format, "format", "table", "output format: table or json")
	fs.IntVar(&o.Top, "top", 20, "paths to list in the table (json lists all)")
}

func newInspectCmd(g *globalOptions) *cobra.Command {
	o := &inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect PATH...",
		Short: "Show what recordings hold: rows, time span, methods, paths, statuses, errors",
		Long: `Inspect reads recordings (files, folders, glob patterns or bucket URLs such
as s3://bkt/rec/?region=eu-west-1) and shows what was
captured: files and rows, the time span, counts by method, path and status,
and how many exchanges had a truncated body or an error. In-progress files
(*.partial) are skipped with a warning.`,
		Example: `  shadowctl inspect ./recordings
  shadowctl inspect --format json 'recordings/rec-2026*.parquet' | jq .exchanges`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.Context(), g, o, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runInspect(ctx context.Context, g *globalOptions, o *inspectOptions, args []string) error {
	if o.Format != "table" && o.Format != "json" {
		return usageErrorf("--format %q: want table or json", o.Format)
	}
	if o.Top < 1 {
		return usageErrorf("--top %d: want 1 or more", o.Top)
	}
	s, err := record.Summarize(ctx, args)
	if err != nil {
		return inputError(err)
	}
	for _, p := range s.Skipped {
		g.Logger.Warn("skipping in-progress file", "path", p)
	}
	if s.Duplicates > 0 {
		g.Logger.Warn("exchanges read twice, counted once: the same exchange is in several of the files given "+
			"(a recording copied into another folder read?)", "duplicates", s.Duplicates)
	}
	if o.Format == "json" {
		enc := json.NewEncoder(g.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	return renderInspect(g.Stdout, s, o.Top)
}

// inputError gives errors about unreadable or foreign input files the usage
// exit code; the user must fix the arguments, not retry.
func inputError(err error) error {
	var ue *usageError
	if errors.As(err, &ue) || errors.Is(err, context.Canceled) {
		return err
	}
	if errors.Is(err, record.ErrFormat) || errors.Is(err, replay.ErrFormat) || isPathError(err) {
		return badInput(err)
	}
	return err
}

func renderInspect(w io.Writer, s *record.Summary, top int) error {
	span := "-"
	if s.Exchanges > 0 {
		span = fmt.Sprintf("%s .. %s (%s)", s.First.UTC().Format(time.RFC3339Nano),
			s.Last.UTC().Format(time.RFC3339Nano), s.Last.Sub(s.First).Round(time.Millisecond))
	}
	dups := ""
	if s.Duplicates > 0 {
		dups = fmt.Sprintf(" (and %d rows that repeat an exchange of another file, counted once)", s.Duplicates)
	}
	fmt.Fprintf(w, "Exchanges: %d in %d files%s\nTime span: %s\nTruncated bodies: %d requests, %d responses\nErrors: %d\n\n",
		s.Exchanges, len(s.Files), dups, span, s.Truncated.Requests, s.Truncated.Responses, s.Errors)
	files := make([][]string, 0, len(s.Files))
	for _, f := range s.Files {
		files = append(files, []string{safetext.Visible(f.Path), strconv.FormatInt(f.Rows, 10)})
	}
	if err := renderTable(w, []string{"File", "Rows"}, files); err != nil {
		return err
	}
	for _, part := range []struct {
		title  string
		counts []record.Count
		limit  int
	}{
		{"Method", s.Methods, 0},
		{"Path", s.Paths, top},
		{"Status", s.Statuses, 0},
	} {
		rows := countRows(part.counts, part.limit, s.Exchanges)
		fmt.Fprintln(w)
		if err := renderTable(w, []string{part.title, "Exchanges", "Share"}, rows); err != nil {
			return err
		}
	}
	return nil
}

func countRows(counts []record.Count, limit int, total int64) [][]string {
	var rest int64
	rows := make([][]string, 0, len(counts))
	for i, c := range counts {
		if limit > 0 && i >= limit {
			rest += c.Count
			continue
		}
		// Recorded methods and paths are the clients': drawn as text,
		// never obeyed by the terminal, and no wider than a report's cell.
		rows = append(rows, []string{safetext.Clip(c.Key, safetext.MaxCell), strconv.FormatInt(c.Count, 10), share(c.Count, total)})
	}
	if rest > 0 {
		rows = append(rows, []string{fmt.Sprintf("(%d more)", len(counts)-limit), strconv.FormatInt(rest, 10), share(rest, total)})
	}
	return rows
}

func share(n, total int64) string {
	if total == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(total))
}

// renderTable draws one table with tablewriter.
func renderTable(w io.Writer, header []string, rows [][]string) error {
	t := tablewriter.NewTable(w)
	h := make([]any, len(header))
	for i, s := range header {
		h[i] = s
	}
	t.Header(h...)
	for _, r := range rows {
		if err := t.Append(r); err != nil {
			return fmt.Errorf("render table: %w", err)
		}
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("render table: %w", err)
	}
	return nil
}
