package report

import (
	"os"
	"sort"
	"strings"
	"testing"
)

// TestJSONKeysDocumented: every key of the JSON report, for fixtures that
// fill each part of it (baseline, groups and gates; labels, shift and bias;
// LLM texts, tokens and streams), is in README's schema table. A row of the
// table documents the keys it spells out ({a,b} alternatives, * for any
// name) and everything below them, so "agreement.baseline" (the same object)
// covers its members.
func TestJSONKeysDocumented(t *testing.T) {
	documented := readmeJSONKeys(t)
	if len(documented) < 100 {
		t.Fatalf("%d keys read from README's JSON table: is the table still under its heading?", len(documented))
	}
	reports := map[string]*Report{
		"golden": goldenReport(t),
		"truth":  truthReport(t),
		"llm":    build(t, Options{By: "path"}, llmRows(t, 60)),
	}
	for name, r := range reports {
		leaves := map[string]bool{}
		jsonLeaves("", jsonOf(t, r), leaves)
		var missing []string
		for p, empty := range leaves {
			if !coveredBy(p, empty, documented) {
				missing = append(missing, p)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("%s report: %d JSON keys missing from README's schema table:\n%s", name, len(missing), strings.Join(missing, "\n"))
		}
	}
	// The check can fail: a key no row documents is found.
	if coveredBy("agreement.text.rouge_l.undocumented", false, documented) {
		t.Error("an undocumented key passes as documented")
	}
}

// readmeJSONKeys are the keys README's JSON report table documents, each
// split into its dotted parts.
func readmeJSONKeys(t *testing.T) [][]string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "### JSON report (`schema_version` 1)")
	if !ok {
		t.Fatal("README has no JSON report section")
	}
	table, _, _ = strings.Cut(table, "\n### ")
	var keys [][]string
	for _, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cell, _, _ := strings.Cut(line[2:], " |")
		for i, part := range strings.Split(cell, "`") {
			if i%2 == 1 {
				for _, k := range expandBraces(part) {
					keys = append(keys, strings.Split(k, "."))
				}
			}
		}
	}
	return keys
}

// expandBraces spells out a{b,c.{d,e}} as ab, ac.d, ac.e.
func expandBraces(s string) []string {
	open := strings.IndexByte(s, '{')
	if open < 0 {
		return []string{s}
	}
	depth, end := 0, -1
	var alts []string
	start := open + 1
	for i := open; i < len(s) && end < 0; i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				alts = append(alts, s[start:i])
				end = i
			}
		case ',':
			if depth == 1 {
				alts = append(alts, s[start:i])
				start = i + 1
			}
		}
	}
	var out []string
	for _, a := range alts {
		for _, rest := range expandBraces(s[end+1:]) {
			out = append(out, expandBraces(s[:open]+a+rest)...)
		}
	}
	return out
}

// jsonLeaves adds the path of every value in v that holds no other (an
// array's elements are path[]), true for null, {} and [].
func jsonLeaves(path string, v any, out map[string]bool) {
	switch x := v.(type) {
	case nil:
		out[path] = true
	case map[string]any:
		if len(x) == 0 {
			out[path] = true
		}
		for k, e := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			jsonLeaves(p, e, out)
		}
	case []any:
		if len(x) == 0 {
			out[path] = true
		}
		for _, e := range x {
			jsonLeaves(path+"[]", e, out)
		}
	default:
		out[path] = false
	}
}

// coveredBy tells whether a documented key is path or one of its parents;
// * stands for any one name, and a documented key without [] covers its
// array's elements. An empty value (null, {}, []) is covered by its
// documented members too: "agreement.embeddings": null by
// agreement.embeddings.count.
func coveredBy(path string, empty bool, documented [][]string) bool {
	parts := strings.Split(path, ".")
next:
	for _, d := range documented {
		n := len(d)
		if n > len(parts) {
			if !empty {
				continue
			}
			n = len(parts)
		}
		for i, seg := range d[:n] {
			last := i == len(d)-1
			switch {
			case seg == "*" || seg == parts[i]:
			case seg == "*[]" && strings.HasSuffix(parts[i], "[]"):
			case last && strings.HasPrefix(parts[i], seg+"["):
			case empty && i == len(parts)-1 && strings.TrimRight(seg, "[]") == parts[i]: // "gates": [] by gates[].expr
			default:
				continue next
			}
		}
		return true
	}
	return false
}
