package record

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/theory/jsonpath"
	"github.com/theory/jsonpath/spec"
)

// JSONRedactor masks fields inside JSON request and response bodies before
// they are stored (personal data the model needs but the recording must not
// keep). It runs on the sink's writer goroutine, never on the proxied
// request's path.
//
// What is stored, per body:
//   - a JSON body where no path matches: unchanged, byte for byte;
//   - a JSON body where paths match: every selected value replaced by the
//     string Redacted, re-encoded compactly (object keys sorted, numbers kept
//     as written);
//   - a body that does not look like JSON (first non-space byte not '{' or
//     '['), with no Content-Encoding: unchanged;
//   - a body that cannot be inspected — cut at --max-body, compressed
//     (Content-Encoding other than identity), or starting like JSON but not
//     parsing: dropped (stored empty) and flagged truncated, since any part
//     of it may hold a masked field. The size column keeps the real size.
type JSONRedactor struct {
	paths []*jsonpath.Path
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

// body returns what to store of b, and whether it is flagged truncated.
func (r *JSONRedactor) body(b []byte, truncated bool, hs []Header) ([]byte, bool) {
	if len(b) == 0 {
		return b, truncated
	}
	if enc := header(hs, "Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return nil, true
	}
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 || (t[0] != '{' && t[0] != '[') {
		return b, truncated
	}
	if truncated {
		return nil, true
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil || d.More() {
		return nil, true
	}
	changed := false
	for _, p := range r.paths {
		for _, n := range p.SelectLocated(v) {
			if len(n.Path) == 0 {
				v, changed = Redacted, true // "$": the whole body
				continue
			}
			changed = maskAt(v, n.Path) || changed
		}
	}
	if !changed {
		return b, false
	}
	var out bytes.Buffer
	e := json.NewEncoder(&out)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, true
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), false
}

// maskAt replaces the value at path inside v with Redacted.
func maskAt(v any, path spec.NormalizedPath) bool {
	for i, sel := range path {
		last := i == len(path)-1
		switch s := sel.(type) {
		case spec.Name:
			m, ok := v.(map[string]any)
			if !ok {
				return false
			}
			if _, ok := m[string(s)]; !ok {
				return false
			}
			if last {
				m[string(s)] = Redacted
				return true
			}
			v = m[string(s)]
		case spec.Index:
			a, ok := v.([]any)
			if !ok || int(s) < 0 || int(s) >= len(a) {
				return false
			}
			if last {
				a[s] = Redacted
				return true
			}
			v = a[s]
		default:
			return false
		}
	}
	return false
}

func header(hs []Header, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}
