package record

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzReadRecording feeds arbitrary bytes to the recording reader as a file:
// it must return rows or an error, never panic or hang. Seeds in
// testdata/fuzz/FuzzReadRecording: a valid file, truncated and bit-flipped
// copies, a foreign Parquet file, an empty file.
func FuzzReadRecording(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("PAR1"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.parquet")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := Open([]string{path})
		if err != nil {
			return
		}
		defer r.Close()
		for i := 0; i < 100000; i++ {
			if _, err := r.Next(); err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, ErrFormat) {
					t.Fatalf("error does not say the file is bad: %v", err)
				}
				return
			}
		}
	})
}

// FuzzWAL feeds arbitrary bytes to log recovery: a damaged log is cut, never
// a panic, and what survives re-encodes to the same bytes.
func FuzzWAL(f *testing.F) {
	var buf bytes.Buffer
	path := filepath.Join(f.TempDir(), "seed.wal")
	writeWAL(f, path, []Exchange{exchangeAt(time.Unix(1, 0), 1, "/a"), exchangeAt(time.Unix(1, 0), 2, "/b")})
	data, _ := os.ReadFile(path)
	buf.Write(data)
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:buf.Len()-3])
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "x.wal")
		os.WriteFile(p, data, 0o600)
		var good int64
		cut, err := readWAL(p, func(x *Exchange) error {
			good += int64(len(encodeExchange(nil, x))) + 8
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if good+cut != int64(len(data)) {
			t.Fatalf("good %d + cut %d != size %d", good, cut, len(data))
		}
	})
}
