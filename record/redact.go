package record

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/theory/jsonpath"
	"github.com/theory/jsonpath/spec"
)

// JSONRedactor masks fields inside JSON request and response bodies before
// they are stored (personal data the model needs but the recording must not
// keep). It runs on the sink's writer goroutine, never on the proxied
// request's path.
//
// A body is plain JSON when, whole (not cut at --max-body) and not
// compressed, it is exactly one RFC 8259 value in valid UTF-8 with only
// JSON whitespace around it, nested at most 10000 deep, with no \u escape
// that is not a Unicode scalar (a lone surrogate) and no key holding U+0000.
// Parsers read anything else in different ways, so we do not guess at it.
// What is stored, per body:
//   - plain JSON where no path matches, in any occurrence of a repeated
//     key: unchanged, byte for byte;
//   - plain JSON where paths match: every selected value replaced by the
//     string Redacted, re-encoded compactly (object keys sorted, a repeated
//     key kept as often and in the order it came, numbers kept as written).
//     Keys match as decoded ("em\u0061il" is "email"). All paths select on
//     the body as it came. A repeated key is followed into every
//     occurrence, so a value is masked whichever one a parser keeps;
//   - a body that cannot be inspected, dropped (stored empty) and flagged
//     truncated, since any part of it may hold a masked field: a body with
//     a Content-Encoding other than identity (any of its values); plain
//     JSON with a repeated key when a path holds a filter (which occurrence
//     a filter sees is the parser's choice); and any other body that some
//     reader may take for JSON or that may embed it: a Content-Type naming
//     JSON (application/json, +json, ndjson...), a byte order mark, a NUL
//     in the first 4 bytes (UTF-16 or UTF-32, RFC 8259 section 8.1 and
//     RFC 4627 section 3), '{' or '[' as the first non-space byte, or UTF-8
//     text or a multipart body holding '{' or '[' anywhere (an event
//     stream, JSONP, a JSON part);
//   - any other body (text with neither '{' nor '[', bytes that are not
//     UTF-8 such as images): unchanged, keeping its truncated flag.
//
// The size column keeps the real size of a dropped body.
type JSONRedactor struct {
	paths   []*jsonpath.Path
	filters bool // some path holds a filter selector
}

// NewJSONRedactor parses the JSONPath expressions (RFC 9535, e.g.
// "$.user.email" or "$.instances[*].ssn"). It returns nil for no paths.
func NewJSONRedactor(paths []string) (*JSONRedactor, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	r := &JSONRedactor{}
	for _, p := range paths {
		q, err := jsonpath.Parse(p)
		if err != nil {
			return nil, fmt.Errorf("JSONPath %q: %w", p, err)
		}
		r.paths = append(r.paths, q)
		for _, seg := range q.Query().Segments() {
			for _, sel := range seg.Selectors() {
				if _, ok := sel.(*spec.FilterSelector); ok {
					r.filters = true
				}
			}
		}
	}
	return r, nil
}

// Apply masks x's request and response bodies in place.
func (r *JSONRedactor) Apply(x *Exchange) {
	if r == nil {
		return
	}
	x.RequestBody, x.RequestBodyTruncated = r.body(x.RequestBody, x.RequestBodyTruncated, x.RequestHeaders)
	x.ResponseBody, x.ResponseBodyTruncated = r.body(x.ResponseBody, x.ResponseBodyTruncated, x.ResponseHeaders)
}

// Body is what to store of one body b (headers hs, nil when unknown), and
// whether it is then flagged truncated, by the rules of Apply: for rows of
// other kinds than Exchange (the live shadow's results).
func (r *JSONRedactor) Body(b []byte, truncated bool, hs []Header) ([]byte, bool) {
	if r == nil {
		return b, truncated
	}
	return r.body(b, truncated, hs)
}

// body returns what to store of b, and whether it is flagged truncated.
func (r *JSONRedactor) body(b []byte, truncated bool, hs []Header) ([]byte, bool) {
	if len(b) == 0 {
		return b, truncated
	}
	if encoded(hs) {
		return nil, true
	}
	if !truncated {
		if doc, err := parseJSON(b); err == nil {
			return r.mask(b, doc)
		}
	}
	if mightBeJSON(b, truncated, hs) {
		return nil, true
	}
	return b, truncated
}

// mask returns what to store of b, parsed as doc.
func (r *JSONRedactor) mask(b []byte, doc *jsonDoc) ([]byte, bool) {
	if doc.dups && r.filters {
		return nil, true
	}
	var hit []*jsonNode
	for _, p := range r.paths {
		ns, err := doc.selectNodes(p.Query())
		if err != nil {
			return nil, true
		}
		hit = append(hit, ns...)
	}
	if len(hit) == 0 {
		return b, false
	}
	for _, n := range hit {
		*n = jsonNode{kind: '"', text: Redacted}
	}
	var out bytes.Buffer
	e := json.NewEncoder(&out)
	e.SetEscapeHTML(false)
	if err := doc.root.encode(&out, e); err != nil {
		return nil, true
	}
	return out.Bytes(), false
}

// children calls f with every member value or element of n.
func (n *jsonNode) children(f func(*jsonNode)) {
	for _, m := range n.members {
		f(m.val)
	}
	for _, e := range n.elems {
		f(e)
	}
}

// any is n as jsonpath filters see it, numbers as json.Number. A repeated
// key keeps its last value, as in encoding/json; that is why a filter is
// never run on a body with repeated keys.
func (n *jsonNode) any() any {
	if n.converted {
		return n.value
	}
	switch n.kind {
	case '{':
		m := make(map[string]any, len(n.members))
		for _, x := range n.members {
			m[x.key] = x.val.any()
		}
		n.value = m
	case '[':
		a := make([]any, len(n.elems))
		for i, e := range n.elems {
			a[i] = e.any()
		}
		n.value = a
	case '"':
		n.value = n.text
	default:
		switch n.text {
		case "true":
			n.value = true
		case "false":
			n.value = false
		case "null":
			n.value = nil
		default:
			n.value = json.Number(n.text)
		}
	}
	n.converted = true
	return n.value
}

// selectNodes returns the nodes q selects (RFC 9535), following every
// occurrence of a repeated key. Selectors it does not know are an error.
func (d *jsonDoc) selectNodes(q *spec.PathQuery) ([]*jsonNode, error) {
	cur := []*jsonNode{d.root}
	for _, seg := range q.Segments() {
		var next []*jsonNode
		var err error
		d.gen++
		walked, picked := d.gen, d.gen
		pick := func(n *jsonNode) {
			if n.picked != picked {
				n.picked = picked
				next = append(next, n)
			}
		}
		var visit func(*jsonNode)
		visit = func(n *jsonNode) {
			if err != nil {
				return
			}
			if seg.IsDescendant() {
				if n.walked == walked {
					return // its subtree is done already
				}
				n.walked = walked
			}
			for _, sel := range seg.Selectors() {
				if err = d.apply(sel, n, pick); err != nil {
					return
				}
			}
			if seg.IsDescendant() {
				n.children(visit)
			}
		}
		for _, n := range cur {
			visit(n)
		}
		if err != nil {
			return nil, err
		}
		cur = next
	}
	return cur, nil
}

// apply calls pick with each node sel selects from n.
func (d *jsonDoc) apply(sel spec.Selector, n *jsonNode, pick func(*jsonNode)) error {
	switch s := sel.(type) {
	case spec.Name:
		for _, m := range n.members {
			if m.key == string(s) {
				pick(m.val)
			}
		}
	case spec.WildcardSelector:
		n.children(pick)
	case spec.Index:
		i := int(s)
		if i < 0 {
			i += len(n.elems)
		}
		if 0 <= i && i < len(n.elems) {
			pick(n.elems[i])
		}
	case spec.SliceSelector:
		lower, upper := s.Bounds(len(n.elems))
		switch step := s.Step(); {
		case step > 0:
			for i := lower; i < upper; i += step {
				pick(n.elems[i])
			}
		case step < 0:
			for i := upper; lower < i; i += step {
				pick(n.elems[i])
			}
		}
	case *spec.FilterSelector:
		root := d.root.any()
		n.children(func(c *jsonNode) {
			if s.Eval(c.any(), root) {
				pick(c)
			}
		})
	default:
		return fmt.Errorf("JSONPath selector %v: not supported", sel)
	}
	return nil
}

// mightBeJSON reports whether b, which is not plain JSON, may still be
// read as JSON by some parser or hold JSON further in.
func mightBeJSON(b []byte, cut bool, hs []Header) bool {
	multipart := false
	for _, v := range values(hs, "Content-Type") {
		mt, _, _ := strings.Cut(v, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		if strings.Contains(mt, "json") {
			return true
		}
		multipart = multipart || strings.HasPrefix(mt, "multipart/")
	}
	switch {
	case bytes.HasPrefix(b, []byte("\xef\xbb\xbf")), bytes.HasPrefix(b, []byte("\xfe\xff")), bytes.HasPrefix(b, []byte("\xff\xfe")):
		return true // byte order marks; UTF-32's start with a NUL or with UTF-16LE's
	case bytes.IndexByte(b[:min(4, len(b))], 0) >= 0:
		return true
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		return true
	}
	return (multipart || isText(b, cut)) && bytes.ContainsAny(b, "{[")
}

// isText reports whether b is UTF-8, but for a rune cut short at the end of
// a cut body.
func isText(b []byte, cut bool) bool {
	if cut {
		for i := 1; i < utf8.UTFMax && i <= len(b); i++ {
			if utf8.RuneStart(b[len(b)-i]) {
				if !utf8.FullRune(b[len(b)-i:]) {
					b = b[:len(b)-i]
				}
				break
			}
		}
	}
	return utf8.Valid(b)
}

// encoded reports whether a Content-Encoding value names a coding other
// than identity: the body's bytes are not what the paths are about.
func encoded(hs []Header) bool {
	for _, v := range values(hs, "Content-Encoding") {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				return true
			}
		}
	}
	return false
}

// values returns the values of every header named name.
func values(hs []Header, name string) []string {
	var vs []string
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			vs = append(vs, h.Value)
		}
	}
	return vs
}
