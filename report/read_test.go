package report

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/fixture"
	"github.com/shadowctl/shadowctl/internal/poll"
	"github.com/shadowctl/shadowctl/replay"
)

// manyRows repeats the fixture n times over with distinct ids, so that ties
// in the top-N list are broken by id and the label ids depend on order.
func manyRows(n int) []replay.Result {
	fx := fixtureRows()
	rows := make([]replay.Result, n)
	for i := range rows {
		rows[i] = fx[i%len(fx)]
		rows[i].ID = fmt.Sprintf("r%06d", (i*7919)%n)
	}
	return rows
}

// TestBuildPipelineSameAsSequential: reading on one goroutine and
// aggregating on another gives exactly the report of one Builder fed the
// rows in file order, whatever the batch and file boundaries.
func TestBuildPipelineSameAsSequential(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sizes []int
	}{
		{"one row", []int{1}},
		{"one batch exactly", []int{batchRows}},
		{"batch plus one", []int{batchRows + 1}},
		{"files across batches", []int{2500, 1, 1777, batchRows * batchesInFlight * 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var all []replay.Result
			var files []string
			for i, n := range tc.sizes {
				rows := manyRows(n)
				for j := range rows {
					rows[j].ID = fmt.Sprintf("f%d-%s", i, rows[j].ID)
				}
				path := filepath.Join(dir, fmt.Sprintf("results-%d.parquet", i))
				fixture.Results(t, path, rows)
				files = append(files, path)
				all = append(all, rows...)
			}
			for _, opts := range []Options{{}, {By: "path", Ignore: []string{"$.model_version"}, Top: 7}} {
				var calls, last, total int64
				opts.Progress = func(done, tot int64) {
					if done < last {
						t.Errorf("progress went back: %d after %d", done, last)
					}
					calls, last, total = calls+1, done, tot
				}
				got, err := Build(context.Background(), opts, files)
				if err != nil {
					t.Fatal(err)
				}
				opts.Progress = nil
				want := buildRows(t, opts, all)
				want.Files, want.PartialFiles = files, []string{}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%+v: pipelined report differs from the sequential one\n got %+v\nwant %+v", opts, got, want)
				}
				if n := int64(len(all)); last != n || total != n || calls == 0 {
					t.Errorf("progress: last %d of %d in %d calls, want %d", last, total, calls, n)
				}
			}
		})
	}
}

// TestBuildCancelMidRun: a context canceled while rows are read stops
// Build with its error and leaves no goroutine behind.
func TestBuildCancelMidRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.parquet")
	fixture.Results(t, path, manyRows(batchRows*batchesInFlight*4))
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen int64
	opts := Options{Progress: func(done, _ int64) {
		seen = done
		cancel()
	}}
	if _, err := Build(ctx, opts, []string{path}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Build = %v, want context.Canceled", err)
	}
	if seen != batchRows {
		t.Errorf("progress saw %d rows, want one batch (%d) before the cancel", seen, batchRows)
	}
	// The reader has sent its error by the time Build returns; let it exit.
	if !poll.Within(5*time.Second, func() bool { return runtime.NumGoroutine() <= before }) {
		t.Fatalf("%d goroutines after Build, %d before", runtime.NumGoroutine(), before)
	}
}

// A report over many files holds one open at a time: each open reader
// holds a descriptor and its column buffers (about 730 KB), and opening
// every shard up front took 2.3 GB over 3,000 of them (and would pass a
// 1,024-descriptor limit).
func TestBuildOpensOneFileAtATime(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts descriptors in /proc/self/fd")
	}
	dir := t.TempDir()
	var files []string
	for i := range 120 {
		rows := manyRows(20)
		for j := range rows {
			rows[j].ID = fmt.Sprintf("f%d-%s", i, rows[j].ID)
		}
		path := filepath.Join(dir, fmt.Sprintf("results-%03d.parquet", i))
		fixture.Results(t, path, rows)
		files = append(files, path)
	}
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	before, most := fds(), 0
	opts := Options{Progress: func(done, total int64) { most = max(most, fds()-before) }}
	if _, err := Build(context.Background(), opts, files); err != nil {
		t.Fatal(err)
	}
	// One file read, one batch ahead: a few descriptors, not 120.
	if most > 4 {
		t.Errorf("%d more descriptors open while reading 120 files, want one file's", most)
	}
}
