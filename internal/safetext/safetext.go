// Package safetext makes untrusted text (anything a recording, a results
// file, a body or a label file holds) safe to show to a person: in a
// terminal, a table, a Markdown page, a log line.
package safetext

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Visible returns s with invalid UTF-8 as U+FFFD and every character that
// changes what is shown instead of showing written as Go writes it in a
// quoted string (\t, \n, \x1b, \u0085, \u202e, \u200b): control characters
// (C0 with tab and newline, DEL, C1), format characters (Unicode's Cf:
// bidirectional controls, which reorder what a terminal or a browser
// shows, zero-width ones, which make look-alike names) and the line and
// paragraph separators. A terminal then draws an escape sequence as text
// instead of obeying it, and a table row stays one line. Nothing else is
// changed (a backslash stays one backslash), so text that has none of
// these reads as it is.
func Visible(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, Hidden) < 0 {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		if !Hidden(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r) // '\x1b'
		if len(q) < 3 || q[1] != '\\' {
			q = `'\u` + strconv.FormatInt(int64(r), 16) + `'` // QuoteRune prints some Cf as they are
			if r > 0xffff {
				q = `'\U` + strconv.FormatInt(int64(r), 16) + `'`
			}
		}
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

// Hidden reports whether r changes what is shown instead of showing.
func Hidden(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Bidi_Control)
}

// MaxCell is how many runes of untrusted text a cell, a line or a name
// shown to a person holds (Clip): a table pads every cell of a column to
// its widest, so one 5 MB path made a report of gigabytes.
const MaxCell = 200

// Clip is Visible(s) cut to n runes (Truncate).
func Clip(s string, n int) string { return Truncate(Visible(s), n) }

// Truncate cuts s to n runes, its last one "…" when cut.
func Truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:max(n-1, 0)]) + "…"
}
