package record_test

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/shadowctl/shadowctl/record"
)

// TestArrowReadsRecordings reads a recording with Apache Arrow's Parquet
// implementation, independent of parquet-go which wrote it: same columns,
// rows and bytes. It is what DuckDB, Spark and pyarrow users rely on.
func TestArrowReadsRecordings(t *testing.T) {
	dir := t.TempDir()
	s, err := record.NewSink(record.SinkOptions{Dir: dir, Instance: "arrow"})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	var want []record.Exchange
	for i := range 5 {
		at := base.Add(time.Duration(i) * time.Second)
		x := record.Exchange{
			ID: record.NewID(at), StartedAt: at, Method: []string{"GET", "POST"}[i%2], Host: "model",
			Path:           "/v1/models/m:predict?i=" + string(rune('0'+i)),
			RequestHeaders: []record.Header{{Name: "Content-Type", Value: "application/json"}, {Name: "X-Multi", Value: "a"}, {Name: "X-Multi", Value: "b"}},
			RequestBody:    []byte(`{"instances":[[1,2]]}`), RequestBodySize: 21,
			Status: 200, ResponseBody: []byte{0, 1, 2, byte(i), 255}, ResponseBodySize: 5,
			ResponseBodyTruncated: i == 3, LatencyNs: int64(i) * 1000, Instance: "arrow",
		}
		if i == 4 {
			x.Status, x.Error = 0, "upstream: connection refused"
		}
		want = append(want, x)
		s.Offer(&x)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.parquet"))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}

	pf, err := file.OpenParquetFile(files[0], false)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	if v := pf.MetaData().KeyValueMetadata().FindValue("shadowctl.schema"); v == nil || *v != record.Schema {
		t.Errorf("schema metadata %v", v)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()

	var names []string
	for _, f := range tbl.Schema().Fields() {
		names = append(names, f.Name)
	}
	wantNames := []string{"id", "started_at", "method", "host", "path", "request_headers", "request_body",
		"request_body_truncated", "request_body_size", "status", "response_headers", "response_body",
		"response_body_truncated", "response_body_size", "latency_ns", "error", "instance",
		"response_first_byte_ns", "response_events", "response_event_ns"}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("columns %v\nwant    %v", names, wantNames)
	}
	if tbl.NumRows() != int64(len(want)) {
		t.Fatalf("%d rows", tbl.NumRows())
	}
	col := func(name string) arrow.Array {
		i := slices.Index(names, name)
		chunks := tbl.Column(i).Data().Chunks()
		if len(chunks) != 1 {
			t.Fatalf("%s: %d chunks", name, len(chunks))
		}
		return chunks[0]
	}
	str := func(name string, i int) string {
		switch a := col(name).(type) {
		case *array.String:
			return a.Value(i)
		case *array.Dictionary:
			return a.Dictionary().(*array.String).Value(a.GetValueIndex(i))
		}
		t.Fatalf("%s is %T", name, col(name))
		return ""
	}
	ts := col("started_at").(*array.Timestamp)
	if unit := ts.DataType().(*arrow.TimestampType).Unit; unit != arrow.Nanosecond {
		t.Errorf("started_at unit %v", unit)
	}
	// The sink writes in completion order; match rows by id.
	for i := 0; i < len(want); i++ {
		id := str("id", i)
		k := slices.IndexFunc(want, func(x record.Exchange) bool { return x.ID == id })
		if k < 0 {
			t.Fatalf("row %d: unknown id %s", i, id)
		}
		w := want[k]
		if got := time.Unix(0, int64(ts.Value(i))).UTC(); !got.Equal(w.StartedAt) {
			t.Errorf("row %d started_at %v, want %v", i, got, w.StartedAt)
		}
		if str("method", i) != w.Method || str("path", i) != w.Path || str("error", i) != w.Error || str("instance", i) != "arrow" {
			t.Errorf("row %d: %s %s %q", i, str("method", i), str("path", i), str("error", i))
		}
		if !bytes.Equal(col("request_body").(*array.Binary).Value(i), w.RequestBody) ||
			!bytes.Equal(col("response_body").(*array.Binary).Value(i), w.ResponseBody) {
			t.Errorf("row %d: bodies differ", i)
		}
		if col("status").(*array.Int32).Value(i) != w.Status || col("latency_ns").(*array.Int64).Value(i) != w.LatencyNs ||
			col("response_body_truncated").(*array.Boolean).Value(i) != w.ResponseBodyTruncated {
			t.Errorf("row %d: status, latency or truncated flag differ", i)
		}
		hs := col("request_headers").(*array.List)
		start, end := hs.ValueOffsets(i)
		values := hs.ListValues().(*array.Struct).Field(1).(*array.String)
		var got []string
		for j := start; j < end; j++ {
			got = append(got, values.Value(int(j)))
		}
		if !slices.Equal(got, []string{"application/json", "a", "b"}) {
			t.Errorf("row %d: header values %v", i, got)
		}
	}
}
