package record

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/theory/jsonpath"
	"github.com/theory/jsonpath/spec"
)

// redactCase is one body through a JSONRedactor: what is stored of it, and
// whether it is flagged truncated. The same body goes in as the request and
// as the response.
type redactCase struct {
	name      string
	body      string
	truncated bool
	headers   []Header
	want      string
	wantCut   bool
}

func checkRedactor(t *testing.T, r *JSONRedactor, cases []redactCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := &Exchange{RequestBody: []byte(tc.body), RequestBodyTruncated: tc.truncated, RequestHeaders: tc.headers,
				ResponseBody: []byte(tc.body), ResponseBodyTruncated: tc.truncated, ResponseHeaders: tc.headers}
			r.Apply(x)
			if string(x.RequestBody) != tc.want || x.RequestBodyTruncated != tc.wantCut {
				t.Errorf("request: %q cut %v, want %q cut %v", x.RequestBody, x.RequestBodyTruncated, tc.want, tc.wantCut)
			}
			if string(x.ResponseBody) != tc.want || x.ResponseBodyTruncated != tc.wantCut {
				t.Errorf("response: %q cut %v, want %q cut %v", x.ResponseBody, x.ResponseBodyTruncated, tc.want, tc.wantCut)
			}
		})
	}
}

func newTestRedactor(t testing.TB, paths ...string) *JSONRedactor {
	t.Helper()
	r, err := NewJSONRedactor(paths)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var (
	jsonCT = []Header{{Name: "Content-Type", Value: "application/json"}}
	textCT = []Header{{Name: "Content-Type", Value: "text/plain; charset=utf-8"}}
)

func TestJSONRedactor(t *testing.T) {
	r := newTestRedactor(t, "$.user.email", "$.instances[*].ssn")
	checkRedactor(t, r, []redactCase{
		{"masked", `{"user":{"email":"a@b.c","id":7},"x":1.50}`, false, jsonCT,
			`{"user":{"email":"REDACTED","id":7},"x":1.50}`, false},
		{"every instance", ` {"instances":[{"ssn":"1","f":[1,2]},{"ssn":2},{"f":3}]}`, false, jsonCT,
			`{"instances":[{"f":[1,2],"ssn":"REDACTED"},{"ssn":"REDACTED"},{"f":3}]}`, false},
		{"no match: byte for byte", "{ \"user\" : {\"id\":7} }\n", false, jsonCT, "{ \"user\" : {\"id\":7} }\n", false},
		{"html kept", `{"user":{"email":"<x>&"},"h":"<b>"}`, false, nil, `{"h":"<b>","user":{"email":"REDACTED"}}`, false},
		{"not JSON", "email=a@b.c", false, nil, "email=a@b.c", false},
		{"not JSON, cut", "email=a@b.c", true, nil, "email=a@b.c", true},
		{"cut JSON is dropped", `{"user":{"email":"a@b`, true, jsonCT, "", true},
		{"broken JSON is dropped", `{"user":{"email":"a@b.c"}`, false, jsonCT, "", true},
		{"two documents are dropped", `{"a":1} {"user":{"email":"x"}}`, false, jsonCT, "", true},
		{"compressed is dropped", "\x1f\x8b\x08", false, []Header{{Name: "Content-Encoding", Value: "gzip"}}, "", true},
		{"identity encoding", `{"user":{"email":"e"}}`, false, []Header{{Name: "content-encoding", Value: "identity"}},
			`{"user":{"email":"REDACTED"}}`, false},
		{"empty", "", false, nil, "", false},
		{"empty, JSON type", "", false, jsonCT, "", false},
	})
	whole, _ := NewJSONRedactor([]string{"$"})
	x := &Exchange{RequestBody: []byte(`[1,2]`)}
	whole.Apply(x)
	if string(x.RequestBody) != `"REDACTED"` {
		t.Errorf("$ masks the whole body: got %q", x.RequestBody)
	}
	if _, err := NewJSONRedactor([]string{"$.a["}); err == nil || !strings.Contains(err.Error(), `JSONPath "$.a["`) {
		t.Errorf("bad path: %v", err)
	}
	if r, err := NewJSONRedactor(nil); r != nil || err != nil {
		t.Errorf("no paths: %v %v", r, err)
	}
}

// utf16Of encodes s as UTF-16, little or big endian, with or without a BOM.
func utf16Of(s string, big, bom bool) string {
	order := binary.AppendByteOrder(binary.LittleEndian)
	if big {
		order = binary.BigEndian
	}
	units := utf16.Encode([]rune(s))
	if bom {
		units = append([]uint16{0xfeff}, units...)
	}
	var b []byte
	for _, u := range units {
		b = order.AppendUint16(b, u)
	}
	return string(b)
}

// utf32Of encodes s as UTF-32, little or big endian, with or without a BOM.
func utf32Of(s string, big, bom bool) string {
	order := binary.AppendByteOrder(binary.LittleEndian)
	if big {
		order = binary.BigEndian
	}
	var b []byte
	if bom {
		b = order.AppendUint32(b, 0xfeff)
	}
	for _, c := range s {
		b = order.AppendUint32(b, uint32(c))
	}
	return string(b)
}

// TestJSONRedactorEncodings: a body that is JSON to a parser that skips a
// BOM, detects UTF-16/32 or decodes bad UTF-8 leniently is dropped and
// flagged, never stored as it came.
func TestJSONRedactorEncodings(t *testing.T) {
	r := newTestRedactor(t, "$.user.email")
	const doc = `{"user":{"email":"x@y"}}`
	var cases []redactCase
	for _, bom := range []bool{false, true} {
		for _, big := range []bool{false, true} {
			name := map[bool]string{false: "LE", true: "BE"}[big] + map[bool]string{false: "", true: " with BOM"}[bom]
			cases = append(cases,
				redactCase{"UTF-16" + name, utf16Of(doc, big, bom), false, jsonCT, "", true},
				redactCase{"UTF-32" + name, utf32Of(doc, big, bom), false, nil, "", true})
		}
	}
	cases = append(cases, []redactCase{
		{"UTF-8 BOM", "\xef\xbb\xbf" + doc, false, jsonCT, "", true},
		{"UTF-8 BOM, no type", "\xef\xbb\xbf" + doc, false, nil, "", true},
		{"UTF-8 BOM, no field", "\xef\xbb\xbf{\"a\":1}", false, jsonCT, "", true},
		{"UTF-16LE after a space", utf16Of(" "+doc, false, false), false, nil, "", true},
		{"UTF-16BE, one digit", utf16Of("1", true, false), false, nil, "", true},
		{"invalid UTF-8 in a value", "{\"user\":{\"email\":\"x@y\"},\"n\":\"\xff\"}", false, jsonCT, "", true},
		{"invalid UTF-8 in a key", "{\"user\":{\"email\xff\":\"x@y\"}}", false, jsonCT, "", true},
		{"overlong UTF-8 spelling the key", "{\"user\":{\"\xc1\xa5mail\":\"x@y\"}}", false, jsonCT, "", true},
		{"encoded surrogate", "{\"user\":{\"email\xed\xa0\x80\":\"x@y\"}}", false, jsonCT, "", true},
		{"lone surrogate escape in a key", `{"user":{"email\ud800":"x@y"}}`, false, jsonCT, "", true},
		{"low surrogate escape first", `{"user":{"email":"x@y"},"n":"\udc00\ud800"}`, false, jsonCT, "", true},
		{"NUL in a key", `{"user":{"email\u0000":"x@y"}}`, false, jsonCT, "", true},
		{"surrogate pair kept", `{"user":{"email":"\ud83d\ude00"},"k":"\ud83d\ude00\u0000"}`, false, jsonCT,
			`{"k":"😀\u0000","user":{"email":"REDACTED"}}`, false},
		{"valid UTF-8 kept", `{"user":{"email":"é"},"k":"é"}`, false, jsonCT, `{"k":"é","user":{"email":"REDACTED"}}`, false},
	}...)
	checkRedactor(t, r, cases)
}

// TestJSONRedactorDuplicateKeys: a parser keeps the first, the last or any
// occurrence of a repeated key, so every occurrence a path reaches is
// masked.
func TestJSONRedactorDuplicateKeys(t *testing.T) {
	r := newTestRedactor(t, "$.user.email", "$.instances[*].ssn")
	checkRedactor(t, r, []redactCase{
		{"the field in the first of two", `{"user":{"email":"x@y"},"user":{"name":"n"}}`, false, jsonCT,
			`{"user":{"email":"REDACTED"},"user":{"name":"n"}}`, false},
		{"top level, both hold it", `{"user":{"email":"a"},"x":1,"user":{"email":"b"}}`, false, jsonCT,
			`{"user":{"email":"REDACTED"},"user":{"email":"REDACTED"},"x":1}`, false},
		{"nested", `{"user":{"email":"a","id":1,"email":"b"}}`, false, jsonCT,
			`{"user":{"email":"REDACTED","email":"REDACTED","id":1}}`, false},
		{"inside arrays", `{"instances":[{"ssn":"1","ssn":"2"},{"ssn":"3"}],"instances":[{"ssn":"4","x":[{"a":1,"a":2}]}]}`, false, jsonCT,
			`{"instances":[{"ssn":"REDACTED","ssn":"REDACTED"},{"ssn":"REDACTED"}],"instances":[{"ssn":"REDACTED","x":[{"a":1,"a":2}]}]}`, false},
		{"spelled with an escape", `{"user":{"email":"a"},"\u0075ser":{"name":"n"}}`, false, jsonCT,
			`{"user":{"email":"REDACTED"},"user":{"name":"n"}}`, false},
		{"no match: byte for byte", `{"a":1, "a":{"b":2,"b":3}}`, false, jsonCT, `{"a":1, "a":{"b":2,"b":3}}`, false},
	})
	filter := newTestRedactor(t, `$.instances[?@.kind=="pii"].v`)
	checkRedactor(t, filter, []redactCase{
		{"filter, duplicate keys: dropped", `{"instances":[{"kind":"pii","kind":"ok","v":"x"}]}`, false, jsonCT, "", true},
		{"filter, no duplicates", `{"instances":[{"kind":"pii","v":"x"},{"kind":"ok","v":"y"}]}`, false, jsonCT,
			`{"instances":[{"kind":"pii","v":"REDACTED"},{"kind":"ok","v":"y"}]}`, false},
	})
}

// TestJSONRedactorEscapedKeys: a key is matched as decoded, however it is
// spelled.
func TestJSONRedactorEscapedKeys(t *testing.T) {
	r := newTestRedactor(t, "$.user.email")
	checkRedactor(t, r, []redactCase{
		{"escaped letter", `{"user":{"em\u0061il":"x@y"}}`, false, jsonCT, `{"user":{"email":"REDACTED"}}`, false},
		{"every letter escaped", `{"\u0075\u0073\u0065\u0072":{"\u0065\u006D\u0061\u0069\u006C":"x@y"}}`, false, jsonCT,
			`{"user":{"email":"REDACTED"}}`, false},
		{"escaped solidus elsewhere", `{"user":{"email":"x@y"},"u":"a\/b"}`, false, jsonCT,
			`{"u":"a/b","user":{"email":"REDACTED"}}`, false},
	})
}

// TestJSONRedactorShapes: scalars, top-level arrays, numbers and trailing
// bytes.
func TestJSONRedactorShapes(t *testing.T) {
	r := newTestRedactor(t, "$.user.email")
	checkRedactor(t, r, []redactCase{
		{"number", `42`, false, jsonCT, `42`, false},
		{"string", `"x@y"`, false, jsonCT, `"x@y"`, false},
		{"top-level array", `[{"user":{"email":"x@y"}}]`, false, jsonCT, `[{"user":{"email":"x@y"}}]`, false},
		{"numbers kept as written", `{"user":{"email":1E+2,"n":-0.0e-0},"big":123456789012345678901234567890}`, false, jsonCT,
			`{"big":123456789012345678901234567890,"user":{"email":"REDACTED","n":-0.0e-0}}`, false},
		{"leading zero", `{"user":{"email":"x@y"},"n":01}`, false, jsonCT, "", true},
		{"bare point", `{"user":{"email":"x@y"},"n":1.}`, false, jsonCT, "", true},
		{"trailing whitespace", "{\"a\":1} \r\n\t", false, jsonCT, "{\"a\":1} \r\n\t", false},
		{"trailing brace", `{"user":{"id":1}}}`, false, jsonCT, "", true},
		{"trailing bracket, then a document", `{"a":1}]{"user":{"email":"x@y"}}`, false, jsonCT, "", true},
		{"trailing word", `{"user":{"id":1}} x`, false, jsonCT, "", true},
		{"trailing NUL", "{\"user\":{\"email\":\"x@y\"}}\x00", false, nil, "", true},
		{"nested too deep", strings.Repeat("[", 100001) + strings.Repeat("]", 100001), false, nil, "", true},
	})
	whole := newTestRedactor(t, "$")
	checkRedactor(t, whole, []redactCase{
		{"$ masks a string body", `"x@y"`, false, jsonCT, `"REDACTED"`, false},
		{"$ masks a number body", ` 42 `, false, nil, `"REDACTED"`, false},
	})
}

// TestJSONRedactorNotJSON: a body no JSON parser would read is kept; one
// that says it is JSON, or holds an object or array further in, is dropped
// and flagged.
func TestJSONRedactorNotJSON(t *testing.T) {
	r := newTestRedactor(t, "$.user.email")
	formCT := []Header{{Name: "Content-Type", Value: "application/x-www-form-urlencoded"}}
	const doc = `{"user":{"email":"x@y"}}`
	checkRedactor(t, r, []redactCase{
		{"plain text", "hello world", false, textCT, "hello world", false},
		{"plain text, no type", "hello (world)", false, nil, "hello (world)", false},
		{"form", "email=a%40b.c&name=n", false, formCT, "email=a%40b.c&name=n", false},
		{"binary", "\x89PNG\r\n\x1a\n{[\xff", false, []Header{{Name: "Content-Type", Value: "image/png"}}, "\x89PNG\r\n\x1a\n{[\xff", false},
		{"JSON type, form body", "email=a@b.c", false, jsonCT, "", true},
		{"JSON type, cut text", "email=a@b.c", true, jsonCT, "", true},
		{"+json type, text body", "not json", false, []Header{{Name: "content-type", Value: "Application/Problem+JSON; charset=utf-8"}}, "", true},
		{"NDJSON", doc + "\n" + doc + "\n", false, []Header{{Name: "Content-Type", Value: "application/x-ndjson"}}, "", true},
		{"second Content-Type says JSON", "email=a@b.c", false, append(textCT[:1:1], jsonCT...), "", true},
		{"event stream", "data: " + doc + "\n\n", false, []Header{{Name: "Content-Type", Value: "text/event-stream"}}, "", true},
		{"XSSI prefix", ")]}'\n" + doc, false, nil, "", true},
		{"JSONP", "cb(" + doc + ")", false, nil, "", true},
		{"vertical tab first", "\v" + doc, false, nil, "", true},
		{"no-break space first", "\u00a0" + doc, false, nil, "", true},
		{"comment first", "// c\n" + doc, false, nil, "", true},
		{"JSON5", "{user:{email:'x@y'}}", false, nil, "", true},
		{"text with a bracket", "see [1]", false, textCT, "", true},
		{"text with a brace, cut", "note {\"email\":\"x", true, textCT, "", true},
		{"text cut inside a rune", "caf\xc3", true, textCT, "caf\xc3", true},
		{"binary starting like JSON", "{\xff\xfe", false, nil, "", true},
		{"multipart with a JSON part", "--b\r\nContent-Type: image/png\r\n\r\n\x89PNG\xff\r\n--b\r\nContent-Type: application/json\r\n\r\n" + doc + "\r\n--b--\r\n",
			false, []Header{{Name: "Content-Type", Value: "multipart/form-data; boundary=b"}}, "", true},
		{"NUL in the first 4 bytes", "\x00\x00\x00\x00\x05hello", false, []Header{{Name: "Content-Type", Value: "application/grpc-web"}}, "", true},
		{"compressed, second Content-Encoding", "\x1f\x8b\x08\x00", false,
			[]Header{{Name: "Content-Encoding", Value: "identity"}, {Name: "Content-Encoding", Value: "gzip"}}, "", true},
		{"compressed, list", "\x1f\x8b\x08\x00", false, []Header{{Name: "Content-Encoding", Value: "identity, br"}}, "", true},
	})
}

// TestJSONRedactorSelectsBeforeMasking: every path selects on the body as
// it came, so masking for one path never hides a match from another.
func TestJSONRedactorSelectsBeforeMasking(t *testing.T) {
	r := newTestRedactor(t, "$.users[*].kind", `$.users[?@.kind=="admin"].email`)
	checkRedactor(t, r, []redactCase{
		{"filter sees the value before it is masked", `{"users":[{"kind":"admin","email":"x@y"},{"kind":"user","email":"u"}]}`, false, jsonCT,
			`{"users":[{"email":"REDACTED","kind":"REDACTED"},{"email":"u","kind":"REDACTED"}]}`, false},
	})
}

// TestJSONRedactorMatchesJSONPath: on bodies without repeated keys, the
// walk over our tree masks exactly what the jsonpath library selects on
// the value encoding/json decodes.
func TestJSONRedactorMatchesJSONPath(t *testing.T) {
	paths := []string{"$", "$.user.email", "$..email", "$.*", "$[*]", "$[0]", "$[-1]", "$[5]", "$[1:3]", "$[::-1]",
		"$[::2]", "$[-2:]", "$[0:0]", "$..[0]", "$..*", `$["x y"]`, "$.a['b','c']", "$.a[0,0]", "$.a[?@.k==1]",
		"$..[?@.k>1]", "$[?length(@)>1]", `$..[?match(@.n,"a.*")].v`, `$.a[?$.flag==true].v`, "$.a[*].b[1:]"}
	bodies := []string{
		`{"user":{"email":"x@y","id":7},"x y":[1,2],"n":1.50}`,
		`[{"email":"a"},{"email":"b","k":2},[1,2,3],"s",null,true]`,
		`{"a":[{"k":1,"v":"p","b":[1,2,3]},{"k":2,"v":"q"},{"n":"abc","v":"r"}],"flag":true,"c":{"email":"e"}}`,
		`{"a":{"b":1,"c":{"k":3,"email":"\u00e9<&>"}},"deep":[[[{"email":[0,{"k":9}]}]]]}`,
		`[[],{},[[]],""]`, `"x"`, `12e3`,
	}
	for _, path := range paths {
		for _, body := range bodies {
			r := newTestRedactor(t, path)
			got, cut := r.body([]byte(body), false, nil)
			if want := librarySelectAndMask(t, path, body); cut || string(got) != want {
				t.Errorf("%s on %s: got %s cut %v, want %s", path, body, got, cut, want)
			}
		}
	}
}

// librarySelectAndMask masks what the jsonpath library selects on body.
func librarySelectAndMask(t *testing.T, path, body string) string {
	d := json.NewDecoder(strings.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	located := jsonpath.MustParse(path).SelectLocated(v)
	if len(located) == 0 {
		return body
	}
	for _, n := range located {
		if len(n.Path) == 0 {
			v = Redacted
			continue
		}
		at := v
		for i, sel := range n.Path {
			last := i == len(n.Path)-1
			switch s := sel.(type) {
			case spec.Name:
				if m, ok := at.(map[string]any); ok && last {
					m[string(s)] = Redacted
				} else if ok {
					at = m[string(s)]
				}
			case spec.Index:
				if a, ok := at.([]any); ok && last {
					a[s] = Redacted
				} else if ok {
					at = a[s]
				}
			}
		}
	}
	var out bytes.Buffer
	e := json.NewEncoder(&out)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(out.String(), "\n")
}

// FuzzJSONRedactorParse: our parser accepts what encoding/json accepts as
// UTF-8 (but for lone surrogates and NUL in keys), reads the same value, and
// what the redactor stores unflagged is the body itself or plain JSON.
func FuzzJSONRedactorParse(f *testing.F) {
	for _, s := range []string{`{"user":{"email":"x@y"},"user":{"n":1}}`, `[1,-0.5e+3,true,false,null,"\u00e9\ud83d\ude00"]`,
		`{"a":"\"\\\/\b\f\n\r\t"}`, `{"a" : [ ] , "b":{ }}`, `"\ud800"`, `{"\u0000":1}`, "\xef\xbb\xbf{}", `01`, `1.`,
		`-`, `[1,]`, `{"a":1,}`, `{"a"}`, `nul`, `truex`, "\"\x01\"", "\"\xff\"", `{"a":1}}`, " 7 "} {
		f.Add([]byte(s))
	}
	r := newTestRedactor(f, "$.user.email", "$..[0]")
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := parseJSON(b)
		valid := json.Valid(b) && utf8.Valid(b)
		switch {
		case err == nil && !valid:
			t.Fatalf("parsed %q, which encoding/json refuses", b)
		case err == nil:
			d := json.NewDecoder(bytes.NewReader(b))
			d.UseNumber()
			var want any
			if err := d.Decode(&want); err != nil {
				t.Fatal(err)
			}
			if got := doc.root.any(); !reflect.DeepEqual(got, want) {
				t.Fatalf("%q: read %#v, encoding/json %#v", b, got, want)
			}
		case valid && !strings.Contains(strings.ToLower(string(b)), `\ud`) && !strings.Contains(string(b), `\u0000`):
			t.Fatalf("refused %q (%v), which encoding/json reads", b, err)
		}
		out, cut := r.body(b, false, nil)
		if !cut && !bytes.Equal(out, b) {
			if _, err := parseJSON(out); err != nil {
				t.Fatalf("%q stored as %q, not plain JSON: %v", b, out, err)
			}
		}
	})
}

// TestSinkRedactsJSONBeforeDisk: the masked value reaches neither the
// Parquet file nor the write-ahead log.
func TestSinkRedactsJSONBeforeDisk(t *testing.T) {
	r, _ := NewJSONRedactor([]string{"$.user.email"})
	dir := t.TempDir()
	s, err := NewSink(SinkOptions{Dir: dir, Instance: "r", RedactJSON: r})
	if err != nil {
		t.Fatal(err)
	}
	s.Offer(&Exchange{ID: "1", RequestBody: []byte(`{"user":{"email":"pii@example.com"}}`)})
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows := readDir(t, dir)
	if len(rows) != 1 || string(rows[0].RequestBody) != `{"user":{"email":"REDACTED"}}` {
		t.Errorf("rows %+v", rows)
	}
}

// BenchmarkJSONRedactor: a 1MiB body of 2000 instances, with and without a
// path that matches.
func BenchmarkJSONRedactor(b *testing.B) {
	var body bytes.Buffer
	body.WriteString(`{"instances":[`)
	for i := range 2000 {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"id":%d,"ssn":"%09d","text":%q,"v":[1.5,2,3,{"k":true}]}`, i, i, strings.Repeat("lorem ipsum ", 35))
	}
	body.WriteString(`]}`)
	for _, path := range []string{"$.user.email", "$.instances[*].ssn"} {
		r := newTestRedactor(b, path)
		b.Run(path, func(b *testing.B) {
			b.SetBytes(int64(body.Len()))
			for b.Loop() {
				if _, cut := r.body(body.Bytes(), false, nil); cut {
					b.Fatal("dropped")
				}
			}
		})
	}
}
