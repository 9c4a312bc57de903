package report

import (
	"github.com/shadowctl/shadowctl/internal/safetext"
)

// visible makes untrusted text (a class, a group key, an id, a path, an
// error kind: anything a results file or a body holds) safe to show in the
// table, Markdown and HTML reports: see safetext.Visible. The JSON report
// has the exact value.
func visible(s string) string { return safetext.Visible(s) }

// maxCell bounds a cell of the table and Markdown reports, in runes (see
// safetext.MaxCell); the JSON report has the whole value.
const maxCell = safetext.MaxCell

// visibleSections applies visible to every text of the sections: their
// cells come from results files and bodies.
func visibleSections(ss []section) []section {
	for i := range ss {
		s := &ss[i]
		s.title = visible(s.title)
		for j := range s.header {
			s.header[j] = safetext.Clip(s.header[j], maxCell)
		}
		for _, row := range s.rows {
			for j := range row {
				row[j] = safetext.Clip(row[j], maxCell)
			}
		}
		for j := range s.notes {
			s.notes[j] = visible(s.notes[j])
		}
	}
	return ss
}
