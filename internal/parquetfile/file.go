// Package parquetfile holds what the recording and results formats share on
// disk: files that appear atomically under their final name, a schema tag in
// the key/value metadata, expanding files, folders and globs, and reading
// untrusted files without panicking.
package parquetfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// PartialSuffix marks a file that is still being written. Readers skip it:
// it has no footer yet, and it is renamed into place once complete.
const PartialSuffix = ".partial"

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

// CreateAtomic creates path+PartialSuffix with mode 0600 (the files hold
// production data). Commit renames it to path.
func CreateAtomic(path string) (*Atomic, error) {
	f, err := os.OpenFile(path+PartialSuffix, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path+PartialSuffix, err)
	}
	return &Atomic{File: f, final: path}, nil
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
