package record

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

func writeRecording(t *testing.T, path string, xs []Exchange) {
	t.Helper()
	w, err := CreateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(xs); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func exchangeAt(base time.Time, ms int, path string) Exchange {
	at := base.Add(time.Duration(ms) * time.Millisecond)
	return Exchange{
		ID: NewID(at), StartedAt: at, Method: "POST", Host: "model", Path: path,
		RequestHeaders: []Header{{"Content-Type", "application/json"}, {"X-Multi", "a"}, {"X-Multi", "b"}},
		RequestBody:    []byte(`{"instances":[[1,2]]}`), Status: 200,
		ResponseBody: []byte{0, 1, 2, 255}, LatencyNs: int64(ms) * 1000,
	}
}

func readAll(t *testing.T, r *Reader) []Exchange {
	t.Helper()
	var out []Exchange
	for {
		x, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, *x)
	}
}

func TestReaderMergesFilesInTimeOrder(t *testing.T) {
	dir := t.TempDir()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// Two replicas whose files overlap in time, rows out of order within a file
	// (the sink writes an exchange when it completes).
	writeRecording(t, filepath.Join(dir, "a.parquet"), []Exchange{
		exchangeAt(base, 5, "/a5"), exchangeAt(base, 1, "/a1"), exchangeAt(base, 9, "/a9"),
	})
	os.Mkdir(filepath.Join(dir, "sub"), 0o700)
	writeRecording(t, filepath.Join(dir, "sub", "b.parquet"), nil) // empty file: allowed
	writeRecording(t, filepath.Join(dir, "c.parquet"), []Exchange{
		exchangeAt(base, 2, "/c2"), exchangeAt(base, 7, "/c7"), exchangeAt(base, 3, "/c3?q=1&q=2"),
	})
	if err := os.WriteFile(filepath.Join(dir, "d.parquet.partial"), []byte("PAR1 half"), 0o600); err != nil {
		t.Fatal(err)
	}

	r, err := Open([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Total() != 6 {
		t.Errorf("Total = %d, want 6", r.Total())
	}
	if got := r.Skipped(); len(got) != 1 || !strings.HasSuffix(got[0], "d.parquet.partial") {
		t.Errorf("Skipped = %v, want the partial file", got)
	}
	got := readAll(t, r)
	var paths []string
	for _, x := range got {
		paths = append(paths, x.Path)
	}
	want := "/a1 /c2 /c3?q=1&q=2 /a5 /c7 /a9"
	if strings.Join(paths, " ") != want {
		t.Fatalf("order = %v, want %s", paths, want)
	}
	x := got[0]
	if !bytes.Equal(x.ResponseBody, []byte{0, 1, 2, 255}) || x.Status != 200 || x.Method != "POST" ||
		!x.StartedAt.Equal(base.Add(time.Millisecond)) || len(x.RequestHeaders) != 3 ||
		x.RequestHeaders[2] != (Header{"X-Multi", "b"}) {
		t.Errorf("round trip lost data: %+v", x)
	}
}

func TestOpenRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.parquet")
	os.WriteFile(garbage, []byte("this is not parquet at all"), 0o600)

	foreign := filepath.Join(dir, "foreign.parquet")
	var buf bytes.Buffer
	type other struct{ A int64 }
	if err := parquet.Write(&buf, []other{{1}}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(foreign, buf.Bytes(), 0o600)

	good := filepath.Join(dir, "good.parquet")
	writeRecording(t, good, []Exchange{exchangeAt(time.Now(), 0, "/")})
	data, _ := os.ReadFile(good)
	truncated := filepath.Join(dir, "truncated.parquet")
	os.WriteFile(truncated, data[:len(data)/2], 0o600)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{garbage}, "not a Parquet file"},
		{[]string{foreign}, "without shadowctl metadata"},
		{[]string{truncated}, "not a Parquet file"},
		{[]string{filepath.Join(dir, "missing.parquet")}, "no such file"},
		{[]string{filepath.Join(dir, "nomatch-*.parquet")}, "no such file"},
		{[]string{t.TempDir()}, "no recording files"},
	} {
		_, err := Open(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%v) = %v, want error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestFilesAreCreatedPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.parquet")
	writeRecording(t, path, []Exchange{exchangeAt(time.Now(), 0, "/")})
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", info.Mode().Perm())
	}
}

func TestHeadersFromRedacts(t *testing.T) {
	h := map[string][]string{"Authorization": {"Bearer s3cret"}, "X-Api-Key": {"k"}, "Accept": {"a", "b"}}
	got := HeadersFrom(h, RedactSet(DefaultRedact))
	want := []Header{{"Accept", "a"}, {"Accept", "b"}, {"Authorization", Redacted}, {"X-Api-Key", Redacted}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("header %d = %v, want %v", i, got[i], want[i])
		}
	}
}

// TestReaderOrdersRowsWithinTheWindow: rows that arrive out of start order
// by less than the reorder window (a slow exchange written after faster
// ones) come out sorted by start time, then ID, over many windows' worth of
// rows, ties included.
func TestReaderOrdersRowsWithinTheWindow(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 5*reorderWindow + 17
	xs := make([]Exchange, n)
	for i := range xs {
		at := base.Add(time.Duration(i/3) * time.Millisecond) // three rows per instant: ties
		xs[i] = Exchange{ID: fmt.Sprintf("id-%05d", rng.IntN(100000)), StartedAt: at, Method: "GET", Path: fmt.Sprintf("/%d", i)}
	}
	want := slices.Clone(xs)
	slices.SortStableFunc(want, func(a, b Exchange) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	// Shuffle within blocks shorter than the window: every row is then
	// fewer than reorderWindow places from where it belongs.
	const block = reorderWindow / 2
	for lo := 0; lo < n; lo += block {
		b := xs[lo:min(lo+block, n)]
		rng.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
	}
	path := filepath.Join(t.TempDir(), "shuffled.parquet")
	writeRecording(t, path, xs)
	r, err := Open([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := readAll(t, r)
	if len(got) != n {
		t.Fatalf("read %d rows, want %d", len(got), n)
	}
	for i := range want {
		if !got[i].StartedAt.Equal(want[i].StartedAt) || got[i].ID != want[i].ID {
			t.Fatalf("row %d = %s %s, want %s %s", i, got[i].StartedAt.Format(time.RFC3339Nano), got[i].ID,
				want[i].StartedAt.Format(time.RFC3339Nano), want[i].ID)
		}
	}
}

// TestReaderReturnsAnExchangeReadTwiceOnce: a recording copied into a
// second folder read (or a file that holds a row twice) gives each exchange
// once, in order, and counts the rows skipped. Rows that share only an ID
// or only a start time are distinct exchanges.
func TestReaderReturnsAnExchangeReadTwiceOnce(t *testing.T) {
	dir := t.TempDir()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := []Exchange{exchangeAt(base, 1, "/1"), exchangeAt(base, 2, "/2"), exchangeAt(base, 3, "/3")}
	sameID := exchangeAt(base, 4, "/4")
	sameID.ID = a[0].ID // same ID, later start: another exchange
	sameTime := exchangeAt(base, 2, "/2b")
	writeRecording(t, filepath.Join(dir, "a.parquet"), a)
	os.Mkdir(filepath.Join(dir, "copy"), 0o700)
	writeRecording(t, filepath.Join(dir, "copy", "a.parquet"), a)
	writeRecording(t, filepath.Join(dir, "b.parquet"), []Exchange{a[2], sameTime, sameID, a[2]})

	r, err := Open([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var paths []string
	for _, x := range readAll(t, r) {
		paths = append(paths, x.Path)
	}
	want := []string{"/1", "/2", "/2b", "/3", "/4"}
	if sameTime.ID < a[1].ID {
		want = []string{"/1", "/2b", "/2", "/3", "/4"}
	}
	if !slices.Equal(paths, want) {
		t.Errorf("read %v, want %v", paths, want)
	}
	if got := r.Duplicates(); got != 5 { // a's three again, and b's two of /3
		t.Errorf("Duplicates = %d, want 5", got)
	}
	if r.Total() != 10 {
		t.Errorf("Total = %d, want the 10 rows of the footers", r.Total())
	}
}
