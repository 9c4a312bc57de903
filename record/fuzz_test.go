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
// a panic, no more than the file is cut, and what survives, logged again,
// reads back the same.
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
		var good []Exchange
		cut, err := readWAL(p, func(x *Exchange) error {
			good = append(good, *x)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if cut < 0 || cut > int64(len(data)) || (cut == int64(len(data)) && len(good) > 0) {
			t.Fatalf("%d rows survive, %d of %d bytes cut", len(good), cut, len(data))
		}
		again := filepath.Join(dir, "again.wal")
		os.Remove(again)
		writeWAL(t, again, good)
		var back []Exchange
		if _, err := readWAL(again, func(x *Exchange) error { back = append(back, *x); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(back) != len(good) {
			t.Fatalf("%d rows logged again, %d read back", len(good), len(back))
		}
		for i := range good {
			if !bytes.Equal(encodeExchange(nil, &good[i]), encodeExchange(nil, &back[i])) {
				t.Fatalf("row %d differs once logged again", i)
			}
		}
	})
}
