// Package parquetfile holds what the recording and results formats share on
// disk: files that appear atomically under their final name, a schema tag in
// the key/value metadata, expanding files, folders and globs, and reading
// untrusted files without panicking.
package parquetfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// PartialSuffix marks a file that is still being written. Readers skip it:
// it has no footer yet, and it is renamed into place once complete.
const PartialSuffix = ".partial"

// WALSuffix ends the name of the write-ahead log beside a file being
// written (internal/spool): FILE.parquet.wal. Readers never read one;
// Expand lists those a crash left.
const WALSuffix = ".wal"

// Ext is the extension of finished files.
const Ext = ".parquet"

// SchemaKey is the key/value metadata key that names a file's format and
// version, e.g. "shadowctl.recording/1".
const SchemaKey = "shadowctl.schema"

// Atomic is a file written under a temporary name and renamed into place by
// Commit, so a reader never sees a half-written file.
type Atomic struct {
	*os.File
	final string
}

// ErrBusy is wrapped by the errors about a partial file that a live writer
// holds (it has its lock): another process is writing the same file.
var ErrBusy = errors.New("another process is writing it")

// errLocked is lock's: another open file holds the lock.
var errLocked = errors.New("locked")

// CreateAtomic creates path+PartialSuffix with mode 0600 (the files hold
// production data) and holds an exclusive lock on it (flock, on Unix)
// until Commit or Abort, so that another writer can tell a live partial
// file from one whose writer died (RemoveStale). Commit renames it to path.
func CreateAtomic(path string) (*Atomic, error) {
	partial := path + PartialSuffix
	f, err := os.OpenFile(partial, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, fs.ErrExist) && Busy(path) {
		return nil, fmt.Errorf("create %s: %w", partial, ErrBusy)
	}
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", partial, err)
	}
	// Between the create and the lock another writer may have taken the
	// new file for a stale one and removed it: then the name is no longer
	// this file's, and that writer's run goes on.
	fi, statErr := os.Stat(partial)
	mine, mineErr := f.Stat()
	if lock(f) != nil || statErr != nil || mineErr != nil || !os.SameFile(fi, mine) {
		f.Close()
		return nil, fmt.Errorf("create %s: %w", partial, ErrBusy)
	}
	return &Atomic{File: f, final: path}, nil
}

// Busy tells whether a live writer holds path+PartialSuffix.
func Busy(path string) bool {
	f, err := os.Open(path + PartialSuffix)
	if err != nil {
		return false
	}
	defer f.Close()
	return lock(f) != nil
}

// RemoveStale removes path+PartialSuffix when no writer holds it: what a
// writer that was killed left, with no footer, which no one can read. It
// tells whether there was one; a live writer's is an error wrapping ErrBusy
// and stays.
func RemoveStale(path string) (bool, error) {
	partial := path + PartialSuffix
	f, err := os.Open(partial)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("remove stale %s: %w", partial, err)
	}
	defer f.Close()
	if lock(f) != nil {
		return false, fmt.Errorf("%s: %w", partial, ErrBusy)
	}
	// Removed while locked: a writer that created it meanwhile sees it was
	// not its own (CreateAtomic).
	if err := os.Remove(partial); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("remove stale %s: %w", partial, err)
	}
	return true, nil
}

// Path is the name the file will have once committed.
func (a *Atomic) Path() string { return a.final }

// Commit syncs the file, closes it and renames it to its final name, then
// syncs the folder so the rename itself survives a crash.
func (a *Atomic) Commit() error {
	tmp := a.File.Name()
	if err := a.File.Sync(); err != nil {
		a.File.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := a.File.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, a.final); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	syncDir(filepath.Dir(a.final))
	return nil
}

// Abort closes and removes the partial file.
func (a *Atomic) Abort() error {
	tmp := a.File.Name()
	err := a.File.Close()
	if rmErr := os.Remove(tmp); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
		err = errors.Join(err, rmErr)
	}
	return err
}

func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	defer d.Close()
	_ = d.Sync() // best effort: some filesystems do not support syncing a folder
}
