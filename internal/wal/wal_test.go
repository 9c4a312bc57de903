package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// records are opaque payloads of several sizes, the empty one included.
func records(n int) [][]byte {
	recs := make([][]byte, n)
	for i := range recs {
		recs[i] = bytes.Repeat([]byte{byte('a' + i%26)}, 7*i%40)
	}
	return recs
}

func writeLog(t *testing.T, path string, recs [][]byte) {
	t.Helper()
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if err := w.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func readBack(t *testing.T, path string) ([][]byte, int64) {
	t.Helper()
	var got [][]byte
	cut, err := Read(path, func(rec []byte) error {
		got = append(got, append([]byte{}, rec...))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, cut
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.wal")
	want := records(20)
	writeLog(t, path, want)
	got, cut := readBack(t, path)
	if cut != 0 {
		t.Errorf("cut = %d, want 0", cut)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip differs:\n got %q\nwant %q", got, want)
	}
	info, _ := os.Stat(path)
	if size := int64(20*headerSize + len(bytes.Join(want, nil))); info.Size() != size {
		t.Errorf("log is %d bytes, want %d (a header and the payload per record)", info.Size(), size)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("log mode %v, want 0600", info.Mode().Perm())
	}
}

// The framing, byte for byte: what old logs hold and new code must read.
func TestFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.wal")
	writeLog(t, path, [][]byte{[]byte("abc"), {}})
	got, _ := os.ReadFile(path)
	want := []byte{
		3, 0, 0, 0, 0xb7, 0x3f, 0x4b, 0x36, 'a', 'b', 'c', // length 3, CRC-32C("abc")
		0, 0, 0, 0, 0, 0, 0, 0, // length 0, CRC-32C of nothing
	}
	if !bytes.Equal(got, want) {
		t.Errorf("log bytes\n got % x\nwant % x", got, want)
	}
}

func TestCreateRefusesAnExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.wal")
	os.WriteFile(path, []byte("keep"), 0o600)
	if _, err := Create(path); !errors.Is(err, os.ErrExist) {
		t.Fatalf("Create over a file = %v, want os.ErrExist", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "keep" {
		t.Errorf("file now holds %q", b)
	}
}

func TestCutsDamagedTail(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.wal")
	recs := records(10)
	writeLog(t, path, recs)
	data, _ := os.ReadFile(path)
	one := len(recs[9]) + headerSize // the last record

	for _, tc := range []struct {
		name     string
		mangle   func([]byte) []byte
		wantRecs int
	}{
		{"torn last record", func(b []byte) []byte { return b[:len(b)-5] }, 9},
		{"torn header", func(b []byte) []byte { return b[:len(b)-one+3] }, 9},
		{"flipped bit in last record", func(b []byte) []byte { b[len(b)-2] ^= 0x40; return b }, 9},
		{"flipped bit in first record", func(b []byte) []byte { b[4] ^= 1; return b }, 0},
		{"huge length", func(b []byte) []byte { b[3] = 0x7f; return b }, 0},
		{"length past the end", func(b []byte) []byte { b[len(b)-one] += 1; return b }, 9},
		{"garbage after the end", func(b []byte) []byte { return append(b, 1, 2, 3) }, 10},
		{"empty", func(b []byte) []byte { return nil }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".wal")
			mangled := tc.mangle(append([]byte(nil), data...))
			os.WriteFile(p, mangled, 0o600)
			got, cut := readBack(t, p)
			if len(got) != tc.wantRecs {
				t.Fatalf("records = %d, want %d", len(got), tc.wantRecs)
			}
			good := 0
			for i := 0; i < tc.wantRecs; i++ {
				good += len(recs[i]) + headerSize
			}
			if want := int64(len(mangled) - good); cut != want {
				t.Errorf("cut = %d bytes, want %d", cut, want)
			}
			if !reflect.DeepEqual(got, recs[:tc.wantRecs]) && tc.wantRecs > 0 {
				t.Error("surviving records differ")
			}
		})
	}
}

// What fn returns: ErrDamaged cuts there like a bad checksum; another error
// stops Read and comes back as is, with nothing counted as cut.
func TestReadCallbackErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.wal")
	recs := records(5)
	writeLog(t, path, recs)
	info, _ := os.Stat(path)
	stop := errors.New("stop")
	for _, tc := range []struct {
		name      string
		err       error // returned for the third record
		wantCalls int
		wantCut   int64
		wantErr   error
	}{
		{"nil", nil, 5, 0, nil},
		{"ErrDamaged", ErrDamaged, 3, info.Size() - int64(len(recs[0])+len(recs[1])+2*headerSize), nil},
		{"wrapped ErrDamaged", fmt.Errorf("decode: %w", ErrDamaged), 3, info.Size() - int64(len(recs[0])+len(recs[1])+2*headerSize), nil},
		{"other", stop, 3, 0, stop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			cut, err := Read(path, func([]byte) error {
				calls++
				if calls == 3 {
					return tc.err
				}
				return nil
			})
			if calls != tc.wantCalls || cut != tc.wantCut || err != tc.wantErr {
				t.Errorf("calls %d, cut %d, err %v; want %d, %d, %v", calls, cut, err, tc.wantCalls, tc.wantCut, tc.wantErr)
			}
		})
	}
}

func TestReadMissingLog(t *testing.T) {
	_, err := Read(filepath.Join(t.TempDir(), "none.wal"), func([]byte) error { return nil })
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Read of a missing log = %v, want os.ErrNotExist", err)
	}
}

func TestRemove(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.wal")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w.Append([]byte("x"))
	if err := w.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("log still there after Remove: %v", err)
	}
}
