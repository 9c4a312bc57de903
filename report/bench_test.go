package report

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/replay"
)

// writeBenchResults writes n results rows of a KServe V1 classifier with a
// baseline, batches of 4, about 1% disagreements and 0.1% timeouts, a
// candidate that reports another model_version, sent one a millisecond (so
// the timeline spans 17 minutes), over 2 files (shards).
func writeBenchResults(b *testing.B, dir string, n int) []string {
	return writeBenchShards(b, dir, n, 2)
}

// writeBenchShards is writeBenchResults over shards files.
func writeBenchShards(b *testing.B, dir string, n, shards int) []string {
	b.Helper()
	bodies := [][]byte{
		[]byte(`{"predictions":[1,0,1,1],"model_version":"1"}`),
		[]byte(`{"predictions":[0,0,1,0],"model_version":"1"}`),
		[]byte(`{"predictions":[1,1,1,0],"model_version":"1"}`),
	}
	// The candidate names another model version, so its bytes never equal
	// the recorded ones and every body is decoded (the slow path).
	cand := [][]byte{
		[]byte(`{"predictions":[1,0,1,1],"model_version":"2"}`),
		[]byte(`{"predictions":[0,0,1,0],"model_version":"2"}`),
		[]byte(`{"predictions":[1,1,1,0],"model_version":"2"}`),
	}
	other := []byte(`{"predictions":[1,0,0,1],"model_version":"2"}`)
	paths := []string{"/v1/models/a:predict", "/v1/models/b:predict", "/v1/models/c:predict"}
	regions := []string{"eu", "us", "ap", "sa", "af"}
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var files []string
	batch := make([]replay.Result, 0, 4096)
	for s := range shards {
		path := filepath.Join(dir, fmt.Sprintf("results-%d.parquet", s))
		files = append(files, path)
		w, err := replay.CreateResults(path)
		if err != nil {
			b.Fatal(err)
		}
		for i := s * n / shards; i < (s+1)*n/shards; i++ {
			body := bodies[i%len(bodies)]
			st, lat := int32(200), int64(8e6+(i*7919)%4e6)
			r := replay.Result{ID: fmt.Sprintf("%016x", i), Method: "POST", Path: paths[i%len(paths)],
				RequestBody: fmt.Appendf(nil, `{"id":"%016x","region":"%s","instances":[[1,2,3,4],[5,6,7,8],[1,2,3,4],[5,6,7,8]]}`,
					i, regions[i%len(regions)]), SentAt: start.Add(time.Duration(i) * time.Millisecond),
				RecordedStartedAt: start, RecordedStatus: 200, RecordedBody: body, RecordedLatencyNs: 9e6 + int64(i%1000)*1e4,
				CandidateStatus: 200, CandidateBody: cand[i%len(cand)], CandidateLatencyNs: lat,
				BaselineStatus: &st, BaselineBody: body, BaselineLatencyNs: &lat}
			switch {
			case i%1000 == 7:
				r.CandidateStatus, r.CandidateBody, r.CandidateErrorKind = 0, nil, replay.KindTimeout
			case i%100 == 3:
				r.CandidateBody = other
			}
			batch = append(batch, r)
			if len(batch) == cap(batch) {
				if err := w.Write(batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		if err := w.Write(batch); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	return files
}

// writeBenchLabels writes the true labels of the n bench rows (a batch of 4
// each: the recorded answer, but for one row in 50) as a CSV keyed by the
// request's id.
func writeBenchLabels(b *testing.B, path string, n int) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "key,label")
	truth := []string{`"[1,0,1,1]"`, `"[0,0,1,0]"`, `"[1,1,1,0]"`}
	for i := range n {
		label := truth[i%len(truth)]
		if i%50 == 11 {
			label = `"[0,1,0,1]"`
		}
		fmt.Fprintf(w, "%016x,%s\n", i, label)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// peakHeap samples the live heap until stop is closed and returns the
// largest value seen.
func peakHeap(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// BenchmarkReport1M reports over 1,000,000 results rows (written once per
// run, not timed) and reports rows/s and the peak live heap. It never
// asserts on the figures.
//
// SHADOWCTL_BENCH_DIR=dir writes the files into dir and keeps them, so the
// real binary can be timed on the same input:
//
//	SHADOWCTL_BENCH_DIR=/tmp/bench1m go test ./report -run '^$' -bench Report1M -benchtime 1x
//	bin/shadowctl report --format json /tmp/bench1m
func BenchmarkReport1M(b *testing.B) {
	const n = 1_000_000
	dir := os.Getenv("SHADOWCTL_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	files := writeBenchResults(b, dir, n)
	labels := filepath.Join(dir, "labels.csv")
	writeBenchLabels(b, labels, n)
	for _, c := range []struct {
		name   string
		opts   Options
		labels bool
	}{
		{"detect", Options{}, false},
		{"by-path-ignore", Options{By: "path", Ignore: []string{"$.model_version"}}, false},
		// Read 1M labels, key them by a request field and slice by
		// another: the time includes reading the label file.
		{"labels-by-request", Options{LabelKey: "request:$.id", By: "request:$.region", PositiveClass: "1"}, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			var peak uint64
			for b.Loop() {
				runtime.GC()
				stop := make(chan struct{})
				got := peakHeap(stop)
				opts := c.opts
				var err error
				if c.labels {
					if opts.Labels, err = ReadLabels([]string{labels}); err != nil {
						b.Fatal(err)
					}
				}
				r, err := Build(context.Background(), opts, files)
				close(stop)
				peak = max(peak, <-got)
				if err != nil {
					b.Fatal(err)
				}
				if r.Exchanges != n {
					b.Fatalf("exchanges = %d", r.Exchanges)
				}
				if c.labels && (r.Accuracy == nil || r.Accuracy.Labeled != 4*n) {
					b.Fatalf("accuracy %+v", r.Accuracy)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

// BenchmarkReportStates reports over 10 shards of 1,000,000 results rows in
// all, from their rows and from their report states (written once per run,
// not timed), and reports the mean size of a state. It never asserts on the
// figures.
func BenchmarkReportStates(b *testing.B) {
	const n, shards = 1_000_000, 10
	dir := b.TempDir()
	files := writeBenchShards(b, dir, n, shards)
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"detect", Options{}},
		{"by-path-ignore", Options{By: "path", Ignore: []string{"$.model_version"}}},
	} {
		var states []string
		var size int64
		for k, f := range files {
			agg, err := Aggregate(context.Background(), c.opts, []string{f})
			if err != nil {
				b.Fatal(err)
			}
			var buf bytes.Buffer
			if err := agg.WriteState(&buf); err != nil {
				b.Fatal(err)
			}
			path := filepath.Join(dir, fmt.Sprintf("%s-%d.state", c.name, k))
			if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
				b.Fatal(err)
			}
			states = append(states, path)
			size += int64(buf.Len())
		}
		for _, in := range []struct {
			name  string
			paths []string
		}{{"rows", files}, {"states", states}} {
			b.Run(c.name+"/"+in.name, func(b *testing.B) {
				for b.Loop() {
					r, err := Build(context.Background(), c.opts, in.paths)
					if err != nil {
						b.Fatal(err)
					}
					if r.Exchanges != n {
						b.Fatalf("exchanges = %d", r.Exchanges)
					}
				}
				if in.name == "states" {
					b.ReportMetric(float64(size)/shards/1024, "KiB/state")
				}
			})
		}
	}
}
