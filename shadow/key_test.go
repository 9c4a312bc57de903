package shadow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/theory/jsonpath"

	"github.com/shadowctl/shadowctl/record"
)

// refKey is the key as decoding the whole body gives it (RFC 9535 with
// github.com/theory/jsonpath over encoding/json, numbers as written): the
// reference the scanning Key must equal.
func refKey(t *testing.T, path string, body []byte) (string, bool) {
	t.Helper()
	var v any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("reference: %s: %v", body, err)
	}
	got := jsonpath.MustParse(path).Select(v)
	if len(got) == 0 {
		return "", false
	}
	b, _ := json.Marshal([]any(got))
	return string(b), true
}

func TestRequestKeyIsWhatDecodingSelects(t *testing.T) {
	bodies := []string{
		`{"user":{"id":7},"x":1}`,
		`{"x":[1,2,{"user":{"id":"a"}}],"user":{"id":"u\u0031","name":"n"}}`,
		`  {"user" : { "id" : [ 1 , 2.50 , -3e2 ] } }  `,
		`{"user":{"id":1},"user":{"id":2}}`, // the last of a name, as decoding keeps it
		`{"user":null}`,
		`{"user":{"id":null}}`,
		`{"users":[{"id":"a"},{"id":"b"},{"id":"c"}]}`,
		`{"users":[]}`,
		`{"users":{"0":{"id":"not an array"}}}`,
		`{"a.b":{"*":{"#":"odd names"}},"é":"ü","":"empty name"}`,
		`["top",{"id":"level"}]`,
		`{"user":{"id":{"deep":[true,false,"<&>"]}}}`,
		`"just a string"`,
		`{"user":"not an object"}`,
	}
	paths := []string{`$.user`, `$.user.id`, `$.user['id']`, `$.users[0].id`, `$.users[2].id`, `$.users[-1].id`,
		`$.users[-4].id`, `$.users[5]`, `$['a.b']['*']['#']`, `$['é']`, `$['']`, `$[1].id`, `$[-2]`, `$.x[2].user.id`, `$`}
	for _, body := range bodies {
		for _, path := range paths {
			k, err := ParseKey("request:" + path)
			if err != nil {
				t.Fatal(err)
			}
			want, wantOK := refKey(t, path, []byte(body))
			got, ok := k.value(&record.MirrorRequest{Body: []byte(body)})
			if got != want || ok != wantOK {
				t.Errorf("%s in %s: key %q %v, want %q %v", path, body, got, ok, want, wantOK)
			}
		}
	}
}

// The key is found on the request's path without decoding the body: a few
// allocations for a 64 KiB body, whatever its size (decoding it made
// thousands, a millisecond per request).
func TestRequestKeyDoesNotDecodeTheBody(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"user":{"id":"u-42"},"instances":[`)
	for i := 0; b.Len() < 64<<10; i++ {
		fmt.Fprintf(&b, `{"f":[%d,%d.5,"s%d"]},`, i, i, i)
	}
	b.WriteString(`{}]}`)
	k, err := ParseKey("request:$.user.id")
	if err != nil {
		t.Fatal(err)
	}
	r := &record.MirrorRequest{Body: []byte(b.String())}
	if v, ok := k.value(r); v != `["u-42"]` || !ok {
		t.Fatalf("key %q %v", v, ok)
	}
	if n := testing.AllocsPerRun(20, func() { k.fraction(r) }); n > 30 {
		t.Errorf("%v allocations per key of a 64 KiB body, want a few", n)
	}
}

// Requests without the key are mirrored at the sample fraction, at random:
// not all or none, as one shared empty key would make them.
func TestKeylessRequestsAreSampledAtRandom(t *testing.T) {
	for _, spec := range []string{"header:X-User-Id", "request:$.user"} {
		k, err := ParseKey(spec)
		if err != nil {
			t.Fatal(err)
		}
		below := 0
		const n = 400
		for range n {
			if k.fraction(&record.MirrorRequest{Body: []byte(`{"other":1}`)}) < 0.5 {
				below++
			}
		}
		// Binomial(400, 0.5): sd 10; 120..280 is 8 sd either way.
		if below < 120 || below > 280 {
			t.Errorf("%s: %d of %d keyless requests mirrored at 0.5, want about half", spec, below, n)
		}
	}
}
