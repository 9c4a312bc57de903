package replay

import (
	"reflect"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/frozen"
	"github.com/shadowctl/shadowctl/record"
)

var fixtureAt = time.Date(2026, 2, 3, 4, 5, 6, 789000000, time.UTC)

func ptr[T any](v T) *T { return &v }

// fixtureResultsV1 is testdata/results-1.parquet: a run with a baseline.
// Row 1 agrees, row 2 does not (the candidate says 2 where v1 said 1), row
// 3's candidate was refused.
var fixtureResultsV1 = []resultV1{
	{ID: frozen.ID(fixtureAt, 1), Method: "POST", Path: "/v1/models/iris:predict",
		RequestBody: []byte(`{"instances":[[5.1,3.5,1.4,0.2]]}`), SentAt: fixtureAt.Add(time.Hour),
		RecordedStartedAt: fixtureAt, RecordedStatus: 200, RecordedBody: []byte(`{"predictions":[0]}`), RecordedLatencyNs: 1_000_000,
		CandidateStatus: 200, CandidateBody: []byte(`{"predictions":[0]}`), CandidateLatencyNs: 1_500_000,
		BaselineStatus: ptr(int32(200)), BaselineBody: []byte(`{"predictions":[0]}`), BaselineLatencyNs: ptr(int64(1_100_000)),
		BaselineError: ptr(""), BaselineErrorKind: ptr("")},
	{ID: frozen.ID(fixtureAt.Add(time.Second), 2), Method: "POST", Path: "/v1/models/iris:predict",
		RequestBody: []byte(`{"instances":[[6.0,2.2,4.0,1.0]]}`), SentAt: fixtureAt.Add(time.Hour + time.Second),
		RecordedStartedAt: fixtureAt.Add(time.Second), RecordedStatus: 200, RecordedBody: []byte(`{"predictions":[1]}`),
		RecordedLatencyNs: 1_000_000, CandidateStatus: 200, CandidateBody: []byte(`{"predictions":[2]}`), CandidateLatencyNs: 3_000_000,
		BaselineStatus: ptr(int32(200)), BaselineBody: []byte(`{"predictions":[1]}`), BaselineLatencyNs: ptr(int64(1_200_000)),
		BaselineError: ptr(""), BaselineErrorKind: ptr("")},
	{ID: frozen.ID(fixtureAt.Add(2*time.Second), 3), Method: "POST", Path: "/v1/models/iris:predict",
		RequestBody: []byte(`{"instances":[[5.9,3.0,5.1,1.8]]}`), SentAt: fixtureAt.Add(time.Hour + 2*time.Second),
		RecordedStartedAt: fixtureAt.Add(2 * time.Second), RecordedStatus: 200, RecordedBody: []byte(`{"predictions":[2]}`),
		RecordedLatencyNs: 1_000_000, CandidateBody: []byte{}, CandidateLatencyNs: 200_000,
		CandidateError: "dial tcp 127.0.0.1:9000: connect: connection refused", CandidateErrorKind: KindRefused,
		BaselineStatus: ptr(int32(200)), BaselineBody: []byte(`{"predictions":[2]}`), BaselineLatencyNs: ptr(int64(900_000)),
		BaselineError: ptr(""), BaselineErrorKind: ptr("")},
}

// fixtureResultsV2 is testdata/results-2.parquet (results/2: request
// headers and answer timing), a run without a baseline. Row 1 agrees on
// both of its instances, row 2 disagrees on its one, row 3 agrees on a
// streamed chat answer.
var fixtureResultsV2 = []Result{
	{ID: frozen.ID(fixtureAt, 4), Method: "POST", Path: "/v1/models/iris:predict",
		RequestBody:    []byte(`{"instances":[[6.3,3.3,6.0,2.5],[5.0,3.4,1.5,0.2]]}`),
		RequestHeaders: []record.Header{{Name: "Content-Type", Value: "application/json"}, {Name: "X-Tenant", Value: "acme"}},
		SentAt:         fixtureAt.Add(time.Hour), RecordedStartedAt: fixtureAt, RecordedStatus: 200,
		RecordedBody: []byte(`{"predictions":[2,0]}`), RecordedLatencyNs: 2_000_000, CandidateStatus: 200,
		CandidateBody: []byte(`{"predictions":[2,0]}`), CandidateLatencyNs: 2_500_000,
		RecordedFirstByteNs: 1_900_000, CandidateFirstByteNs: 2_400_000},
	{ID: frozen.ID(fixtureAt.Add(time.Second), 5), Method: "POST", Path: "/v1/models/iris:predict",
		RequestBody:    []byte(`{"instances":[[6.0,2.2,4.0,1.0]]}`),
		RequestHeaders: []record.Header{{Name: "Content-Type", Value: "application/json"}, {Name: "X-Tenant", Value: "globex"}},
		SentAt:         fixtureAt.Add(time.Hour + time.Second), RecordedStartedAt: fixtureAt.Add(time.Second), RecordedStatus: 200,
		RecordedBody: []byte(`{"predictions":[1]}`), RecordedLatencyNs: 1_000_000, CandidateStatus: 200,
		CandidateBody: []byte(`{"predictions":[2]}`), CandidateLatencyNs: 4_000_000,
		RecordedFirstByteNs: 900_000, CandidateFirstByteNs: 3_900_000},
	{ID: frozen.ID(fixtureAt.Add(2*time.Second), 6), Method: "POST", Path: "/v1/chat/completions",
		RequestBody:    []byte(`{"stream":true,"messages":[{"role":"user","content":"hi"}]}`),
		RequestHeaders: []record.Header{{Name: "Content-Type", Value: "application/json"}, {Name: "X-Tenant", Value: "acme"}},
		SentAt:         fixtureAt.Add(time.Hour + 2*time.Second), RecordedStartedAt: fixtureAt.Add(2 * time.Second),
		RecordedStatus:    200,
		RecordedBody:      []byte("data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\ndata: [DONE]\n\n"),
		RecordedLatencyNs: 30_000_000, CandidateStatus: 200,
		CandidateBody:      []byte("data: {\"choices\":[{\"delta\":{\"content\":\"Hello\"}}]}\n\ndata: [DONE]\n\n"),
		CandidateLatencyNs: 20_000_000, RecordedFirstByteNs: 10_000_000, RecordedEvents: 3,
		RecordedEventNs: []int64{10_000_000, 20_000_000, 30_000_000}, CandidateFirstByteNs: 15_000_000, CandidateEvents: 2,
		CandidateEventNs: []int64{15_000_000, 20_000_000}},
}

// TestWriteResultsFixtures writes the missing frozen results files, with
// -write-fixtures only.
func TestWriteResultsFixtures(t *testing.T) {
	blobs := []string{"request_body", "recorded_body", "candidate_body", "baseline_body"}
	frozen.Write(t, "results-1.parquet", SchemaV1, blobs, fixtureResultsV1)
	frozen.Write(t, "results-2.parquet", Schema, blobs, fixtureResultsV2)
}

// normalResult makes empty lists and bodies nil: Parquet does not tell
// them apart.
func normalResult(r Result) Result {
	for _, b := range []*[]byte{&r.RequestBody, &r.RecordedBody, &r.CandidateBody} {
		if len(*b) == 0 {
			*b = nil
		}
	}
	if len(r.RequestHeaders) == 0 {
		r.RequestHeaders = nil
	}
	for _, l := range []*[]int64{&r.RecordedEventNs, &r.CandidateEventNs, &r.BaselineEventNs} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	return r
}

// The results files that earlier releases wrote still read, row for row.
func TestFrozenResultsRead(t *testing.T) {
	var v1 []Result
	for _, o := range fixtureResultsV1 {
		v1 = append(v1, Result{ID: o.ID, Method: o.Method, Path: o.Path, RequestBody: o.RequestBody, SentAt: o.SentAt,
			RecordedStartedAt: o.RecordedStartedAt, RecordedStatus: o.RecordedStatus, RecordedBody: o.RecordedBody,
			RecordedBodyTruncated: o.RecordedBodyTruncated, RecordedLatencyNs: o.RecordedLatencyNs, RecordedError: o.RecordedError,
			CandidateStatus: o.CandidateStatus, CandidateBody: o.CandidateBody, CandidateLatencyNs: o.CandidateLatencyNs,
			CandidateError: o.CandidateError, CandidateErrorKind: o.CandidateErrorKind, BaselineStatus: o.BaselineStatus,
			BaselineBody: o.BaselineBody, BaselineLatencyNs: o.BaselineLatencyNs, BaselineError: o.BaselineError,
			BaselineErrorKind: o.BaselineErrorKind})
	}
	for _, c := range []struct {
		file string
		want []Result
	}{
		{"results-1.parquet", v1},
		{"results-2.parquet", fixtureResultsV2},
	} {
		t.Run(c.file, func(t *testing.T) {
			got := readResultRows(t, frozen.Path(c.file))
			if len(got) != len(c.want) {
				t.Fatalf("read %d rows, want %d", len(got), len(c.want))
			}
			for i := range got {
				if g, w := normalResult(got[i]), normalResult(c.want[i]); !reflect.DeepEqual(g, w) {
					t.Errorf("row %d:\n got %+v\nwant %+v", i, g, w)
				}
			}
		})
	}
}
