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
		writeMarkdownRow(bw, header, false)
		seps := make([]string, len(header))
		for i := range seps {
			seps[i] = "---"
		}
		writeMarkdownRow(bw, seps, false)
		for _, row := range s.rows {
			// A failed gate stands out in bold.
			writeMarkdownRow(bw, row, s.title == "Gates" && row[0] == "FAIL")
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

func writeMarkdownRow(w io.Writer, cells []string, bold bool) {
	esc := make([]string, len(cells))
	for i, c := range cells {
		esc[i] = escapeMarkdown(c)
		if bold && c != "" {
			esc[i] = "**" + esc[i] + "**"
		}
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(esc, " | "))
}

// escapeMarkdown keeps cell text from breaking the table or turning into
// markup: ids and diffs are data, not Markdown. Besides the table's own
// characters it escapes what GitHub renders: links and images ([, ], !),
// autolinks (https://, mailto:, www.; an address's @), mentions and
// references (@, #), strikethrough (~), and & (an entity such as &#x202E;
// would bring back a character visible escaped).
var escapeMarkdown = strings.NewReplacer(`|`, `\|`, `*`, `\*`, `_`, `\_`, "`", "\\`", "<", "&lt;", ">", "&gt;", "\n", " ",
	"&", "&amp;", "[", `\[`, "]", `\]`, "!", `\!`, "@", `\@`, "#", `\#`, "~", `\~`,
	"://", `\://`, "mailto:", `mailto\:`, "www.", `www\.`, "WWW.", `WWW\.`).Replace
