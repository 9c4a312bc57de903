package record

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/wal"
)

func walExchanges(n int) []Exchange {
	base := time.Date(2026, 5, 6, 7, 8, 9, 10, time.UTC)
	xs := make([]Exchange, n)
	for i := range xs {
		xs[i] = exchangeAt(base, i, "/p?i="+string(rune('a'+i%26)))
		xs[i].Instance = "pod-1"
		xs[i].Error = ""
		if i%3 == 0 {
			xs[i].Error, xs[i].Status = "upstream: connection refused", 0
			xs[i].ResponseBody = nil
		}
		xs[i].RequestBodyTruncated = i%2 == 0
		xs[i].RequestBodySize = int64(100 + i)
	}
	return xs
}

// writeWAL writes xs to a log at path as the sink does: one record each.
func writeWAL(t testing.TB, path string, xs []Exchange) {
	t.Helper()
	l, err := wal.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range xs {
		if err := l.Append(encodeExchange(nil, &xs[i])); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	l.Close()
}

// readWAL reads a log as Recover does: a record that does not decode is cut
// like a damaged one (decodeExchange's error wraps wal.ErrDamaged).
func readWAL(path string, fn func(*Exchange) error) (cut int64, err error) {
	return wal.Read(path, func(rec []byte) error {
		var x Exchange
		if err := decodeExchange(rec, &x); err != nil {
			return err
		}
		return fn(&x)
	})
}

func readBack(t *testing.T, path string) ([]Exchange, int64) {
	t.Helper()
	var got []Exchange
	cut, err := readWAL(path, func(x *Exchange) error { got = append(got, *x); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return got, cut
}

func TestWALRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.parquet.wal")
	want := walExchanges(20)
	writeWAL(t, path, want)
	got, cut := readBack(t, path)
	if cut != 0 {
		t.Errorf("cut = %d, want 0", cut)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", got[0], want[0])
	}
}

// A record whose frame and checksum are good but whose payload is not an
// Exchange (another encoding version, say) is cut like a damaged one.
func TestWALCutsRecordThatDoesNotDecode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.parquet.wal")
	xs := walExchanges(3)
	l, err := wal.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	good := encodeExchange(nil, &xs[0])
	bad := encodeExchange(nil, &xs[1])
	bad[0] = 3 // a version this code does not know
	for _, rec := range [][]byte{good, bad, encodeExchange(nil, &xs[2])} {
		if err := l.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	l.Flush()
	l.Close()
	got, cut := readBack(t, path)
	info, _ := os.Stat(path)
	if len(got) != 1 || !reflect.DeepEqual(got[0], xs[0]) {
		t.Errorf("read %d rows, want the first one only", len(got))
	}
	// The three records are one block, cut whole from its start (just past
	// the log's 8-byte file header).
	if want := info.Size() - 8; cut != want {
		t.Errorf("cut = %d bytes, want %d", cut, want)
	}
}

// walFixture is a log written by the code that framed and encoded in one
// file (before internal/wal): three records of v1Exchanges, nothing cut.
const walFixture = "testdata/wal/v1.parquet.wal"

// v1Exchanges are the rows in walFixture: a full exchange, a failed one
// (no status, no response, no headers) and one with truncated bodies.
func v1Exchanges() []Exchange {
	at := time.Date(2026, 5, 6, 7, 8, 9, 10, time.UTC)
	return []Exchange{{
		ID: "0000000000000001a1b2c3d4e5f60718", StartedAt: at, Method: "POST", Host: "model", Path: "/v1/predict?x=1",
		RequestHeaders: []Header{{"Content-Type", "application/json"}, {"X-Multi", "a"}, {"X-Multi", "b"}},
		RequestBody:    []byte(`{"instances":[[1,2]]}`), RequestBodySize: 21, Status: 200,
		ResponseHeaders: []Header{{"Content-Type", "application/json"}},
		ResponseBody:    []byte{0, 1, 2, 255}, ResponseBodySize: 4, LatencyNs: 1234567, Instance: "pod-1",
	}, {
		ID: "0000000000000002a1b2c3d4e5f60718", StartedAt: at.Add(time.Millisecond), Method: "GET", Host: "model", Path: "/healthz",
		LatencyNs: 30000000000, Error: "upstream: connection refused", Instance: "pod-1",
	}, {
		ID: "0000000000000003a1b2c3d4e5f60718", StartedAt: at.Add(-time.Hour), Method: "PUT", Host: "model:8080", Path: "/ü",
		RequestHeaders: []Header{{"Authorization", Redacted}},
		RequestBody:    []byte("ab"), RequestBodyTruncated: true, RequestBodySize: 1 << 20, Status: 503,
		ResponseBody: []byte("c"), ResponseBodyTruncated: true, ResponseBodySize: 1 << 33, LatencyNs: -1,
		Error: ErrorClientCanceled, Instance: "",
	}}
}

// Logs written before the framing moved to internal/wal read back, and the
// code wrote the very same bytes until encoding version 2 added the answer
// timing: the same rows now encode as version 2, which only appends the
// timing to each record.
func TestWALFormatUnchanged(t *testing.T) {
	old, err := os.ReadFile(walFixture)
	if err != nil {
		t.Fatal(err)
	}
	want := v1Exchanges()
	got, cut := readBack(t, walFixture)
	if cut != 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("old log read back %d rows, cut %d:\n got %+v\nwant %+v", len(got), cut, got, want)
	}
	path := filepath.Join(t.TempDir(), "new.parquet.wal")
	writeWAL(t, path, want)
	for i := range want {
		v1 := encodeV1(t, old, i)
		v2 := encodeExchange(nil, &want[i])
		// Version byte, the v1 fields, then first byte 0, 0 events, no
		// event times: three zero varints.
		if v2[0] != 2 || !bytes.Equal(v2[1:len(v2)-3], v1[1:]) || !bytes.Equal(v2[len(v2)-3:], []byte{0, 0, 0}) {
			t.Errorf("row %d encodes to % x, want version 2 of % x", i, v2, v1)
		}
	}
	timed := want[0]
	timed.ResponseFirstByteNs, timed.ResponseEvents, timed.ResponseEventNs = 1500, 3, []int64{2000, 3000, 1 << 40}
	var back Exchange
	if err := decodeExchange(encodeExchange(nil, &timed), &back); err != nil || !reflect.DeepEqual(back, timed) {
		t.Errorf("timed row decodes to %+v, %v", back, err)
	}
}

// encodeV1 is record i of a log written with encoding version 1: frames of
// a 4-byte length, a 4-byte checksum and the record.
func encodeV1(t *testing.T, log []byte, i int) []byte {
	t.Helper()
	for ; ; i-- {
		if len(log) < 8 {
			t.Fatal("short log")
		}
		n := int(log[0]) | int(log[1])<<8 | int(log[2])<<16 | int(log[3])<<24
		if i == 0 {
			return log[8 : 8+n]
		}
		log = log[8+n:]
	}
}

// An old log left by a crash, with a torn tail, recovers into Parquet.
func TestRecoverOldLog(t *testing.T) {
	dir := t.TempDir()
	old, err := os.ReadFile(walFixture)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "rec-old.parquet")
	os.WriteFile(file+WALSuffix, append(old, 9, 0, 0, 0, 1), 0o600)
	recs, err := Recover(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Rows != 3 || recs[0].CutBytes != 5 || recs[0].File != file {
		t.Fatalf("Recover = %+v, want 3 rows into %s and 5 bytes cut", recs, file)
	}
	r, err := Open([]string{file})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := readAll(t, r)
	want := v1Exchanges()
	// The reader merges in time order: the third row started an hour earlier.
	want = []Exchange{want[2], want[0], want[1]}
	if len(got) != len(want) {
		t.Fatalf("recovered %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(normalized(got[i]), normalized(want[i])) {
			t.Errorf("row %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
