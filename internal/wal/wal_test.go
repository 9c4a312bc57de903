package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/klauspost/compress/s2"
)

// records are opaque payloads of several sizes, the empty one included.
func records(n int) [][]byte {
	recs := make([][]byte, n)
	for i := range recs {
		recs[i] = bytes.Repeat([]byte{byte('a' + i%26)}, 7*i%40)
	}
	return recs
}

// writeLog writes recs, flushing after each group of perBlock (so that
// each group is one block), and returns where each block ends.
func writeLog(t *testing.T, path string, recs [][]byte, perBlock int) {
	t.Helper()
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range recs {
		if err := w.Append(rec); err != nil {
			t.Fatal(err)
		}
		if (i+1)%perBlock == 0 {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
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

// blockEnds parses a version-2 log's framing (independently of Read) and
// returns the offset where each block ends.
func blockEnds(t *testing.T, data []byte) []int {
	t.Helper()
	var ends []int
	for off := len(fileHeader); off < len(data); {
		n := int(binary.LittleEndian.Uint32(data[off:]))
		off += headerSize + n
		ends = append(ends, off)
	}
	return ends
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
	for _, perBlock := range []int{1, 7, 1000} {
		path := filepath.Join(t.TempDir(), "x.wal")
		want := records(20)
		writeLog(t, path, want, perBlock)
		got, cut := readBack(t, path)
		if cut != 0 {
			t.Errorf("%d per block: cut = %d, want 0", perBlock, cut)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%d per block: round trip differs:\n got %q\nwant %q", perBlock, got, want)
		}
		data, _ := os.ReadFile(path)
		if blocks := len(blockEnds(t, data)); blocks != (20+perBlock-1)/perBlock {
			t.Errorf("%d per block: %d blocks", perBlock, blocks)
		}
		info, _ := os.Stat(path)
		if info.Mode().Perm() != 0o600 {
			t.Errorf("log mode %v, want 0600", info.Mode().Perm())
		}
	}
}

// A block larger than blockSize is written without waiting for Flush, and
// records that repeat themselves (JSON bodies do) take a fraction of their
// size on disk.
func TestBlocksAreCompressed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.wal")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	raw := 0
	for i := 0; raw < 3*blockSize; i++ {
		rec := []byte(fmt.Sprintf(`{"instances":[[%d.5,2.25,3.125]],"predictions":["cat"],"model":"v1"}`, i))
		want = append(want, rec)
		raw += len(rec)
		if err := w.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	if info, _ := os.Stat(path); info.Size() <= int64(len(fileHeader)) {
		t.Errorf("nothing written before Flush after %d bytes of records", raw)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	got, cut := readBack(t, path)
	if cut != 0 || !reflect.DeepEqual(got, want) {
		t.Fatalf("read back %d records (cut %d), want %d", len(got), cut, len(want))
	}
	if info, _ := os.Stat(path); info.Size()*3 > int64(raw) {
		t.Errorf("log is %d bytes for %d bytes of records: want a third or less", info.Size(), raw)
	}
}

// The framing, byte for byte: the file header, then per block its length,
// its CRC-32C and its S2 encoding (the reference encoder's output).
func TestFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.wal")
	writeLog(t, path, [][]byte{[]byte("abc"), {}}, 2)
	got, _ := os.ReadFile(path)
	block := s2.Encode(nil, []byte{3, 'a', 'b', 'c', 0})
	want := []byte{0xff, 'W', 'A', 'L', 2, 0, 0, 0}
	want = binary.LittleEndian.AppendUint32(want, uint32(len(block)))
	want = binary.LittleEndian.AppendUint32(want, crc32.Checksum(block, crc32.MakeTable(crc32.Castagnoli)))
	want = append(want, block...)
	if !bytes.Equal(got, want) {
		t.Errorf("log bytes\n got % x\nwant % x", got, want)
	}
}

// v1Log is a version-1 log of recs, framed by hand as old versions wrote.
func v1Log(recs [][]byte) []byte {
	var b []byte
	for _, r := range recs {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(r)))
		b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(r, crc32.MakeTable(crc32.Castagnoli)))
		b = append(b, r...)
	}
	return b
}

// Logs that older versions wrote, uncompressed and without a file header,
// are still read, and their damaged tails cut record by record.
func TestReadsVersion1Logs(t *testing.T) {
	dir := t.TempDir()
	old := []byte{
		3, 0, 0, 0, 0xb7, 0x3f, 0x4b, 0x36, 'a', 'b', 'c', // length 3, CRC-32C("abc")
		0, 0, 0, 0, 0, 0, 0, 0, // length 0, CRC-32C of nothing
	}
	if !bytes.Equal(v1Log([][]byte{[]byte("abc"), {}}), old) {
		t.Fatal("v1Log does not frame as version 1 did")
	}
	recs := records(10)
	data := v1Log(recs)
	one := len(recs[9]) + headerSize
	for _, tc := range []struct {
		name     string
		mangle   func([]byte) []byte
		wantRecs int
	}{
		{"whole", func(b []byte) []byte { return b }, 10},
		{"torn last record", func(b []byte) []byte { return b[:len(b)-5] }, 9},
		{"torn header", func(b []byte) []byte { return b[:len(b)-one+3] }, 9},
		{"flipped bit in last record", func(b []byte) []byte { b[len(b)-2] ^= 0x40; return b }, 9},
		{"flipped bit in first record", func(b []byte) []byte { b[4] ^= 1; return b }, 0},
		{"huge length", func(b []byte) []byte { b[3] = 0x7f; return b }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".wal")
			mangled := tc.mangle(append([]byte(nil), data...))
			os.WriteFile(p, mangled, 0o600)
			got, cut := readBack(t, p)
			if len(got) != tc.wantRecs || !reflect.DeepEqual(got, recs[:tc.wantRecs]) && tc.wantRecs > 0 {
				t.Fatalf("records = %d, want the first %d", len(got), tc.wantRecs)
			}
			if want := int64(len(mangled) - len(v1Log(recs[:tc.wantRecs]))); cut != want {
				t.Errorf("cut = %d bytes, want %d", cut, want)
			}
		})
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
	writeLog(t, path, recs, 2) // five blocks of two records
	data, _ := os.ReadFile(path)
	ends := blockEnds(t, data)
	last := ends[len(ends)-2] // where the last block starts

	for _, tc := range []struct {
		name       string
		mangle     func([]byte) []byte
		wantBlocks int
	}{
		{"torn last block", func(b []byte) []byte { return b[:len(b)-5] }, 4},
		{"torn block header", func(b []byte) []byte { return b[:last+3] }, 4},
		{"flipped bit in last block", func(b []byte) []byte { b[len(b)-2] ^= 0x40; return b }, 4},
		{"flipped bit in first block", func(b []byte) []byte { b[len(fileHeader)+headerSize] ^= 1; return b }, 0},
		{"huge length", func(b []byte) []byte { b[len(fileHeader)+3] = 0x7f; return b }, 0},
		{"length past the end", func(b []byte) []byte { b[last] += 1; return b }, 4},
		{"garbage after the end", func(b []byte) []byte { return append(b, 1, 2, 3) }, 5},
		{"empty", func(b []byte) []byte { return nil }, 0},
		{"file header alone", func(b []byte) []byte { return b[:len(fileHeader)] }, 0},
		{"torn file header", func(b []byte) []byte { return b[:5] }, 0},
		{"unknown version", func(b []byte) []byte { b[4] = 3; return b }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".wal")
			mangled := tc.mangle(append([]byte(nil), data...))
			os.WriteFile(p, mangled, 0o600)
			got, cut := readBack(t, p)
			wantRecs := 2 * tc.wantBlocks
			if len(got) != wantRecs || !reflect.DeepEqual(got, recs[:wantRecs]) && wantRecs > 0 {
				t.Fatalf("records = %d, want the first %d", len(got), wantRecs)
			}
			good := len(fileHeader)
			if tc.wantBlocks > 0 {
				good = ends[tc.wantBlocks-1]
			}
			switch tc.name {
			case "empty", "file header alone":
				good = len(mangled)
			case "torn file header", "unknown version":
				good = 0
			}
			if want := int64(len(mangled) - good); cut != want {
				t.Errorf("cut = %d bytes, want %d", cut, want)
			}
		})
	}
}

// What fn returns: ErrDamaged cuts there like a bad checksum, from the
// start of the record's block; another error stops Read and comes back as
// is, with nothing counted as cut.
func TestReadCallbackErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.wal")
	recs := records(6)
	writeLog(t, path, recs, 2) // the third record starts the second block
	data, _ := os.ReadFile(path)
	fromSecond := int64(len(data) - blockEnds(t, data)[0])
	stop := errors.New("stop")
	for _, tc := range []struct {
		name      string
		err       error // returned for the third record
		wantCalls int
		wantCut   int64
		wantErr   error
	}{
		{"nil", nil, 6, 0, nil},
		{"ErrDamaged", ErrDamaged, 3, fromSecond, nil},
		{"wrapped ErrDamaged", fmt.Errorf("decode: %w", ErrDamaged), 3, fromSecond, nil},
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

// FuzzRead feeds arbitrary bytes to Read, seeded with logs of both
// versions: never a panic, never more cut than the file holds, and a log
// cut whole keeps no record.
func FuzzRead(f *testing.F) {
	path := filepath.Join(f.TempDir(), "seed.wal")
	w, err := Create(path)
	if err != nil {
		f.Fatal(err)
	}
	for i, rec := range records(12) {
		w.Append(rec)
		if i%5 == 4 {
			w.Flush()
		}
	}
	w.Flush()
	w.Close()
	seed, _ := os.ReadFile(path)
	f.Add(seed)
	f.Add(seed[:len(seed)-4])
	f.Add(v1Log(records(4)))
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "x.wal")
		os.WriteFile(p, data, 0o600)
		n := 0
		cut, err := Read(p, func([]byte) error { n++; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if cut < 0 || cut > int64(len(data)) || (cut == int64(len(data)) && cut > 0 && n > 0) {
			t.Fatalf("%d records read, %d of %d bytes cut", n, cut, len(data))
		}
	})
}
