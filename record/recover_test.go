package record

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/poll"
)

func TestRecoverTurnsLogsIntoParquet(t *testing.T) {
	dir := t.TempDir()
	xs := walExchanges(30)
	// A crash mid-file: the log, and a Parquet file without footer.
	crashed := filepath.Join(dir, "rec-a.parquet")
	writeWAL(t, crashed+WALSuffix, xs)
	f, _ := os.OpenFile(crashed+WALSuffix, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte{1, 2, 3}) // torn tail
	f.Close()
	os.WriteFile(crashed+".partial", []byte("PAR1 no footer"), 0o600)
	// A crash after the rename, before the log was removed.
	done := filepath.Join(dir, "rec-b.parquet")
	writeRecording(t, done, xs[:2])
	writeWAL(t, done+WALSuffix, xs[:2])
	// An empty log: the recorder died before the first row.
	writeWAL(t, filepath.Join(dir, "rec-c.parquet"+WALSuffix), nil)

	recs, err := Recover(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0].Rows != 30 || recs[0].CutBytes != 3 || recs[1].Rows != 0 {
		t.Fatalf("Recover = %+v", recs)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	want := []string{crashed, done}
	if !reflect.DeepEqual(left, want) {
		t.Errorf("files left = %v, want %v", left, want)
	}
	r, err := Open([]string{crashed})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := readAll(t, r)
	if len(got) != 30 || !reflect.DeepEqual(normalized(got[5]), normalized(xs[5])) {
		t.Errorf("recovered %d rows; row 5 = %+v, want %+v", len(got), got[5], xs[5])
	}
	if info, _ := os.Stat(crashed); info.Mode().Perm() != 0o600 {
		t.Errorf("recovered file mode %v, want 0600", info.Mode().Perm())
	}
}

// normalized maps empty slices to nil: Parquet does not tell them apart.
func normalized(x Exchange) Exchange {
	if len(x.RequestHeaders) == 0 {
		x.RequestHeaders = nil
	}
	if len(x.ResponseHeaders) == 0 {
		x.ResponseHeaders = nil
	}
	if len(x.RequestBody) == 0 {
		x.RequestBody = nil
	}
	if len(x.ResponseBody) == 0 {
		x.ResponseBody = nil
	}
	if len(x.ResponseEventNs) == 0 {
		x.ResponseEventNs = nil
	}
	return x
}

func TestSinkKeepsALiveLogThatRecoverLeavesAlone(t *testing.T) {
	dir := t.TempDir()
	s, err := NewSink(SinkOptions{Dir: dir, Instance: "pod-a", RotateInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	xs := walExchanges(5)
	for i := range xs {
		if !s.Offer(&xs[i]) {
			t.Fatal("offer dropped a row")
		}
	}
	// The rows reach the log within about a second of being written.
	var logs []string
	if !poll.Within(10*time.Second, func() bool {
		logs, _ = filepath.Glob(filepath.Join(dir, "*"+WALSuffix))
		if len(logs) != 1 {
			return false
		}
		got, _ := readBack(t, logs[0])
		return len(got) == 5
	}) {
		t.Fatalf("log never held the 5 rows: %v", logs)
	}
	// Another replica starting on the same folder must not take it over.
	recs, err := Recover(dir)
	if err != nil || len(recs) != 0 {
		t.Fatalf("Recover on a live log = %v, %v; want nothing done", recs, err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) != 1 || filepath.Ext(left[0]) != ".parquet" {
		t.Errorf("after Close the folder holds %v, want one finished file and no log", left)
	}
}

// The recordings folder's own name may hold glob characters: the logs a crash
// left there are found all the same (they were looked up with a glob on the
// joined path: "g[1]" matched nothing, "br[" failed), and the sink starts.
func TestRecoverInFoldersWithGlobCharacters(t *testing.T) {
	root := t.TempDir()
	xs := walExchanges(5)
	// What the pattern g[1] would match: must be left alone.
	decoy := filepath.Join(root, "g1")
	os.Mkdir(decoy, 0o700)
	writeWAL(t, filepath.Join(decoy, "rec-d.parquet"+WALSuffix), xs)
	for _, name := range []string{"g[1]", "br[", "a*b", "what?", `back\slash`} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(root, name)
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, "rec-a.parquet")
			writeWAL(t, file+WALSuffix, xs)
			// A sink starting there recovers the log before it records.
			s, err := NewSink(SinkOptions{Dir: dir, Instance: "pod-b", RotateInterval: time.Hour})
			if err != nil {
				t.Fatalf("NewSink: %v", err)
			}
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if left := listNames(t, dir); len(left) != 1 || left[0] != "rec-a.parquet" {
				t.Fatalf("folder holds %v, want only the recovered rec-a.parquet", left)
			}
			if got := readDir(t, dir); len(got) != len(xs) {
				t.Errorf("recovered %d rows, want %d", len(got), len(xs))
			}
		})
	}
	if left := listNames(t, decoy); len(left) != 1 || left[0] != "rec-d.parquet"+WALSuffix {
		t.Errorf("the folder g1 was touched: %v", left)
	}
}

func listNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
