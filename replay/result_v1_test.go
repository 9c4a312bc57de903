package replay

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/parquetfile"
	"github.com/shadowctl/shadowctl/record"
)

// resultV1 is a row of the results/1 format: Result without request_headers.
type resultV1 struct {
	ID                    string    `parquet:"id"`
	Method                string    `parquet:"method,dict"`
	Path                  string    `parquet:"path"`
	RequestBody           []byte    `parquet:"request_body"`
	SentAt                time.Time `parquet:"sent_at,timestamp(nanosecond)"`
	RecordedStartedAt     time.Time `parquet:"recorded_started_at,timestamp(nanosecond)"`
	RecordedStatus        int32     `parquet:"recorded_status"`
	RecordedBody          []byte    `parquet:"recorded_body"`
	RecordedBodyTruncated bool      `parquet:"recorded_body_truncated"`
	RecordedLatencyNs     int64     `parquet:"recorded_latency_ns"`
	RecordedError         string    `parquet:"recorded_error"`
	CandidateStatus       int32     `parquet:"candidate_status"`
	CandidateBody         []byte    `parquet:"candidate_body"`
	CandidateLatencyNs    int64     `parquet:"candidate_latency_ns"`
	CandidateError        string    `parquet:"candidate_error"`
	CandidateErrorKind    string    `parquet:"candidate_error_kind,dict"`
	BaselineStatus        *int32    `parquet:"baseline_status,optional"`
	BaselineBody          []byte    `parquet:"baseline_body,optional"`
	BaselineLatencyNs     *int64    `parquet:"baseline_latency_ns,optional"`
	BaselineError         *string   `parquet:"baseline_error,optional"`
	BaselineErrorKind     *string   `parquet:"baseline_error_kind,optional"`
}

func TestResultsV1StillReadWithoutHeaders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.parquet")
	w, err := parquetfile.Create[resultV1](path, SchemaV1)
	if err != nil {
		t.Fatal(err)
	}
	st := int32(201)
	if err := w.Write([]resultV1{{ID: "a", Method: "POST", Path: "/p", RequestBody: []byte(`{"x":1}`),
		RecordedStatus: 200, RecordedBody: []byte(`{"y":2}`), CandidateStatus: 200, BaselineStatus: &st}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := readResultRows(t, path)
	if len(got) != 1 {
		t.Fatalf("rows = %d, want 1", len(got))
	}
	r := got[0]
	if r.ID != "a" || string(r.RequestBody) != `{"x":1}` || string(r.RecordedBody) != `{"y":2}` || *r.BaselineStatus != 201 {
		t.Errorf("v1 row read as %+v", r)
	}
	if len(r.RequestHeaders) != 0 {
		t.Errorf("v1 row has request headers %v, want none", r.RequestHeaders)
	}
	if _, ok := r.Header("X-Request-Id"); ok {
		t.Error("Header found a header in a v1 row")
	}
}

func TestResultsV2KeepsRequestHeaders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.parquet")
	w, err := CreateResults(path)
	if err != nil {
		t.Fatal(err)
	}
	hs := []record.Header{{Name: "X-Request-Id", Value: "r-1"}, {Name: "Accept", Value: "a"}, {Name: "Accept", Value: "b"}}
	if err := w.Write([]Result{{ID: "a", RequestHeaders: hs}, {ID: "b"}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := readResultRows(t, path)
	if len(got) != 2 || len(got[0].RequestHeaders) != 3 || got[0].RequestHeaders[2] != hs[2] || len(got[1].RequestHeaders) != 0 {
		t.Fatalf("headers read back as %+v", got)
	}
	if v, ok := got[0].Header("x-request-id"); !ok || v != "r-1" {
		t.Errorf("Header(x-request-id) = %q, %v; want r-1", v, ok)
	}
	if v, _ := got[0].Header("accept"); v != "a" {
		t.Errorf("Header(accept) = %q, want the first value a", v)
	}
}
