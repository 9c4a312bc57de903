// Reading the HTML report back in tests, as a browser parses it.

package report

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// page renders r as HTML and parses it back, as a browser would.
func page(t *testing.T, r *Report) (*html.Node, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return doc, buf.Bytes()
}

// jsonDoc is the report's JSON, decoded: what the page must agree with.
func jsonDoc(t *testing.T, r *Report) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// jsonAt follows a dotted key (numbers index arrays) in a decoded JSON doc.
func jsonAt(t *testing.T, doc any, key string) any {
	t.Helper()
	v := doc
	for _, part := range strings.Split(key, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[part]
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i >= len(x) {
				t.Fatalf("%s: no index %q", key, part)
			}
			v = x[i]
		default:
			t.Fatalf("%s: %q is below a %T", key, part, v)
		}
	}
	return v
}

func attr(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

func hasClass(n *html.Node, c string) bool {
	v, _ := attr(n, "class")
	for _, x := range strings.Fields(v) {
		if x == c {
			return true
		}
	}
	return false
}

// find returns the elements below n (n included) for which ok holds, in
// document order.
func find(n *html.Node, ok func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && ok(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func byID(t *testing.T, doc *html.Node, id string) *html.Node {
	t.Helper()
	ns := find(doc, func(n *html.Node) bool { v, _ := attr(n, "id"); return v == id })
	if len(ns) != 1 {
		t.Fatalf("%d elements with id %q", len(ns), id)
	}
	return ns[0]
}

func tag(name string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Data == name }
}

// text is the text of n without that of its <title> tooltips.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		if n.Type == html.ElementNode && n.Data == "title" && n.Parent != nil && n.Parent.Data != "head" {
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

func fattr(t *testing.T, n *html.Node, name string) float64 {
	t.Helper()
	v, ok := attr(n, name)
	if !ok {
		t.Fatalf("<%s> has no %s", n.Data, name)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatalf("<%s %s=%q>: %v", n.Data, name, v, err)
	}
	return f
}

// sameNumber compares a data-* value with the JSON's number (or null).
func sameNumber(raw string, j any) bool {
	if j == nil {
		return raw == "null"
	}
	f, err := strconv.ParseFloat(raw, 64)
	return err == nil && f == j.(float64)
}
