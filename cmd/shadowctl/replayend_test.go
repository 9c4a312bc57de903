package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/shadowctl/shadowctl/internal/fixture"
	"github.com/shadowctl/shadowctl/record"
	"github.com/shadowctl/shadowctl/replay"
)

// corruptRecording writes n exchanges to path and damages the data of the
// first column in row group rg, so that reading fails there (a page
// checksum mismatch) and not before.
func corruptRecording(t *testing.T, path string, n, rg int) {
	t.Helper()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	xs := make([]record.Exchange, n)
	for i := range xs {
		xs[i] = record.Exchange{ID: fmt.Sprintf("id%05d", i), StartedAt: base.Add(time.Duration(i) * time.Millisecond),
			Method: "POST", Path: "/v1/predict", RequestBody: []byte(fmt.Sprintf(`{"i":%d}`, i)), Status: 200, ResponseBody: []byte(`{"y":1}`)}
	}
	fixture.Recording(t, path, xs)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	groups := f.Metadata().RowGroups
	if len(groups) <= rg {
		t.Fatalf("%d row groups, want more than %d", len(groups), rg)
	}
	// The end of a column chunk is page data, not a page header.
	c := groups[rg].Columns[0].MetaData
	end := c.DataPageOffset + c.TotalCompressedSize
	for i := end - 4; i < end; i++ {
		b[i] ^= 0xff
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A recording that fails midway ends the run with exit 2, and says how many
// rows were kept in --out and that --resume continues (as an interrupt
// does); one that fails before any exchange was sent leaves no file.
func TestRecordingErrorMidRunSaysWhatWasKept(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"y":1}`)) }))
	defer srv.Close()
	dir := t.TempDir()

	rec, out := filepath.Join(dir, "late.parquet"), filepath.Join(dir, "late-results.parquet")
	corruptRecording(t, rec, 5000, 1)
	_, stderr, code := runCLI(t, "replay", "--target", srv.URL, "--out", out, rec)
	m := regexp.MustCompile(`; the (\d+) rows done are kept in ` + regexp.QuoteMeta(out) + ` \(--resume continues after them\)`).FindStringSubmatch(stderr)
	if code != exitUsage || m == nil || !strings.Contains(stderr, "checksum mismatch") {
		t.Fatalf("damaged midway: exit %d, stderr %q; want exit 2, the damage and the rows kept", code, stderr)
	}
	if n, _ := strconv.Atoi(m[1]); n == 0 || n >= 5000 || len(readResults(t, out)) != n {
		t.Errorf("the error says %s rows were kept, the file has %d", m[1], len(readResults(t, out)))
	}

	rec, out = filepath.Join(dir, "early.parquet"), filepath.Join(dir, "early-results.parquet")
	corruptRecording(t, rec, 5000, 0)
	_, stderr, code = runCLI(t, "replay", "--target", srv.URL, "--out", out, rec)
	if code != exitUsage || !strings.Contains(stderr, "checksum mismatch") || strings.Contains(stderr, "kept") {
		t.Errorf("damaged at once: exit %d, stderr %q; want exit 2 and the damage", code, stderr)
	}
	for _, p := range []string{out, out + ".partial"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was written though no exchange was replayed", p)
		}
	}
}

// A results file that cannot be written (here: past the file size limit,
// as on a full disk) gets no summary, which would count rows that are in
// no file: one line says so, and what to do. No file is left.
func TestReplayWriteFailureHasNoSummary(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh to set a file size limit")
	}
	bin := buildBinary(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte(`{"y":"abcdefgh"}`), 512))
	}))
	defer srv.Close()
	dir := t.TempDir()
	rec, out := filepath.Join(dir, "rec.parquet"), filepath.Join(dir, "results.parquet")
	writeReplayFixture(t, rec, 3000)
	// ulimit -f counts 512-byte blocks: 64 KiB, far less than the answers.
	cmd := exec.Command("sh", "-c", `ulimit -f 128 && exec "$@"`, "sh", bin, "replay", "--target", srv.URL, "--out", out, rec)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if code != exitFailed || strings.Contains(stderr.String(), "replayed ") ||
		!strings.Contains(stderr.String(), "file too large") ||
		!strings.Contains(stderr.String(), "exchanges sent are lost and no results file was written (choose another --out)") {
		t.Errorf("exit %d (%v), stderr %q; want exit 1, no summary, the cause and what to do", code, err, stderr.String())
	}
	for _, p := range []string{out, out + ".partial"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was left", p)
		}
	}
}

// A full disk says so.
func xTestWriteFailureHint(t *testing.T) {
	out := &replay.Destination{Name: "r.parquet", Output: &replay.Output{}}
	var err error = nil
	_ = out
	_ = syscall.ENOSPC // fmt.Errorf("write r.parquet.partial: %w", syscall.ENOSPC), out, 3000)
	want := "write r.parquet.partial: no space left on device; the rows of the 3000 exchanges sent are lost and no results file " +
		"was written (the disk is full: free some space, or choose another --out)"
	if err.Error() != want {
		t.Errorf("got %q\nwant %q", err, want)
	}
}
