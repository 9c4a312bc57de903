package shadow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/poll"
	"github.com/shadowctl/shadowctl/internal/spool"
	"github.com/shadowctl/shadowctl/internal/wal"
	"github.com/shadowctl/shadowctl/record"
	"github.com/shadowctl/shadowctl/replay"
)

func resultRow(i int) *replay.Result {
	at := time.Date(2026, 12, 1, 12, 0, i, 0, time.UTC)
	r := &replay.Result{ID: fmt.Sprintf("id-%03d", i), Method: "POST", Path: fmt.Sprintf("/p/%d", i),
		RequestBody: []byte(`{"instances":[1]}`), SentAt: at, RecordedStartedAt: at, RecordedStatus: 200,
		RecordedBody: []byte(`{"user":{"email":"x@y"},"predictions":["cat"]}`), RecordedLatencyNs: 1000 + int64(i),
		CandidateStatus: 200, CandidateBody: []byte(`{"predictions":["dog"]}`), CandidateLatencyNs: 2000}
	if i%7 == 0 {
		r.CandidateStatus, r.CandidateBody, r.CandidateError, r.CandidateErrorKind = 0, nil, "dial tcp: connection refused", replay.KindRefused
	}
	return r
}

func readResultsDir(t *testing.T, dir string) []replay.Result {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "shadow-*.parquet"))
	var out []replay.Result
	for _, f := range files {
		rd, err := replay.OpenResults(f)
		if err != nil {
			t.Fatal(err)
		}
		for {
			r, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, *r)
		}
		rd.Close()
	}
	return out
}

// The live shadow's rows go to results files replay's reader reads.
func TestResultsSpoolWritesResultsFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := spool.New(spool.Options{Dir: dir, Instance: "t"}, ResultsCodec())
	if err != nil {
		t.Fatal(err)
	}
	const n = 30
	for i := range n {
		s.Offer(resultRow(i))
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows := readResultsDir(t, dir)
	if len(rows) != n {
		t.Fatalf("%d rows read back, want %d", len(rows), n)
	}
	for i, r := range rows {
		want := *resultRow(i)
		if want.CandidateBody == nil {
			want.CandidateBody = []byte{}
		}
		if r.CandidateBody == nil {
			r.CandidateBody = []byte{}
		}
		if len(r.RequestHeaders) == 0 {
			r.RequestHeaders = nil // an empty list reads back empty, not nil
		}
		if !reflect.DeepEqual(r, want) {
			t.Fatalf("row %d:\n got %+v\nwant %+v", i, r, want)
		}
	}
	if info, err := os.Stat(filepath.Join(dir, filepath.Base(mustGlob(t, dir)))); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("results file mode %v (%v), want 0600", info.Mode(), err)
	}
}

func mustGlob(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "shadow-*.parquet"))
	if len(files) == 0 {
		t.Fatal("no results file")
	}
	return files[0]
}

// A hard crash leaves the file being written and its log; recovery turns
// the log into a results file holding every row logged.
func TestResultsSpoolRecoversAfterACrash(t *testing.T) {
	dir := t.TempDir()
	s, err := spool.New(spool.Options{Dir: dir, Instance: "t", RotateInterval: time.Hour}, ResultsCodec())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	const n = 25
	for i := range n {
		s.Offer(resultRow(i))
	}
	var logs []string
	poll.Until(t, func() bool {
		logs, _ = filepath.Glob(filepath.Join(dir, "*"+record.WALSuffix))
		if len(logs) != 1 {
			return false
		}
		rows := 0
		_, err := wal.Read(logs[0], func([]byte) error { rows++; return nil })
		return err == nil && rows == n
	})
	crashed := t.TempDir()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(crashed, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := spool.Recover(crashed, ResultsCodec())
	if err != nil || len(recs) != 1 {
		t.Fatalf("Recover = %v, %v; want one file recovered", recs, err)
	}
	rows := readResultsDir(t, crashed)
	if len(rows) != n {
		t.Fatalf("recovered %d rows, want %d", len(rows), n)
	}
	for i, r := range rows {
		if want := resultRow(i); r.ID != want.ID || string(r.RecordedBody) != string(want.RecordedBody) || r.CandidateErrorKind != want.CandidateErrorKind {
			t.Errorf("recovered row %d = %+v", i, r)
		}
	}
}
