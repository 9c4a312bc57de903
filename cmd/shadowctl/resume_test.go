package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/poll"
)

// A resumed file keeps one shape: rows with a baseline side, or rows
// without. A run that would add the other kind is refused before it sends
// anything, and the file stays as it was.
func TestResumeRefusesAnotherBaselineSetting(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Write([]byte(`{"y":1}`))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name        string
		first, then []string
		want        string
	}{
		{"baseline then none", []string{"--baseline", srv.URL}, nil,
			"were replayed with --baseline, and this run has none: give the same --baseline, or write to another --out"},
		{"none then baseline", nil, []string{"--baseline", srv.URL},
			"were replayed without --baseline, and this run has one: resume without --baseline, or write to another --out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rec, out := filepath.Join(dir, "rec.parquet"), filepath.Join(dir, "results.parquet")
			writeReplayFixture(t, rec, 5)
			args := append([]string{"replay", "--target", srv.URL, "--out", out, "--limit", "2"}, tc.first...)
			if _, stderr, code := runCLI(t, append(args, rec)...); code != 0 {
				t.Fatalf("first run: exit %d: %s", code, stderr)
			}
			before, _ := os.ReadFile(out)
			sent := requests.Load()
			args = append([]string{"replay", "--target", srv.URL, "--out", out, "--resume"}, tc.then...)
			_, stderr, code := runCLI(t, append(args, rec)...)
			if code != exitUsage || !strings.Contains(stderr, "--resume: the 2 rows of "+out+" "+tc.want) {
				t.Errorf("resume: exit %d, stderr %q; want exit 2 and %q", code, stderr, tc.want)
			}
			if after, _ := os.ReadFile(out); string(after) != string(before) {
				t.Errorf("the results file changed")
			}
			if _, err := os.Stat(out + ".partial"); err == nil {
				t.Errorf("a .partial file was left behind")
			}
			if n := requests.Load() - sent; n != 0 {
				t.Errorf("the refused run sent %d requests", n)
			}
		})
	}
}

// Two runs on one --out: the second refuses while the first writes (it
// holds the lock of its partial file), so the first keeps its partial file
// and the target gets every request once. A partial file nobody holds is
// what a killed run left: removed, with a warning.
func TestSecondReplayOnTheSameOutIsRefused(t *testing.T) {
	var requests atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		<-release
		w.Write([]byte(`{"y":1}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	rec, out := filepath.Join(dir, "rec.parquet"), filepath.Join(dir, "results.parquet")
	writeReplayFixture(t, rec, 10)
	first := make(chan string, 1)
	go func() {
		_, stderr, code := runCLI(t, "replay", "--target", srv.URL, "--concurrency", "2", "--out", out, rec)
		first <- fmt.Sprintf("exit %d: %s", code, stderr)
	}()
	// The first run is sending: its partial file exists and is locked.
	if !poll.Within(poll.Deadline, func() bool { return requests.Load() > 0 }) {
		close(release)
		t.Fatalf("the first run sent nothing: %s", <-first)
	}
	_, stderr, code := runCLI(t, "replay", "--target", srv.URL, "--out", out, rec)
	want := "another replay is writing " + out + ".partial: wait for it to finish, or give another --out"
	if code != exitUsage || !strings.Contains(stderr, want) {
		t.Errorf("second run: exit %d, stderr %q; want exit 2 and %q", code, stderr, want)
	}
	if _, err := os.Stat(out + ".partial"); err != nil {
		t.Errorf("the first run's partial file: %v", err)
	}
	close(release)
	if got := <-first; !strings.HasPrefix(got, "exit 0:") {
		t.Fatalf("first run: %s", got)
	}
	if n := requests.Load(); n != 10 || len(readResults(t, out)) != 10 {
		t.Errorf("the target got %d requests and the file has %d rows, want 10 of each", n, len(readResults(t, out)))
	}

	// A stale one: written by a run that died, no lock held.
	other := filepath.Join(dir, "other.parquet")
	if err := os.WriteFile(other+".partial", []byte("PAR1 cut short"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runCLI(t, "replay", "--target", srv.URL, "--out", other, rec)
	if code != 0 || len(readResults(t, other)) != 10 ||
		!strings.Contains(stderr, "removed the partial results file of a run that did not finish") {
		t.Errorf("after a stale partial file: exit %d: %s", code, stderr)
	}
}

// The rows --retry-errors holds back count toward the file's shape too: a
// file whose every row timed out, replayed with a baseline, resumed with
// --retry-errors and no --baseline would end with no baseline at all (or,
// interrupted, with a mix), so it is refused like any other.
func TestResumeRetryErrorsKeepsTheBaselineSetting(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then a closed connection ends r's context
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"y":1}`))
	}))
	defer fast.Close()
	dir := t.TempDir()
	rec, out := filepath.Join(dir, "rec.parquet"), filepath.Join(dir, "results.parquet")
	writeReplayFixture(t, rec, 4)
	if _, stderr, code := runCLI(t, "replay", "--target", slow.URL, "--baseline", fast.URL, "--timeout", "50ms",
		"--out", out, "--progress", "never", rec); code != 0 {
		t.Fatalf("first run: exit %d: %s", code, stderr)
	}
	before, _ := os.ReadFile(out)
	_, stderr, code := runCLI(t, "replay", "--target", fast.URL, "--resume", "--retry-errors", "--out", out, "--progress", "never", rec)
	if want := "the 4 rows of " + out + " were replayed with --baseline, and this run has none"; code != exitUsage || !strings.Contains(stderr, want) {
		t.Errorf("resume: exit %d, stderr %q; want exit 2 and %q", code, stderr, want)
	}
	if after, _ := os.ReadFile(out); string(after) != string(before) {
		t.Errorf("the results file changed")
	}
	// With the same --baseline it goes on.
	if _, stderr, code := runCLI(t, "replay", "--target", fast.URL, "--baseline", fast.URL, "--resume", "--retry-errors",
		"--out", out, "--progress", "never", rec); code != 0 {
		t.Errorf("resume with the baseline: exit %d: %s", code, stderr)
	}
}
