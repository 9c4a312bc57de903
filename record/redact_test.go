package record

import (
	"context"
	"strings"
	"testing"
)

func TestJSONRedactor(t *testing.T) {
	r, err := NewJSONRedactor([]string{"$.user.email", "$.instances[*].ssn"})
	if err != nil {
		t.Fatal(err)
	}
	jsonCT := []Header{{Name: "Content-Type", Value: "application/json"}}
	for _, tc := range []struct {
		name      string
		body      string
		truncated bool
		headers   []Header
		want      string
		wantCut   bool
	}{
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
	} {
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
