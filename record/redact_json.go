package record

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonNode is one value of a parsed body. Objects keep their members in
// order with repeated keys, which map[string]any cannot: a path must reach
// every occurrence, since parsers differ on which one they keep.
type jsonNode struct {
	kind    byte   // '{', '[', '"', or 'v' for a number, true, false, null
	text    string // a string's decoded value, or the literal as written
	members []jsonMember
	elems   []*jsonNode

	// For the path walk: the value as filters see it, and marks that keep
	// a node from being visited or picked twice in one segment.
	value          any
	converted      bool
	walked, picked uint64
}

type jsonMember struct {
	key string
	val *jsonNode
}

// jsonDoc is a body that parsed as plain JSON.
type jsonDoc struct {
	root *jsonNode
	dups bool   // some object repeats a key
	gen  uint64 // marks for the path walk
}

// maxJSONDepth is encoding/json's nesting limit; deeper bodies do not parse.
const maxJSONDepth = 10000

// parseJSON parses b if it is exactly one RFC 8259 value in valid UTF-8 with
// only JSON whitespace around it. It also refuses what decoders read
// differently: escapes that are not Unicode scalars (lone surrogates, which
// encoding/json turns into U+FFFD and Python keeps) and keys holding U+0000
// (where C parsers end a key).
func parseJSON(b []byte) (*jsonDoc, error) {
	p := &jsonParser{b: b}
	root, err := p.value()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(b) {
		return nil, p.fail("data after the value")
	}
	return &jsonDoc{root: root, dups: p.dups}, nil
}

type jsonParser struct {
	b     []byte
	i     int
	depth int
	dups  bool
}

func (p *jsonParser) fail(what string) error {
	return fmt.Errorf("JSON at byte %d: %s", p.i, what)
}

func (p *jsonParser) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

// consume skips c if it is next.
func (p *jsonParser) consume(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *jsonParser) value() (*jsonNode, error) {
	p.space()
	if p.i == len(p.b) {
		return nil, p.fail("unexpected end")
	}
	switch c := p.b[p.i]; {
	case c == '{' || c == '[':
		if p.depth++; p.depth > maxJSONDepth {
			return nil, p.fail("nested too deep")
		}
		defer func() { p.depth-- }()
		if c == '{' {
			return p.object()
		}
		return p.array()
	case c == '"':
		s, err := p.string()
		if err != nil {
			return nil, err
		}
		return &jsonNode{kind: '"', text: s}, nil
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	}
	for _, lit := range []string{"true", "false", "null"} {
		if bytes.HasPrefix(p.b[p.i:], []byte(lit)) {
			p.i += len(lit)
			return &jsonNode{kind: 'v', text: lit}, nil
		}
	}
	return nil, p.fail("not a JSON value")
}

func (p *jsonParser) object() (*jsonNode, error) {
	p.i++ // '{'
	n := &jsonNode{kind: '{'}
	if p.space(); p.consume('}') {
		return n, nil
	}
	for {
		if p.space(); p.i == len(p.b) || p.b[p.i] != '"' {
			return nil, p.fail("want a key")
		}
		k, err := p.string()
		if err != nil {
			return nil, err
		}
		if strings.IndexByte(k, 0) >= 0 {
			return nil, p.fail("NUL in a key")
		}
		if p.space(); !p.consume(':') {
			return nil, p.fail("want ':'")
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		n.members = append(n.members, jsonMember{k, v})
		if p.space(); p.consume('}') {
			break
		}
		if !p.consume(',') {
			return nil, p.fail("want ',' or '}'")
		}
	}
	p.dups = p.dups || repeatsKey(n.members)
	return n, nil
}

func repeatsKey(ms []jsonMember) bool {
	if len(ms) <= 16 {
		for i := range ms {
			for j := range i {
				if ms[i].key == ms[j].key {
					return true
				}
			}
		}
		return false
	}
	seen := make(map[string]bool, len(ms))
	for _, m := range ms {
		if seen[m.key] {
			return true
		}
		seen[m.key] = true
	}
	return false
}

func (p *jsonParser) array() (*jsonNode, error) {
	p.i++ // '['
	n := &jsonNode{kind: '['}
	if p.space(); p.consume(']') {
		return n, nil
	}
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		n.elems = append(n.elems, v)
		if p.space(); p.consume(']') {
			return n, nil
		}
		if !p.consume(',') {
			return nil, p.fail("want ',' or ']'")
		}
	}
}

// string decodes the string starting at p.i.
func (p *jsonParser) string() (string, error) {
	p.i++ // '"'
	var out []byte
	escaped := false
	run := p.i
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			s := p.b[run:p.i]
			p.i++
			if !escaped {
				return string(s), nil
			}
			return string(append(out, s...)), nil
		case c == '\\':
			out = append(out, p.b[run:p.i]...)
			r, err := p.escape()
			if err != nil {
				return "", err
			}
			out, escaped, run = utf8.AppendRune(out, r), true, p.i
		case c < 0x20:
			return "", p.fail("control byte in a string")
		case c < utf8.RuneSelf:
			p.i++
		default:
			r, size := utf8.DecodeRune(p.b[p.i:])
			if r == utf8.RuneError && size == 1 {
				return "", p.fail("not UTF-8")
			}
			p.i += size
		}
	}
	return "", p.fail("unterminated string")
}

// escape decodes the escape at p.i, a surrogate pair as one rune.
func (p *jsonParser) escape() (rune, error) {
	if p.i+1 >= len(p.b) {
		return 0, p.fail("unterminated string")
	}
	c := p.b[p.i+1]
	p.i += 2
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, ok := p.hex4()
		switch {
		case !ok:
			return 0, p.fail(`bad \u escape`)
		case !utf16.IsSurrogate(r):
			return r, nil
		case r < 0xdc00 && p.consume('\\') && p.consume('u'):
			if lo, ok := p.hex4(); ok && 0xdc00 <= lo && lo <= 0xdfff {
				return utf16.DecodeRune(r, lo), nil
			}
		}
		return 0, p.fail("lone surrogate")
	}
	return 0, p.fail("bad escape")
}

func (p *jsonParser) hex4() (rune, bool) {
	if p.i+4 > len(p.b) {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}

// number keeps a number as written: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *jsonParser) number() (*jsonNode, error) {
	start := p.i
	p.consume('-')
	if !p.consume('0') && p.digits() == 0 {
		return nil, p.fail("bad number")
	}
	if p.consume('.') && p.digits() == 0 {
		return nil, p.fail("bad number")
	}
	if p.consume('e') || p.consume('E') {
		if !p.consume('+') {
			p.consume('-')
		}
		if p.digits() == 0 {
			return nil, p.fail("bad number")
		}
	}
	return &jsonNode{kind: 'v', text: string(p.b[start:p.i])}, nil
}

func (p *jsonParser) digits() int {
	start := p.i
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i - start
}

// encode writes n compactly, object keys sorted (repeated keys kept in
// their order), numbers as written, HTML characters unescaped.
func (n *jsonNode) encode(buf *bytes.Buffer, e *json.Encoder) error {
	switch n.kind {
	case '{':
		slices.SortStableFunc(n.members, func(a, b jsonMember) int { return strings.Compare(a.key, b.key) })
		buf.WriteByte('{')
		for i, m := range n.members {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := encodeString(buf, e, m.key); err != nil {
				return err
			}
			buf.WriteByte(':')
			if err := m.val.encode(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case '[':
		buf.WriteByte('[')
		for i, v := range n.elems {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := v.encode(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case '"':
		return encodeString(buf, e, n.text)
	default:
		buf.WriteString(n.text)
	}
	return nil
}

// encodeString writes s as encoding/json does; e writes to buf.
func encodeString(buf *bytes.Buffer, e *json.Encoder, s string) error {
	if err := e.Encode(s); err != nil {
		return fmt.Errorf("encode a JSON string: %w", err)
	}
	buf.Truncate(buf.Len() - 1) // Encode's newline
	return nil
}
