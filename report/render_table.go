package report

import (
	"fmt"
	"io"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// WriteTable writes the report as plain-text tables for a terminal:
// Summary, Agreement (with the confusion matrix), Latency, Errors, groups,
// Top disagreements and Gates.
func (r *Report) WriteTable(w io.Writer) error {
	for i, s := range sections(r) {
		if i > 0 {
			if _, err := fmt.Fprintln(w); err != nil {
				return fmt.Errorf("write table report: %w", err)
			}
		}
		if _, err := fmt.Fprintln(w, s.title); err != nil {
			return fmt.Errorf("write table report: %w", err)
		}
		t := tablewriter.NewTable(w,
			tablewriter.WithHeaderAutoFormat(tw.Off),
			tablewriter.WithHeaderAlignment(tw.AlignLeft),
			tablewriter.WithRowAutoWrap(tw.WrapNone),
		)
		if s.title != "Summary" {
			t.Header(toAny(s.header)...)
		}
		for _, row := range s.rows {
			if err := t.Append(toAny(row)...); err != nil {
				return fmt.Errorf("write table %q: %w", s.title, err)
			}
		}
		if err := t.Render(); err != nil {
			return fmt.Errorf("write table %q: %w", s.title, err)
		}
		for _, n := range s.notes {
			if _, err := fmt.Fprintln(w, n); err != nil {
				return fmt.Errorf("write table report: %w", err)
			}
		}
	}
	return nil
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
