package report

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/shadowctl/shadowctl/replay"
)

// TestHumanFormatsShowNoControlBytes: class names, group keys, ids, paths
// and error kinds come from recorded bodies and results files. The table,
// Markdown and HTML reports show them as valid UTF-8 with every control
// character escaped, so a body cannot move a terminal's cursor, retitle its
// window or break the page; the only control byte left is the renderers'
// own newline.
func TestHumanFormatsShowNoControlBytes(t *testing.T) {
	const (
		esc   = "\x1b]0;pwned\x07\x1b[2J"                                  // retitle the terminal, clear the screen
		ctl   = "a\x01b\tc\nd\re\x7f\u0085\u202eexe.txt\u2066\u200b\u2028" // C0, tab, newline, CR, DEL, C1, bidi, zero-width, line separator
		bad   = "caf\xe9 \xff\xfe"                                         // not UTF-8
		class = esc + bad
	)
	var rows []replay.Result
	var kv []string
	for i, c := range []struct{ path, id, rec, cand, kind string }{
		{"/p" + esc, "id" + ctl, class, ctl, ""},
		{"/p" + bad, "id" + esc, ctl, class, ""},
		{"/p" + ctl, "id" + bad, class, class, ""},
		{"/q", "id-err", class, "", "refused" + esc + bad},
	} {
		body := func(s string) string { return `{"predictions":["` + s + `"]}` }
		// The predictions hold the raw bytes, as a broken model would send
		// them (a JSON decoder keeps invalid UTF-8 as U+FFFD, and control
		// characters escaped in JSON are raw once decoded).
		rec := side{status: 200, body: body(jsonEsc(c.rec)), lat: 10}
		cand := side{status: 200, body: body(jsonEsc(c.cand)), lat: 12}
		if c.kind != "" {
			cand = side{status: 500, body: "oops" + esc, lat: 5, kind: c.kind}
		}
		r := row(c.id, c.path, rec, cand, &side{status: 200, body: body(jsonEsc(c.rec)), lat: 11})
		r.RequestBody = []byte(`{"clinic":"` + jsonEsc([]string{esc, ctl, bad, "x"}[i]) + `"}`)
		rows = append(rows, r)
		kv = append(kv, c.id, []string{class, ctl, class, esc}[i])
	}
	reports := map[string]*Report{
		"by path":          build(t, Options{By: "path", ByAlso: []string{"candidate_error_kind"}}, rows),
		"by request field": build(t, Options{By: "request:$.clinic", PositiveClass: class, MinGroup: 1, Labels: labelsOf(t, kv...)}, rows),
	}
	for name, rep := range reports {
		if rep.Agreement.Labels == nil || len(rep.Groups) < 3 {
			t.Fatalf("%s: the fixture has no confusion matrix or too few groups: %+v", name, rep.Agreement)
		}
		for _, format := range []string{"table", "markdown", "html"} {
			var buf bytes.Buffer
			if err := rep.Write(&buf, format); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if !utf8.ValidString(out) {
				t.Errorf("%s, %s: the output is not valid UTF-8", name, format)
			}
			for i, r := range out {
				if r != '\n' && (unicode.IsControl(r) || unicode.In(r, unicode.Bidi_Control, unicode.Cf, unicode.Zl, unicode.Zp)) {
					t.Errorf("%s, %s: control character %U at byte %d: %q", name, format, r, i, out[max(0, i-40):min(len(out), i+40)])
					break
				}
			}
			// What was escaped is still shown, visibly.
			for _, want := range []string{`\x1b]0;pwned\a\x1b[2J`, `a\x01b\tc\nd\re\x7f\u0085\u202eexe.txt\u2066\u200b\u2028`, "caf\uFFFD \uFFFD"} {
				if format == "markdown" {
					want = escapeMarkdown(want)
				}
				if !strings.Contains(out, want) {
					t.Errorf("%s, %s: %q is not shown", name, format, want)
				}
			}
		}
	}
}

// jsonEsc writes s as the inside of a JSON string, its control characters
// escaped and its invalid bytes kept as they are.
func jsonEsc(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[c>>4])
			b.WriteByte("0123456789abcdef"[c&15])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// TestMarkdownShowsMarkupAsText: a group, class or path is data. GitHub
// renders links, images, autolinks, mentions, references and entities in a
// step summary or a PR comment: escaped, they show as the text they are
// (no phishing link, no tracking pixel fetched by every viewer, no
// notification, no character an entity would bring back).
func TestMarkdownShowsMarkupAsText(t *testing.T) {
	const evil = "[click me](https://evil.example/) ![p](https://evil.example/p.png) www.evil.example a@b.example @octocat #123 ~~s~~ &#x202E;"
	got := escapeMarkdown(evil)
	want := `\[click me\](https\://evil.example/) \!\[p\](https\://evil.example/p.png) www\.evil.example a\@b.example \@octocat \#123 \~\~s\~\~ &amp;\#x202E;`
	if got != want {
		t.Errorf("escapeMarkdown:\n got %s\nwant %s", got, want)
	}
	rows := []replay.Result{v1Row("r1", `["`+jsonEsc(evil)+`"]`, `["x"]`)}
	rows[0].Path = "/p/" + evil
	var buf bytes.Buffer
	if err := build(t, Options{By: "path"}, rows).Write(&buf, "markdown"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{`\]\(https://`, `[^\\]!\[`, `[^\\]@octocat`, `&#x202E;`} {
		if regexp.MustCompile(bad).MatchString(buf.String()) {
			t.Errorf("the Markdown report holds %s as markup", bad)
		}
	}
}

// TestHumanFormatsClipLongText: a table pads every cell of a column to its
// widest, so a 5 MB path made a report of gigabytes, and Markdown passed
// GitHub's 1 MiB step-summary limit. Cells are clipped (the JSON report has
// the whole value).
func TestHumanFormatsClipLongText(t *testing.T) {
	long := strings.Repeat("p", 1<<20)
	var rows []replay.Result
	for i, label := range []string{"a", "b", "c"} {
		r := v1Row(fmt.Sprint("r", i), `["`+label+strings.Repeat("x", 100<<10)+`"]`, `["`+label+`"]`)
		r.Path = "/" + label + long
		rows = append(rows, r)
	}
	rep := build(t, Options{By: "path"}, rows)
	// A gate per group: its message (stderr, CI logs) clips the group, the
	// result keeps it whole.
	if _, err := rep.Evaluate([]Gate{mustGate(t, "agreement.rate < 0.99")}); err != nil {
		t.Fatal(err)
	}
	for _, g := range rep.Gates {
		if len(g.Message) > 1000 || (g.Group != "" && len(g.Group) < 1<<20) {
			t.Errorf("gate of group %.20q…: message of %d bytes, group of %d", g.Group, len(g.Message), len(g.Group))
		}
	}
	for _, format := range []string{"table", "markdown", "junit"} {
		var buf bytes.Buffer
		if err := rep.Write(&buf, format); err != nil {
			t.Fatal(err)
		}
		if buf.Len() > 256<<10 {
			t.Errorf("%s: %d bytes for 3 rows", format, buf.Len())
		}
	}
	var buf bytes.Buffer
	if err := rep.Write(&buf, "json"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), long) {
		t.Error("the JSON report lost the whole path")
	}
}
