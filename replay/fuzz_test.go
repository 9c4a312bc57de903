package replay

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/shadowctl/shadowctl/internal/parquetfile"
)

// FuzzReadResults feeds arbitrary bytes to the results reader as a file: it
// returns rows or an error wrapping parquetfile.ErrFormat, never a panic or
// a hang. Seeds in testdata/fuzz/FuzzReadResults: a valid file, truncated
// and bit-flipped copies, a recording (foreign schema), an empty file.
func FuzzReadResults(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("PAR1PAR1"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.parquet")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := OpenResults(path)
		if err != nil {
			if !errors.Is(err, parquetfile.ErrFormat) {
				t.Fatalf("error does not say the file is bad: %v", err)
			}
			return
		}
		defer r.Close()
		for i := 0; i < 100000; i++ {
			if _, err := r.Next(); err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, parquetfile.ErrFormat) {
					t.Fatalf("error does not say the file is bad: %v", err)
				}
				return
			}
		}
	})
}
