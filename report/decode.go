package report

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
)

// maxDepth bounds the nesting of a decoded body: a hostile body must not
// exhaust the stack. Deeper bodies are compared byte for byte.
const maxDepth = 512

var errNotJSON = errors.New("not JSON")

// decodeJSON decodes a JSON document into map[string]any, []any, string,
// bool, nil, int64 (integer literals that fit) and float64 (every other
// number). Unlike encoding/json it accepts the bare NaN, Infinity and
// -Infinity tokens that TF Serving and Python's json module emit, and it
// keeps integer literals apart from decimals so that labels can be told from
// scores.
func decodeJSON(b []byte) (any, error) {
	var d decoder
	return d.decode(b)
}

// decoder decodes one document at a time; reusing one (a Builder decodes
// two or three bodies per row) saves most of the allocations.
type decoder struct {
	b []byte
	i int
	// stack holds the elements of the arrays being decoded, so that each
	// array is allocated once, at its final length.
	stack []any
	// strs interns short strings (object keys, labels, a model version):
	// model outputs repeat the same few, and a shared string costs nothing.
	// Nil in a one-off decoder.
	strs map[string]any
}

// Interning bounds: a body full of distinct strings must not grow the table
// without limit; past it, strings are simply allocated.
const (
	maxInterned   = 4096
	maxInternSize = 32
)

func newDecoder() decoder {
	return decoder{strs: map[string]any{}}
}

// decode decodes b. The returned tree shares nothing mutable with d.
func (d *decoder) decode(b []byte) (any, error) {
	d.b, d.i, d.stack = b, 0, d.stack[:0]
	v, err := d.document()
	if err != nil {
		clear(d.stack[:cap(d.stack)]) // what the error left behind
	}
	d.b = nil
	return v, err
}

func (d *decoder) document() (any, error) {
	d.space()
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	d.space()
	if d.i != len(d.b) {
		return nil, errNotJSON
	}
	return v, nil
}

func (d *decoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) literal(s string) bool {
	if len(d.b)-d.i >= len(s) && string(d.b[d.i:d.i+len(s)]) == s {
		d.i += len(s)
		return true
	}
	return false
}

func (d *decoder) value(depth int) (any, error) {
	if depth > maxDepth || d.i >= len(d.b) {
		return nil, errNotJSON
	}
	switch c := d.b[d.i]; {
	case c == '{':
		return d.object(depth)
	case c == '[':
		return d.array(depth)
	case c == '"':
		return d.strValue()
	case d.literal("true"):
		return true, nil
	case d.literal("false"):
		return false, nil
	case d.literal("null"):
		return nil, nil
	case d.literal("NaN"):
		return math.NaN(), nil
	case d.literal("Infinity"), d.literal("+Infinity"):
		return math.Inf(1), nil
	case d.literal("-Infinity"):
		return math.Inf(-1), nil
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	}
	return nil, errNotJSON
}

func (d *decoder) object(depth int) (any, error) {
	d.i++ // {
	m := map[string]any{}
	d.space()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return m, nil
	}
	for {
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, errNotJSON
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, errNotJSON
		}
		d.i++
		d.space()
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		m[k] = v
		d.space()
		if d.i >= len(d.b) {
			return nil, errNotJSON
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			return m, nil
		default:
			return nil, errNotJSON
		}
	}
}

func (d *decoder) array(depth int) (any, error) {
	d.i++ // [
	d.space()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return []any{}, nil
	}
	base := len(d.stack)
	for {
		d.space()
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		d.stack = append(d.stack, v)
		d.space()
		if d.i >= len(d.b) {
			return nil, errNotJSON
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case ']':
			d.i++
			a := make([]any, len(d.stack)-base)
			copy(a, d.stack[base:])
			clear(d.stack[base:])
			d.stack = d.stack[:base]
			return a, nil
		default:
			return nil, errNotJSON
		}
	}
}

// str is a string token as an object key.
func (d *decoder) str() (string, error) {
	raw, escaped, err := d.scanString()
	if err != nil {
		return "", err
	}
	if escaped {
		return unescape(raw)
	}
	if v, ok := d.strs[string(raw)]; ok {
		return v.(string), nil
	}
	s := string(raw)
	d.intern(s)
	return s, nil
}

// strValue is a string token as a value: interned ones are shared as they
// are, already boxed.
func (d *decoder) strValue() (any, error) {
	raw, escaped, err := d.scanString()
	if err != nil {
		return nil, err
	}
	if escaped {
		return unescape(raw)
	}
	if v, ok := d.strs[string(raw)]; ok {
		return v, nil
	}
	return d.intern(string(raw)), nil
}

// intern boxes s and keeps it for the next bodies, while the table has room.
func (d *decoder) intern(s string) any {
	var v any = s
	if d.strs != nil && len(d.strs) < maxInterned && len(s) <= maxInternSize {
		d.strs[s] = v
	}
	return v
}

// scanString moves past a string token and returns its contents or, when it
// holds escapes, the whole quoted token for unescape.
func (d *decoder) scanString() (raw []byte, escaped bool, err error) {
	start := d.i
	d.i++ // opening quote
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '\\':
			escaped = true
			d.i += 2
			continue
		case c == '"':
			d.i++
			if !escaped {
				return d.b[start+1 : d.i-1], false, nil
			}
			return d.b[start:d.i], true, nil
		case c < 0x20:
			return nil, false, errNotJSON
		}
		d.i++
	}
	return nil, false, errNotJSON
}

// unescape decodes a quoted string token with escapes. They are rare in
// model outputs: let encoding/json get them exactly right (\uXXXX surrogate
// pairs and all).
func unescape(quoted []byte) (string, error) {
	var s string
	if err := json.Unmarshal(quoted, &s); err != nil {
		return "", errNotJSON
	}
	return s, nil
}

func (d *decoder) number() (any, error) {
	start := d.i
	integer := true
	if d.b[d.i] == '-' {
		d.i++
	}
	for d.i < len(d.b) {
		c := d.b[d.i]
		if c >= '0' && c <= '9' {
			d.i++
			continue
		}
		if c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-' {
			integer = false
			d.i++
			continue
		}
		break
	}
	s := string(d.b[start:d.i])
	if integer {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return f, nil // ±Inf or 0: still a number
		}
		return nil, errNotJSON
	}
	return f, nil
}
