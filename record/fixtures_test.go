package record

import (
	"reflect"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/frozen"
)

var fixtureAt = time.Date(2026, 2, 3, 4, 5, 6, 789000000, time.UTC)

// fixtureRecordingV1 is testdata/recording-1.parquet, as a
// shadowctl.recording/1 writer wrote it.
var fixtureRecordingV1 = []exchangeV1{
	{ID: frozen.ID(fixtureAt, 1), StartedAt: fixtureAt, Method: "POST", Host: "model-v1", Path: "/v1/models/iris:predict",
		RequestHeaders: []Header{{"Authorization", Redacted}, {"Content-Type", "application/json"}},
		RequestBody:    []byte(`{"instances":[[5.1,3.5,1.4,0.2]]}`), RequestBodySize: 33, Status: 200,
		ResponseHeaders: []Header{{"Content-Type", "application/json"}},
		ResponseBody:    []byte(`{"predictions":[0]}`), ResponseBodySize: 19, LatencyNs: 1_250_000, Instance: "rec-a"},
	{ID: frozen.ID(fixtureAt.Add(time.Second), 2), StartedAt: fixtureAt.Add(time.Second), Method: "GET", Host: "model-v1",
		Path: "/healthz?probe=1", Status: 0, RequestBody: []byte{}, ResponseBody: []byte{},
		Error: "upstream: connection refused", LatencyNs: 80_000, Instance: "rec-a"},
}

// fixtureRecordingV2 is testdata/recording-2.parquet (recording/2: the
// answer timing columns).
var fixtureRecordingV2 = []Exchange{
	{ID: frozen.ID(fixtureAt, 3), StartedAt: fixtureAt, Method: "POST", Host: "model-v1", Path: "/v1/models/iris:predict",
		RequestHeaders: []Header{{"Content-Type", "application/json"}, {"X-Tenant", "acme"}},
		RequestBody:    []byte(`{"instances":[[6.3,3.3,6.0,2.5],[5.0,3.4,1.5,0.2]]}`), RequestBodySize: 49, Status: 200,
		ResponseHeaders: []Header{{"Content-Length", "23"}, {"Content-Type", "application/json"}},
		ResponseBody:    []byte(`{"predictions":[2,0]}`), ResponseBodySize: 21, LatencyNs: 2_000_000,
		Instance: "rec-b", ResponseFirstByteNs: 1_900_000},
	{ID: frozen.ID(fixtureAt.Add(time.Second), 4), StartedAt: fixtureAt.Add(time.Second), Method: "POST", Host: "llm",
		Path:           "/v1/chat/completions",
		RequestHeaders: []Header{{"Content-Type", "application/json"}},
		RequestBody:    []byte(`{"stream":true,"messages":[{"role":"user","content":"hi"}]}`), RequestBodySize: 58, Status: 200,
		ResponseHeaders:  []Header{{"Content-Type", "text/event-stream"}},
		ResponseBody:     []byte("data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\ndata: [DONE]\n\n"),
		ResponseBodySize: 110, LatencyNs: 30_000_000, Instance: "rec-b",
		ResponseFirstByteNs: 10_000_000, ResponseEvents: 3, ResponseEventNs: []int64{10_000_000, 20_000_000, 30_000_000}},
	{ID: frozen.ID(fixtureAt.Add(2*time.Second), 5), StartedAt: fixtureAt.Add(2 * time.Second), Method: "POST", Host: "model-v1",
		Path:           "/v1/models/iris:predict",
		RequestHeaders: []Header{{"Content-Type", "application/json"}},
		RequestBody:    []byte(`{"instances":[[`), RequestBodyTruncated: true, RequestBodySize: 5_000_000, Status: 413,
		ResponseHeaders: []Header{}, ResponseBody: []byte{}, LatencyNs: 500_000, Instance: "rec-b"},
}

// TestWriteRecordingFixtures writes the missing frozen recordings, with
// -write-fixtures only.
func TestWriteRecordingFixtures(t *testing.T) {
	frozen.Write(t, "recording-1.parquet", Schemas[0], []string{"request_body", "response_body"}, fixtureRecordingV1)
	frozen.Write(t, "recording-2.parquet", Schema, []string{"request_body", "response_body"}, fixtureRecordingV2)
}

// The recordings that earlier releases wrote still read, row for row.
func TestFrozenRecordingsRead(t *testing.T) {
	var v1 []Exchange
	for _, o := range fixtureRecordingV1 {
		v1 = append(v1, Exchange{ID: o.ID, StartedAt: o.StartedAt, Method: o.Method, Host: o.Host, Path: o.Path,
			RequestHeaders: o.RequestHeaders, RequestBody: o.RequestBody, RequestBodyTruncated: o.RequestBodyTruncated,
			RequestBodySize: o.RequestBodySize, Status: o.Status, ResponseHeaders: o.ResponseHeaders,
			ResponseBody: o.ResponseBody, ResponseBodyTruncated: o.ResponseBodyTruncated,
			ResponseBodySize: o.ResponseBodySize, LatencyNs: o.LatencyNs, Error: o.Error, Instance: o.Instance})
	}
	for _, c := range []struct {
		file string
		want []Exchange
	}{
		{"recording-1.parquet", v1},
		{"recording-2.parquet", fixtureRecordingV2},
	} {
		t.Run(c.file, func(t *testing.T) {
			r, err := Open([]string{frozen.Path(c.file)})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Total() != int64(len(c.want)) {
				t.Errorf("Total = %d, want %d", r.Total(), len(c.want))
			}
			got := readAll(t, r)
			if len(got) != len(c.want) {
				t.Fatalf("read %d exchanges, want %d", len(got), len(c.want))
			}
			for i := range got {
				if g, w := normalized(got[i]), normalized(c.want[i]); !reflect.DeepEqual(g, w) {
					t.Errorf("exchange %d:\n got %+v\nwant %+v", i, g, w)
				}
			}
		})
	}
}
