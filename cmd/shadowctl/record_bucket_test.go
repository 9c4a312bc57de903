package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/fixture"
	"github.com/shadowctl/shadowctl/record"
)

// spoolFile writes n recorded exchanges of path p as a finished file in dir,
// as a recorder's sink leaves it for its shipper.
func spoolFile(t *testing.T, dir, name, p string, n int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var xs []record.Exchange
	for i := range n {
		xs = append(xs, record.Exchange{ID: record.NewID(base), StartedAt: base.Add(time.Duration(i) * time.Second),
			Method: "POST", Path: p, Status: 200})
	}
	fixture.Recording(t, filepath.Join(dir, name), xs)
}

// TestRecordersSharingASpoolUploadOnlyTheirOwn: two recorders with one
// --spool (the default is one per machine) and their own --out each upload
// only their own files; the files of one that is not running wait for it,
// and are uploaded when it starts again with the same --out (its query in
// another order).
func TestRecordersSharingASpoolUploadOnlyTheirOwn(t *testing.T) {
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	outA := "file://" + filepath.ToSlash(filepath.Join(dir, "a")) + "?create_dir=true&no_tmp_dir=true"
	outB := "file://" + filepath.ToSlash(filepath.Join(dir, "b")) + "?create_dir=true&no_tmp_dir=true"
	a, err := checkBucketOut("out", outA, spool, "recordings")
	if err != nil {
		t.Fatal(err)
	}
	b, err := checkBucketOut("out", outB, spool, "recordings")
	if err != nil {
		t.Fatal(err)
	}
	spoolFile(t, a.dir, "rec-a-1.parquet", "/a", 3)
	spoolFile(t, b.dir, "rec-b-1.parquet", "/b", 2)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))

	// Recorder A runs and stops; B is down.
	ship, err := startShippers(logger, nil, a)
	if err != nil {
		t.Fatal(err)
	}
	ship.stop(10 * time.Second)
	if got, _ := readRecordings(t, outA); !reflect.DeepEqual(got, map[string]int{"/a": 3}) {
		t.Errorf("prefix of A holds %v, want only A's 3 exchanges", got)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "b", "*.parquet")); len(m) != 0 {
		t.Errorf("A uploaded into B's prefix: %v", m)
	}
	if m, _ := filepath.Glob(filepath.Join(b.dir, "*.parquet")); len(m) != 1 {
		t.Errorf("B's file is not waiting for B in the spool: %v", m)
	}

	// B starts again, its URL's parameters in another order.
	again, err := checkBucketOut("out", "file://"+filepath.ToSlash(filepath.Join(dir, "b"))+"?no_tmp_dir=true&create_dir=true", spool, "recordings")
	if err != nil {
		t.Fatal(err)
	}
	if again.dir != b.dir {
		t.Errorf("the spool folder of one --out depends on the order of its parameters: %s, then %s", b.dir, again.dir)
	}
	ship, err = startShippers(logger, nil, again)
	if err != nil {
		t.Fatal(err)
	}
	ship.stop(10 * time.Second)
	if got, _ := readRecordings(t, outB); !reflect.DeepEqual(got, map[string]int{"/b": 2}) {
		t.Errorf("prefix of B holds %v, want only B's 2 exchanges", got)
	}
	if got, _ := readRecordings(t, outA); !reflect.DeepEqual(got, map[string]int{"/a": 3}) {
		t.Errorf("prefix of A holds %v after B ran, want only A's 3 exchanges", got)
	}
	for _, d := range []string{a.dir, b.dir} {
		if strings.Contains(d, "create_dir") {
			t.Errorf("spool folder %s shows the URL's query", d)
		}
	}
	if strings.Contains(logs.String(), "earlier shadowctl") {
		t.Errorf("warned of files of an earlier shadowctl where there are none:\n%s", logs.String())
	}
}

// TestUnkeyedSpoolFilesAreReportedNotUploaded: finished files lying in the
// spool folder itself (left by a shadowctl that used one folder for every
// destination) belong to a bucket nobody knows: they are not uploaded to
// this --out, and the recorder says so.
func TestUnkeyedSpoolFilesAreReportedNotUploaded(t *testing.T) {
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	out := "file://" + filepath.ToSlash(filepath.Join(dir, "a")) + "?create_dir=true"
	a, err := checkBucketOut("out", out, spool, "recordings")
	if err != nil {
		t.Fatal(err)
	}
	spoolFile(t, filepath.Join(spool, "recordings"), "rec-old-1.parquet", "/old", 1)
	spoolFile(t, a.dir, "rec-a-1.parquet", "/a", 1)
	var logs bytes.Buffer
	ship, err := startShippers(slog.New(slog.NewTextHandler(&logs, nil)), nil, a)
	if err != nil {
		t.Fatal(err)
	}
	ship.stop(10 * time.Second)
	if got, _ := readRecordings(t, out); !reflect.DeepEqual(got, map[string]int{"/a": 1}) {
		t.Errorf("prefix holds %v, want only its own exchange", got)
	}
	if !strings.Contains(logs.String(), "finished files of an earlier shadowctl are in the spool folder") ||
		!strings.Contains(logs.String(), "files=1") {
		t.Errorf("no warning of the file left:\n%s", logs.String())
	}
}
