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
	d := decoder{b: b}
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

type decoder struct {
	b []byte
	i int
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
		return d.str()
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
	a := []any{}
	d.space()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return a, nil
	}
	for {
		d.space()
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		d.space()
		if d.i >= len(d.b) {
			return nil, errNotJSON
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case ']':
			d.i++
			return a, nil
		default:
			return nil, errNotJSON
		}
	}
}

func (d *decoder) str() (string, error) {
	start := d.i
	d.i++ // opening quote
	escaped := false
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
				return string(d.b[start+1 : d.i-1]), nil
			}
			// Escapes are rare in model outputs: let encoding/json get
			// them exactly right (\uXXXX surrogate pairs and all).
			var s string
			if err := json.Unmarshal(d.b[start:d.i], &s); err != nil {
				return "", errNotJSON
			}
			return s, nil
		case c < 0x20:
			return "", errNotJSON
		}
		d.i++
	}
	return "", errNotJSON
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
