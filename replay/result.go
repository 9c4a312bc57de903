// Package replay drives a candidate model (and optionally a baseline) with
// recorded exchanges, and owns the results format that report reads.
package replay

import (
	"strings"
	"time"

	"github.com/shadowctl/shadowctl/internal/parquetfile"
	"github.com/shadowctl/shadowctl/record"
)

// Schema is the value of the "shadowctl.schema" key/value metadata of every
// results file. It changes only with a new version and a reader that still
// reads the old one. Version 2 added request_headers and the answers'
// timing.
const Schema = "shadowctl.results/2"

// SchemaV1 is the previous version, still read: its rows have no request
// headers and no timing (they read as empty, 0 and null).
const SchemaV1 = "shadowctl.results/1"

// Schemas are the versions OpenResults reads.
var Schemas = []string{SchemaV1, Schema}

// Error kinds of a side of a result. An empty kind means the request got a
// 2xx or 3xx answer.
const (
	KindTimeout    = "timeout"            // no complete answer within --timeout
	KindRefused    = "connection_refused" // nothing listening
	KindReset      = "connection_reset"   // the peer closed or reset mid-exchange
	KindTLS        = "tls"                // handshake or certificate failure
	KindDNS        = "dns"                // the host name did not resolve
	KindHTTP4xx    = "http_4xx"           // the target answered 4xx
	KindHTTP5xx    = "http_5xx"           // the target answered 5xx
	KindCanceled   = "canceled"           // the run was interrupted
	KindTooLarge   = "body_too_large"     // the answer was longer than the limit (not kept)
	KindOther      = "other"              // anything else
	KindNoResponse = "no_response"        // recorded side only: production had no answer
	// KindStreamIncomplete is given by report, not replay: an event
	// stream that ended before its end ([DONE] or every choice finished).
	KindStreamIncomplete = "stream_incomplete"
)

// Kinds lists the error kinds a candidate or baseline side may have in a
// report: every one above but KindNoResponse.
var Kinds = []string{KindTimeout, KindRefused, KindReset, KindTLS, KindDNS, KindHTTP4xx, KindHTTP5xx,
	KindCanceled, KindTooLarge, KindOther, KindStreamIncomplete}

// Result is one replayed exchange: the recorded side, the candidate's answer
// and, when the run had a baseline, the baseline's. One row of a results file;
// the parquet tags are the documented column names (README, "Results
// format"). It is self-contained: report needs nothing else.
type Result struct {
	ID          string `parquet:"id"`
	Method      string `parquet:"method,dict"`
	Path        string `parquet:"path"`
	RequestBody []byte `parquet:"request_body"`
	// RequestHeaders are the recorded request's headers, as recorded
	// (redacted values stay redacted), so that a report can slice or key
	// labels by one. Since results/2.
	RequestHeaders []record.Header `parquet:"request_headers,list"`
	SentAt         time.Time       `parquet:"sent_at,timestamp(nanosecond)"`

	RecordedStartedAt     time.Time `parquet:"recorded_started_at,timestamp(nanosecond)"`
	RecordedStatus        int32     `parquet:"recorded_status"`
	RecordedBody          []byte    `parquet:"recorded_body"`
	RecordedBodyTruncated bool      `parquet:"recorded_body_truncated"`
	RecordedLatencyNs     int64     `parquet:"recorded_latency_ns"`
	RecordedError         string    `parquet:"recorded_error"`

	CandidateStatus    int32  `parquet:"candidate_status"`
	CandidateBody      []byte `parquet:"candidate_body"`
	CandidateLatencyNs int64  `parquet:"candidate_latency_ns"`
	CandidateError     string `parquet:"candidate_error"`
	CandidateErrorKind string `parquet:"candidate_error_kind,dict"`

	// The baseline columns are null when the run had no baseline.
	BaselineStatus    *int32  `parquet:"baseline_status,optional"`
	BaselineBody      []byte  `parquet:"baseline_body,optional"`
	BaselineLatencyNs *int64  `parquet:"baseline_latency_ns,optional"`
	BaselineError     *string `parquet:"baseline_error,optional"`
	BaselineErrorKind *string `parquet:"baseline_error_kind,optional"`

	// Since results/2, the answers' timing (record.StreamTiming): when the
	// first body byte came and, for text/event-stream answers, how many
	// events came and when each of the first record.MaxEventTimes ended,
	// in nanoseconds from the start of the latency of the side (the
	// recorded side's from the recording). 0 and empty when not measured.
	RecordedFirstByteNs  int64   `parquet:"recorded_first_byte_ns"`
	RecordedEvents       int64   `parquet:"recorded_events"`
	RecordedEventNs      []int64 `parquet:"recorded_event_ns,list"`
	CandidateFirstByteNs int64   `parquet:"candidate_first_byte_ns"`
	CandidateEvents      int64   `parquet:"candidate_events"`
	CandidateEventNs     []int64 `parquet:"candidate_event_ns,list"`
	// The baseline's are null (the list empty) without a baseline.
	BaselineFirstByteNs *int64  `parquet:"baseline_first_byte_ns,optional"`
	BaselineEvents      *int64  `parquet:"baseline_events,optional"`
	BaselineEventNs     []int64 `parquet:"baseline_event_ns,list"`
}

// Unanswered tells whether the target or the baseline gave the row no
// answer: it was refused, reset, timed out, interrupted, or failed in TLS,
// DNS or otherwise before an answer came. An answer of any status, or one
// over the body limit, is an answer.
func (r *Result) Unanswered() bool {
	return unanswered(r.CandidateErrorKind) || (r.BaselineErrorKind != nil && unanswered(*r.BaselineErrorKind))
}

func unanswered(kind string) bool {
	switch kind {
	case "", KindHTTP4xx, KindHTTP5xx, KindTooLarge:
		return false
	}
	return true
}

// HasBaseline tells whether the row has a baseline side.
func (r *Result) HasBaseline() bool { return r.BaselineStatus != nil }

// ResultsWriter writes one results file; it appears under its final name
// only when Close succeeds.
type ResultsWriter = parquetfile.Writer[Result]

// CreateResults starts a results file at path (mode 0600).
func CreateResults(path string) (*ResultsWriter, error) {
	return parquetfile.Create[Result](path, Schema, "request_body", "recorded_body", "candidate_body", "baseline_body")
}

// ResultsReader streams the rows of one results file.
type ResultsReader = parquetfile.Reader[Result]

// Header returns the first value of the request header name (matched
// without regard to case) and whether there was one.
func (r *Result) Header(name string) (string, bool) {
	for _, h := range r.RequestHeaders {
		if strings.EqualFold(h.Name, name) {
			return h.Value, true
		}
	}
	return "", false
}

// ErrFormat is wrapped by errors about a file that is not a readable
// results file (not Parquet, damaged, or another format). It is the same
// value as record.ErrFormat: both formats are read by one reader.
var ErrFormat = parquetfile.ErrFormat

// OpenResults opens one results file, failing with an error that wraps
// ErrFormat when it is not one.
func OpenResults(path string) (*ResultsReader, error) {
	r, err := parquetfile.Open[Result](path, Schemas...)
	switch {
	case err != nil:
	case r.Schema() == SchemaV1:
		r.Fix(clearV2)
	default:
		r.Fix(nilTiming)
	}
	return r, err
}

// nilTiming makes empty event-time lists nil, as rows are written: Parquet
// does not tell the two apart.
func nilTiming(r *Result) {
	if len(r.RecordedEventNs) == 0 {
		r.RecordedEventNs = nil
	}
	if len(r.CandidateEventNs) == 0 {
		r.CandidateEventNs = nil
	}
	if len(r.BaselineEventNs) == 0 {
		r.BaselineEventNs = nil
	}
}

// clearV2 empties the columns results/2 added in a results/1 row, which
// has none (Parquet reads a missing list column as one zero element).
func clearV2(r *Result) {
	r.RequestHeaders = nil
	r.RecordedFirstByteNs, r.RecordedEvents, r.RecordedEventNs = 0, 0, nil
	r.CandidateFirstByteNs, r.CandidateEvents, r.CandidateEventNs = 0, 0, nil
	r.BaselineFirstByteNs, r.BaselineEvents, r.BaselineEventNs = nil, nil, nil
}
