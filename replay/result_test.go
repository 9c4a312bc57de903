package replay

import (
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"
)

func TestResultsRoundTripKeepsBaselineNulls(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.parquet")
	st, lat, e, k := int32(0), int64(7), "dial tcp: connection refused", KindRefused
	now := time.Now().UTC()
	rows := []Result{
		{ID: "a", Method: "POST", Path: "/p", SentAt: now, RecordedStatus: 200, RecordedBody: []byte("{}"), CandidateStatus: 200, CandidateBody: []byte(`{"x":1}`)},
		{ID: "b", Method: "POST", Path: "/p", SentAt: now, CandidateStatus: 500, CandidateErrorKind: KindHTTP5xx,
			BaselineStatus: &st, BaselineLatencyNs: &lat, BaselineError: &e, BaselineErrorKind: &k},
	}
	writeResultRows(t, path, rows)
	got := readResultRows(t, path)
	if len(got) != 2 {
		t.Fatalf("rows = %d, want 2", len(got))
	}
	if got[0].HasBaseline() || got[0].BaselineError != nil || got[0].BaselineBody != nil {
		t.Errorf("row without baseline read back with one: %+v", got[0])
	}
	if !got[1].HasBaseline() || *got[1].BaselineStatus != 0 || *got[1].BaselineLatencyNs != 7 ||
		*got[1].BaselineError != e || *got[1].BaselineErrorKind != KindRefused {
		t.Errorf("baseline side lost: %+v", got[1])
	}
	if string(got[0].CandidateBody) != `{"x":1}` || !got[0].SentAt.Equal(now) {
		t.Errorf("candidate side lost: %+v", got[0])
	}
	if _, err := OpenResults(filepath.Join(t.TempDir(), "none.parquet")); err == nil {
		t.Error("OpenResults of a missing file succeeded")
	}
}

// writeResultRows writes rows as a results file at path (internal/fixture
// has it too, but imports this package).
func writeResultRows(t *testing.T, path string, rows []Result) {
	t.Helper()
	w, err := CreateResults(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// readResultRows reads every row of the results file at path.
func readResultRows(t *testing.T, path string) []Result {
	t.Helper()
	r, err := OpenResults(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var rows []Result
	for {
		x, err := r.Next()
		if errors.Is(err, io.EOF) {
			return rows
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, *x)
	}
}
