package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown writes the report as GitHub-flavoured Markdown, for CI job
// summaries and pull-request comments: the same sections as the table.
func (r *Report) WriteMarkdown(w io.Writer) error {
	bw := bufio.NewWriter(w)
	verdict := "passed"
	if !r.Passed {
		verdict = "**FAILED**"
	}
	fmt.Fprintf(bw, "# shadowctl report: %s\n", verdict)
	for _, s := range sections(r) {
		fmt.Fprintf(bw, "\n## %s\n\n", s.title)
		header := s.header
		if s.title == "Summary" {
			header = []string{"", ""}
		}
		writeMarkdownRow(bw, header)
		seps := make([]string, len(header))
		for i := range seps {
			seps[i] = "---"
		}
		writeMarkdownRow(bw, seps)
		for _, row := range s.rows {
			if s.title == "Gates" && row[0] == "FAIL" {
				row = append([]string{"**FAIL**"}, row[1:]...)
			}
			writeMarkdownRow(bw, row)
		}
		for _, n := range s.notes {
			fmt.Fprintf(bw, "\n%s\n", escapeMarkdown(n))
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write markdown report: %w", err)
	}
	return nil
}

func writeMarkdownRow(w io.Writer, cells []string) {
	esc := make([]string, len(cells))
	for i, c := range cells {
		esc[i] = escapeMarkdown(c)
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(esc, " | "))
}

// escapeMarkdown keeps cell text from breaking the table or turning into
// markup: ids and diffs are data, not Markdown.
var escapeMarkdown = strings.NewReplacer(`|`, `\|`, `*`, `\*`, `_`, `\_`, "`", "\\`", "<", "&lt;", ">", "&gt;", "\n", " ").Replace
