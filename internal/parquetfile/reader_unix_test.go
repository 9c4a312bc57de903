//go:build unix

package parquetfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

type testRow struct {
	A int64 `parquet:"a"`
}

// mkfifo makes a named pipe at path and, at cleanup, opens it for writing
// once so that an Open still waiting on it (the bug) returns.
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

// Opening a named pipe waits for a writer, forever and deaf to signals: a
// pipe or device named *.parquet must be refused before it is opened.
func TestOpenRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := mkfifo(t, filepath.Join(dir, "pipe.parquet"))
	for _, tc := range []struct {
		path, want string
	}{
		{fifo, "not a regular file (a named pipe)"},
		{"/dev/null", "not a regular file (a character device)"},
		{dir, "is a folder"},
	} {
		done := make(chan error, 1)
		go func() {
			r, err := Open[testRow](tc.path, "x")
			if err == nil {
				r.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open(%s) = %v, want an error naming it with %q", tc.path, err, tc.want)
			}
			if tc.want != "is a folder" && (!errors.Is(err, ErrNotRegular) || !errors.Is(err, ErrFormat)) {
				t.Errorf("Open(%s) = %v, want ErrNotRegular and ErrFormat", tc.path, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Open(%s) still waiting after 10s", tc.path)
		}
	}
}
