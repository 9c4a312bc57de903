//go:build unix

package parquetfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A partial file is a live writer's while it holds its lock, and stale
// once nobody does.
func TestPartialFileLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.parquet")
	a, err := CreateAtomic(path)
	if err != nil {
		t.Fatal(err)
	}
	if !Busy(path) {
		t.Errorf("Busy = false while a writer holds the file")
	}
	if _, err := CreateAtomic(path); !errors.Is(err, ErrBusy) {
		t.Errorf("a second CreateAtomic: %v, want ErrBusy", err)
	}
	if removed, err := RemoveStale(path); removed || !errors.Is(err, ErrBusy) {
		t.Errorf("RemoveStale of a live file: %v, %v; want false, ErrBusy", removed, err)
	}
	// The writer dies: its file stays, unlocked.
	a.File.Close()
	if Busy(path) {
		t.Errorf("Busy = true after the writer closed the file")
	}
	if removed, err := RemoveStale(path); !removed || err != nil {
		t.Errorf("RemoveStale of a stale file: %v, %v; want true, nil", removed, err)
	}
	if _, err := os.Stat(path + PartialSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale file is still there: %v", err)
	}
}
