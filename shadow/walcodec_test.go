package shadow

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/record"
	"github.com/shadowctl/shadowctl/replay"
)

// fullResult sets every field of a Result to a value of its own, found by
// reflection: a column added to replay.Result and not to the log's codec
// fails the round trip below.
func fullResult(t *testing.T) replay.Result {
	t.Helper()
	var r replay.Result
	v := reflect.ValueOf(&r).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		n := int64(i + 1)
		if f.Kind() == reflect.Pointer {
			f.Set(reflect.New(f.Type().Elem()))
			f = f.Elem()
		}
		switch {
		case f.Type() == reflect.TypeOf(time.Time{}):
			f.Set(reflect.ValueOf(time.Date(2026, 12, 1, 12, 0, int(n), int(n)*1001, time.UTC)))
		case f.Kind() == reflect.String:
			f.SetString(v.Type().Field(i).Name + " é")
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Uint8:
			f.SetBytes([]byte(`{"` + v.Type().Field(i).Name + `":[1,2]}` + "\x00\xff"))
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Int64:
			f.Set(reflect.ValueOf([]int64{n, -n, 3 * n}))
		case f.Type() == reflect.TypeOf([]record.Header(nil)):
			f.Set(reflect.ValueOf([]record.Header{{Name: "X-Id", Value: fmt.Sprint(n)}, {Name: "", Value: "é"}}))
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.CanInt():
			f.SetInt(-n * 1_000_003)
		default:
			t.Fatalf("field %s of kind %s: teach fullResult and the log's codec", v.Type().Field(i).Name, f.Kind())
		}
	}
	return r
}

func TestResultsLogRoundTrip(t *testing.T) {
	empty := replay.Result{}
	sparse := replay.Result{ID: "x", Method: "POST", Path: "/p", RequestBody: []byte("{}"), SentAt: time.Unix(0, 0).UTC(),
		RecordedStatus: 200, CandidateError: "dial tcp: connection refused", CandidateErrorKind: replay.KindRefused,
		BaselineBody: []byte{}}
	for name, r := range map[string]replay.Result{"every field": fullResult(t), "zero": empty, "sparse": sparse} {
		rec := appendResult([]byte("prefix"), &r)[len("prefix"):]
		if rec[0] != walBinary {
			t.Fatalf("%s: version byte %d", name, rec[0])
		}
		got, err := decodeResult(rec)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, r)
		}
		// Every cut record, and one with a byte more, is refused whole.
		for n := 1; n < len(rec); n++ {
			if _, err := decodeResult(rec[:n]); err == nil {
				t.Fatalf("%s: record cut at %d of %d bytes decoded", name, n, len(rec))
			}
		}
		if _, err := decodeResult(append(rec[:len(rec):len(rec)], 0)); err == nil {
			t.Errorf("%s: a byte past the record decoded", name)
		}
	}
}

// A log an older recorder left (JSON records, version 1) still recovers.
func TestResultsLogReadsVersion1(t *testing.T) {
	r := fullResult(t)
	j, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeResult(append([]byte{walJSON}, j...))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("version 1 record:\n got %+v\nwant %+v", got, r)
	}
	if _, err := decodeResult([]byte{9, '{', '}'}); err == nil {
		t.Error("a record of an unknown version decoded")
	}
}

func BenchmarkResultsLogAppend(b *testing.B) {
	r := resultRow(1)
	r.RequestBody, r.RecordedBody, r.CandidateBody = jsonReply(1024), jsonReply(1024), jsonReply(1024)
	var buf []byte
	b.ReportAllocs()
	for range b.N {
		buf = appendResult(buf[:0], r)
	}
	b.ReportMetric(float64(len(buf)), "B/record")
}
