//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A named pipe (or a device) named *.parquet hung inspect, report and replay,
// deaf to SIGTERM: opening a pipe waits for a writer. It is refused with one
// line and exit 2, like any other bad input file, named directly or found in
// a folder.
func TestNonRegularInputFilesAreRefused(t *testing.T) {
	dir := t.TempDir()
	recs := filepath.Join(dir, "recordings")
	results := filepath.Join(dir, "results")
	os.Mkdir(recs, 0o700)
	os.Mkdir(results, 0o700)
	writeReplayFixture(t, filepath.Join(recs, "a.parquet"), 2)
	writeReportFixture(t, filepath.Join(results, "a.parquet"))
	recPipe := filepath.Join(recs, "b.parquet")
	resPipe := filepath.Join(results, "b.parquet")
	for _, p := range []string{recPipe, resPipe} {
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatalf("mkfifo: %v", err)
		}
		// Should an open still wait on the pipe (the bug), a writer coming
		// and going lets it return.
		t.Cleanup(func() {
			if f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
		})
	}
	out := filepath.Join(dir, "out.parquet")
	replay := func(arg string) []string {
		return []string{"replay", "--target", "http://127.0.0.1:1", "--out", out, arg}
	}
	for _, tc := range []struct {
		args []string
		bad  string
	}{
		{[]string{"inspect", recPipe}, recPipe},
		{[]string{"inspect", recs}, recPipe},
		{[]string{"inspect", filepath.Join(recs, "*.parquet")}, recPipe},
		{[]string{"inspect", "/dev/null"}, "/dev/null"},
		{[]string{"report", resPipe}, resPipe},
		{[]string{"report", results}, resPipe},
		{[]string{"report", "/dev/zero"}, "/dev/zero"},
		{replay(recPipe), recPipe},
		{replay(recs), recPipe},
		{[]string{"replay", "--target", "http://127.0.0.1:1", "--resume", "--out", resPipe, filepath.Join(recs, "a.parquet")}, resPipe},
	} {
		type result struct {
			stderr string
			code   int
		}
		done := make(chan result, 1)
		go func() {
			_, stderr, code := runCLI(t, tc.args...)
			done <- result{stderr, code}
		}()
		select {
		case r := <-done:
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.bad+": bad input file: not a regular file") ||
				strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("%q: exit %d, stderr %q; want exit 2 and one line saying %s is not a regular file", tc.args, r.code, r.stderr, tc.bad)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%q: still running after 10s", tc.args)
		}
		if _, err := os.Stat(out); err == nil {
			os.Remove(out)
			t.Errorf("%q: a results file was written", tc.args)
		}
	}
}
