// Selectors: how a row yields a value for a slice (--by) or a label key,
// from a results column, a recorded request header or a field of the
// request body.

package report

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/theory/jsonpath"

	"github.com/shadowctl/shadowctl/replay"
)

// missingGroup is the group of the rows (or instances) without a value.
const missingGroup = "(missing)"

type selectorKind int

const (
	selColumn selectorKind = iota
	selID
	selHeader
	selRequest
)

// selector yields one value per row, or one per instance when a request
// path selects several nodes (a wildcard over a batch).
type selector struct {
	text   string
	kind   selectorKind
	column string
	header string
	path   *jsonpath.Path
	// members: the path is plain member names, found by scanning.
	members []string
	// perInstance: the path may select several nodes, one per instance.
	perInstance bool
}

// parseSelector parses COLUMN, header:NAME or request:JSONPATH; column
// names are allowed when columns is set, and "id" when id is.
func parseSelector(s string, columns, id bool) (selector, error) {
	sel := selector{text: s}
	switch {
	case strings.HasPrefix(s, "header:"):
		sel.kind, sel.header = selHeader, strings.TrimPrefix(s, "header:")
		if sel.header == "" {
			return sel, errors.New("header: needs a header name")
		}
		return sel, nil
	case strings.HasPrefix(s, "request:"):
		p, err := jsonpath.Parse(strings.TrimPrefix(s, "request:"))
		if err != nil {
			return sel, err
		}
		sel.kind, sel.path = selRequest, p
		sel.perInstance = p.Query().Singular() == nil
		sel.members, _ = memberNames(strings.TrimPrefix(s, "request:"))
		return sel, nil
	case id && s == "id":
		sel.kind = selID
		return sel, nil
	case columns:
		for _, c := range ByColumns {
			if c == s {
				sel.column = s
				return sel, nil
			}
		}
	}
	if !columns {
		return sel, errors.New("want id, header:NAME or request:JSONPATH")
	}
	return sel, fmt.Errorf("%w, header:NAME or request:JSONPATH", ErrUnknownColumn)
}

// rowRequest decodes a row's request body once, for the selectors that
// read it.
type rowRequest struct {
	r       *replay.Result
	dec     *decoder
	decoded bool
	doc     any
	ok      bool
}

func (q *rowRequest) body() (any, bool) {
	if !q.decoded {
		q.decoded = true
		q.doc, _ = q.dec.decode(q.r.RequestBody)
		q.ok = q.doc != nil
	}
	return q.doc, q.ok
}

// values appends the selector's values for the row to out: one, or one per
// instance for a path selecting several nodes.
func (s *selector) values(q *rowRequest, out []string) []string {
	r := q.r
	switch s.kind {
	case selID:
		return append(out, r.ID)
	case selHeader:
		if v, ok := r.Header(s.header); ok {
			return append(out, v)
		}
		return append(out, missingGroup)
	case selRequest:
		if s.members != nil {
			return s.member(q, out)
		}
		doc, ok := q.body()
		if !ok {
			return append(out, missingGroup)
		}
		nodes := s.path.Select(doc)
		if !s.perInstance {
			if len(nodes) == 0 || nodes[0] == nil {
				return append(out, missingGroup)
			}
			return append(out, valueText(nodes[0]))
		}
		if len(nodes) == 0 {
			return append(out, missingGroup)
		}
		for _, n := range nodes {
			if n == nil {
				out = append(out, missingGroup)
				continue
			}
			out = append(out, valueText(n))
		}
		return out
	}
	return append(out, columnValue(r, s.column))
}

// member is values for a path of plain members: found by scanning the
// body, and only that value decoded.
func (s *selector) member(q *rowRequest, out []string) []string {
	raw, ok := findMember(q.r.RequestBody, s.members)
	if !ok || string(raw) == "null" {
		return append(out, missingGroup)
	}
	if raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return append(out, string(raw[1:len(raw)-1]))
	}
	v, err := q.dec.decode(raw)
	if err != nil {
		return append(out, missingGroup)
	}
	return append(out, valueText(v))
}

// valueText is a decoded JSON value as a group name or a key.
func valueText(v any) string {
	switch x := v.(type) {
	case string, bool, int64:
		return labelOf(x)
	case float64:
		return formatFloat(x)
	}
	return compactFull(v)
}

func (s *selector) String() string { return s.text }
