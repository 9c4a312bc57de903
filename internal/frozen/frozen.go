// Package frozen finds and writes the files of the top-level testdata/: one
// small file per on-disk format version, as a release of that version wrote
// it, which every later release must still read (testdata/README.md). The
// tests of record, replay and cmd/shadowctl read them.
package frozen

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/parquetfile"
)

var write = flag.Bool("write-fixtures", false, "write the missing frozen files in testdata/ (only for a new format version)")

// Path is the path of the frozen file name, wherever the test runs from.
func Path(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", name)
}

// ID is a fixed id in record.NewID's form: 16 hex digits of the start time,
// then n where NewID has random ones.
func ID(at time.Time, n uint64) string { return fmt.Sprintf("%016x%016x", at.UnixNano(), n) }

// Write writes rows as the frozen file name, with the schema tag and blob
// columns of its format version, when the file does not exist yet and the
// test runs with -write-fixtures (it skips t otherwise). An existing file
// is never rewritten: it stands for what a release wrote.
func Write[T any](t testing.TB, name, schema string, blobs []string, rows []T) {
	t.Helper()
	if !*write {
		t.Skip("run with -write-fixtures to write the missing frozen files")
	}
	path := Path(name)
	if _, err := os.Stat(path); err == nil {
		return
	}
	w, err := parquetfile.Create[T](path, schema, blobs...)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}
