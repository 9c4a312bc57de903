package report

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// visible makes untrusted text (a class, a group key, an id, a path, an
// error kind: anything a results file or a body holds) safe to show in the
// table, Markdown and HTML reports. Invalid UTF-8 becomes U+FFFD, and every
// control character (C0 with tab and newline, DEL, C1) is written as Go
// writes it in a quoted string: \t, \n, \x1b, \u0085. A terminal then draws
// an escape sequence as text instead of obeying it, and a table row stays
// one line. Nothing else is changed (a backslash stays one backslash), so
// text that has none of these reads as it is; the JSON report has the exact
// value. Bidirectional controls (U+202E and its kin, Unicode's
// Bidi_Control) are written so too (\u202e): they reorder what a terminal
// or a browser shows, so a cell could show text that is not in it.
func visible(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, hidden) < 0 {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		if !hidden(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r) // '\x1b'
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

// hidden reports whether r changes what is shown instead of showing.
func hidden(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }

// visibleSections applies visible to every text of the sections: their
// cells come from results files and bodies.
func visibleSections(ss []section) []section {
	for i := range ss {
		s := &ss[i]
		s.title = visible(s.title)
		for j := range s.header {
			s.header[j] = visible(s.header[j])
		}
		for _, row := range s.rows {
			for j := range row {
				row[j] = visible(row[j])
			}
		}
		for j := range s.notes {
			s.notes[j] = visible(s.notes[j])
		}
	}
	return ss
}
