package parquetfile

import (
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
)

// A file that is not there is named once in the error, which still says
// it does not exist (a report whose file went between its two passes).
func TestOpenMissingNamesTheFileOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gone.parquet")
	_, err := Open[struct{ A int64 }](path, "x")
	if want := "open " + path + ": no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("Open = %v, want %q", err, want)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open = %v, not fs.ErrNotExist", err)
	}
}
