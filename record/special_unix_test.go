//go:build unix

package record

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mkfifo makes a named pipe at path and, at cleanup, opens it for writing
// once, so that an open still waiting on it (the bug) returns.
func mkfifo(t *testing.T, path string) string {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	t.Cleanup(func() {
		if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	return path
}

// within runs fn and fails the test if it has not returned after 10s
// (opening a named pipe waits for a writer, forever).
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still waiting after 10s", what)
	}
}

// A named pipe or a device among the recordings is refused with an error
// naming it, named directly or found in a folder, instead of hanging.
func TestOpenRefusesNamedPipesAndDevices(t *testing.T) {
	dir := t.TempDir()
	writeRecording(t, filepath.Join(dir, "a.parquet"), walExchanges(3))
	fifo := mkfifo(t, filepath.Join(dir, "b.parquet"))
	for _, tc := range []struct {
		name string
		args []string
		bad  string
	}{
		{"named pipe named directly", []string{fifo}, fifo},
		{"named pipe in a folder", []string{dir}, fifo},
		{"named pipe matched by a pattern", []string{filepath.Join(dir, "*.parquet")}, fifo},
		{"device", []string{"/dev/null"}, "/dev/null"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			within(t, "Open", func() {
				var r *Reader
				if r, err = Open(tc.args); err == nil {
					r.Close()
				}
			})
			if err == nil || !strings.Contains(err.Error(), tc.bad) || !strings.Contains(err.Error(), "not a regular file") ||
				!errors.Is(err, ErrFormat) {
				t.Errorf("Open(%v) = %v, want ErrFormat naming %s, not a regular file", tc.args, err, tc.bad)
			}
		})
	}
}

// A named pipe ending in .wal is not a log to recover: Recover passes over it
// rather than wait on it.
func TestRecoverPassesOverANamedPipe(t *testing.T) {
	dir := t.TempDir()
	mkfifo(t, filepath.Join(dir, "x.parquet"+WALSuffix))
	writeWAL(t, filepath.Join(dir, "y.parquet"+WALSuffix), walExchanges(4))
	var recs []Recovered
	var err error
	within(t, "Recover", func() { recs, err = Recover(dir) })
	if err != nil || len(recs) != 1 || recs[0].Rows != 4 || filepath.Base(recs[0].File) != "y.parquet" {
		t.Errorf("Recover = %+v, %v; want y.parquet recovered with 4 rows", recs, err)
	}
}
