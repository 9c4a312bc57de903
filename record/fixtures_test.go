package record

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/parquetfile"
)

// writeFixtures writes the frozen recordings in ../testdata that do not
// exist yet. A file there is never rewritten: it stands for what a release
// wrote, and must read the same way for as long as its version is read. A
// new format version adds its own file (and its rows below).
var writeFixtures = flag.Bool("write-fixtures", false, "write the missing ../testdata/recording-*.parquet fixtures")

var fixtureAt = time.Date(2026, 2, 3, 4, 5, 6, 789000000, time.UTC)

// fixtureRecordingV1 is testdata/recording-1.parquet, as a
// shadowctl.recording/1 writer wrote it.
var fixtureRecordingV1 = []exchangeV1{
	{ID: fixtureID(fixtureAt, 1), StartedAt: fixtureAt, Method: "POST", Host: "model-v1", Path: "/v1/models/iris:predict",
		RequestHeaders: []Header{{"Authorization", Redacted}, {"Content-Type", "application/json"}},
		RequestBody:    []byte(`{"instances":[[5.1,3.5,1.4,0.2]]}`), RequestBodySize: 33, Status: 200,
		ResponseHeaders: []Header{{"Content-Type", "application/json"}},
		ResponseBody:    []byte(`{"predictions":[0]}`), ResponseBodySize: 19, LatencyNs: 1_250_000, Instance: "rec-a"},
	{ID: fixtureID(fixtureAt.Add(time.Second), 2), StartedAt: fixtureAt.Add(time.Second), Method: "GET", Host: "model-v1",
		Path: "/healthz?probe=1", Status: 0, RequestBody: []byte{}, ResponseBody: []byte{},
		Error: "upstream: connection refused", LatencyNs: 80_000, Instance: "rec-a"},
}

// fixtureRecordingV2 is testdata/recording-2.parquet (recording/2: the
// answer timing columns).
var fixtureRecordingV2 = []Exchange{
	{ID: fixtureID(fixtureAt, 3), StartedAt: fixtureAt, Method: "POST", Host: "model-v1", Path: "/v1/models/iris:predict",
		RequestHeaders: []Header{{"Content-Type", "application/json"}, {"X-Tenant", "acme"}},
		RequestBody:    []byte(`{"instances":[[6.3,3.3,6.0,2.5],[5.0,3.4,1.5,0.2]]}`), RequestBodySize: 49, Status: 200,
		ResponseHeaders: []Header{{"Content-Length", "23"}, {"Content-Type", "application/json"}},
		ResponseBody:    []byte(`{"predictions":[2,0]}`), ResponseBodySize: 21, LatencyNs: 2_000_000,
		Instance: "rec-b", ResponseFirstByteNs: 1_900_000},
	{ID: fixtureID(fixtureAt.Add(time.Second), 4), StartedAt: fixtureAt.Add(time.Second), Method: "POST", Host: "llm",
		Path:           "/v1/chat/completions",
		RequestHeaders: []Header{{"Content-Type", "application/json"}},
		RequestBody:    []byte(`{"stream":true,"messages":[{"role":"user","content":"hi"}]}`), RequestBodySize: 58, Status: 200,
		ResponseHeaders:  []Header{{"Content-Type", "text/event-stream"}},
		ResponseBody:     []byte("data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\ndata: [DONE]\n\n"),
		ResponseBodySize: 110, LatencyNs: 30_000_000, Instance: "rec-b",
		ResponseFirstByteNs: 10_000_000, ResponseEvents: 3, ResponseEventNs: []int64{10_000_000, 20_000_000, 30_000_000}},
	{ID: fixtureID(fixtureAt.Add(2*time.Second), 5), StartedAt: fixtureAt.Add(2 * time.Second), Method: "POST", Host: "model-v1",
		Path:           "/v1/models/iris:predict",
		RequestHeaders: []Header{{"Content-Type", "application/json"}},
		RequestBody:    []byte(`{"instances":[[`), RequestBodyTruncated: true, RequestBodySize: 5_000_000, Status: 413,
		ResponseHeaders: []Header{}, ResponseBody: []byte{}, LatencyNs: 500_000, Instance: "rec-b"},
}

// fixtureID is a fixed id in NewID's form: 16 hex digits of the start
// time, then n where NewID has random ones.
func fixtureID(at time.Time, n uint64) string { return fmt.Sprintf("%016x%016x", at.UnixNano(), n) }

func fixturePath(name string) string { return filepath.Join("..", "testdata", name) }

func TestWriteRecordingFixtures(t *testing.T) {
	if !*writeFixtures {
		t.Skip("run with -write-fixtures to write the missing fixtures")
	}
	if p := fixturePath("recording-1.parquet"); !exists(p) {
		w, err := parquetfile.Create[exchangeV1](p, "shadowctl.recording/1", "request_body", "response_body")
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(fixtureRecordingV1); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", p)
	}
	if p := fixturePath("recording-2.parquet"); !exists(p) {
		writeRecording(t, p, fixtureRecordingV2)
		t.Logf("wrote %s", p)
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
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
			r, err := Open([]string{fixturePath(c.file)})
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
