package replay

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
)

func TestIDSet(t *testing.T) {
	ids := []string{"c", "a", "b", "a"}
	s := NewIDSet(ids)
	for _, c := range []struct {
		set  *IDSet
		id   string
		has  bool
		size int
	}{
		{s, "a", true, 4},
		{s, "b", true, 4},
		{s, "c", true, 4},
		{s, "", false, 4},
		{s, "d", false, 4},
		{s, "aa", false, 4},
		{NewIDSet(nil), "a", false, 0},
		{nil, "a", false, 0}, // a run that resumes nothing
	} {
		if got := c.set.Has(c.id); got != c.has {
			t.Errorf("Has(%q) = %v, want %v", c.id, got, c.has)
		}
		if got := c.set.Len(); got != c.size {
			t.Errorf("Len() = %d, want %d", got, c.size)
		}
	}
}

func readIDs(t *testing.T, path string) []string {
	t.Helper()
	var ids []string
	for _, x := range readResultRows(t, path) {
		ids = append(ids, x.ID)
	}
	return ids
}

func TestResumeAfterInterruptGivesEveryExchangeOnce(t *testing.T) {
	const n = 50
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var count atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if count.Add(1) == 20 {
			cancel() // Ctrl-C in the middle of the first run
		}
		okHandler(w, r)
	}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "results.parquet")
	xs := exchanges(n, "/p")

	run := func(ctx context.Context, resume Resume) (Stats, error) {
		out, err := CreateOutput(path, resume)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := Run(ctx, Options{Target: mustURL(t, srv.URL), Concurrency: 4, Skip: out.Done},
			&sliceSource{xs: xs}, out)
		if cerr := out.Close(); cerr != nil {
			t.Fatal(cerr)
		}
		return sum, err
	}
	sum1, err := run(ctx, Fresh)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: err = %v, want canceled", err)
	}
	first := readIDs(t, path)
	if len(first) == 0 || len(first) >= n || int64(len(first)) != sum1.Sent {
		t.Fatalf("first run wrote %d rows, sent %d; want some but not all of %d", len(first), sum1.Sent, n)
	}
	if _, err := CreateOutput(path, Fresh); !errors.Is(err, ErrExists) {
		t.Errorf("overwrite without resume: err = %v, want ErrExists", err)
	} else if want := path + ": results file exists"; err.Error() != want {
		t.Errorf("overwrite without resume: err = %q, want %q (the file, and no flag)", err, want)
	}

	// A run killed hard leaves its partial file; the finished one is intact.
	out, err := CreateOutput(path, Continue)
	if err != nil {
		t.Fatal(err)
	}
	if got := readIDs(t, path); len(got) != len(first) {
		t.Fatalf("results file changed under a running resume: %d rows, want %d", len(got), len(first))
	}
	// The process "died": its partial file stays, unfinished, and its lock
	// went with it.
	_ = out.Abort()
	if err := os.WriteFile(path+".partial", []byte("PAR1 and no footer"), 0o600); err != nil {
		t.Fatal(err)
	}

	sum2, err := run(context.Background(), Continue)
	if err != nil {
		t.Fatal(err)
	}
	if sum2.Resumed != int64(len(first)) || sum2.Sent != int64(n-len(first)) {
		t.Errorf("resume: resumed %d sent %d, want %d and %d", sum2.Resumed, sum2.Sent, len(first), n-len(first))
	}
	ids := readIDs(t, path)
	sort.Strings(ids)
	want := make([]string, n)
	for i := range want {
		want[i] = xs[i].ID
	}
	if !slices.Equal(ids, want) {
		t.Errorf("after resume the file has %d rows %v…, want each of %d exchanges once", len(ids), ids[:min(5, len(ids))], n)
	}
}

// A results file is a file: a folder, or a name ending in a separator, is
// an error wrapping ErrFolder with or without resume; a missing folder on
// the way to it is created.
func TestCreateOutputNeedsAFileName(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{dir, dir + "/", filepath.Join(dir, "new") + "/"} {
		for _, resume := range []Resume{Fresh, Continue} {
			if out, err := CreateOutput(name, resume); !errors.Is(err, ErrFolder) {
				if out != nil {
					out.Abort()
				}
				t.Errorf("CreateOutput(%q, resume %v): %v, want ErrFolder", name, resume, err)
			}
		}
	}
	name := filepath.Join(dir, "a", "b", "results.parquet")
	out, err := CreateOutput(name, Fresh)
	if err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(name); err != nil {
		t.Errorf("results file not written: %v", err)
	}
}

// RetryUnanswered carries over the rows that got an answer (any status, or
// one too large) and leaves out those the target or the baseline did not
// answer, so their exchanges are sent again.
func TestCreateOutputRetryUnansweredDropsRowsWithoutAnAnswer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.parquet")
	kind := func(s string) *string { return &s }
	status := int32(200)
	rows := []Result{
		{ID: "ok", CandidateStatus: 200, BaselineStatus: &status, BaselineErrorKind: kind("")},
		{ID: "5xx", CandidateStatus: 503, CandidateErrorKind: KindHTTP5xx, BaselineStatus: &status, BaselineErrorKind: kind("")},
		{ID: "4xx", CandidateStatus: 404, CandidateErrorKind: KindHTTP4xx, BaselineStatus: &status, BaselineErrorKind: kind("")},
		{ID: "big", CandidateErrorKind: KindTooLarge, CandidateError: "too large", BaselineStatus: &status, BaselineErrorKind: kind("")},
		{ID: "refused", CandidateErrorKind: KindRefused, CandidateError: "refused", BaselineStatus: &status, BaselineErrorKind: kind("")},
		{ID: "timeout", CandidateErrorKind: KindTimeout, CandidateError: "timeout", BaselineStatus: &status, BaselineErrorKind: kind("")},
		{ID: "canceled", CandidateErrorKind: KindCanceled, CandidateError: "canceled", BaselineStatus: &status, BaselineErrorKind: kind("")},
		{ID: "baseline-reset", CandidateStatus: 200, BaselineStatus: new(int32), BaselineErrorKind: kind(KindReset), BaselineError: kind("reset")},
	}
	writeResultRows(t, path, rows)
	for _, c := range []struct {
		mode    Resume
		kept    []string
		dropped int
	}{
		{Continue, []string{"ok", "5xx", "4xx", "big", "refused", "timeout", "canceled", "baseline-reset"}, 0},
		{RetryUnanswered, []string{"ok", "5xx", "4xx", "big"}, 4},
	} {
		out, err := CreateOutput(path, c.mode)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if want := slices.Contains(c.kept, r.ID); out.Done.Has(r.ID) != want {
				t.Errorf("mode %d: Done.Has(%q) = %v, want %v", c.mode, r.ID, !want, want)
			}
		}
		if out.Dropped != c.dropped || out.DoneWithBaseline != len(c.kept) {
			t.Errorf("mode %d: Dropped %d, DoneWithBaseline %d; want %d and %d", c.mode, out.Dropped, out.DoneWithBaseline, c.dropped, len(c.kept))
		}
		if err := out.Abort(); err != nil {
			t.Fatal(err)
		}
	}
}

// A retry that does not send every row it left out again (interrupted, or
// a --limit) writes the others back as they were: the file never holds
// fewer exchanges than before the retry.
func TestRetryUnansweredKeepsTheRowsNotSentAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.parquet")
	rows := []Result{
		{ID: "a", CandidateStatus: 200},
		{ID: "b", CandidateErrorKind: KindReset, CandidateError: "reset"},
		{ID: "c", CandidateErrorKind: KindTimeout, CandidateError: "timeout"},
	}
	writeResultRows(t, path, rows)
	out, err := CreateOutput(path, RetryUnanswered)
	if err != nil {
		t.Fatal(err)
	}
	// Only b is sent again before the run stops.
	if err := out.Write([]Result{{ID: "b", CandidateStatus: 200}}); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	got := map[string]Result{}
	for _, x := range readResultRows(t, path) {
		got[x.ID] = x
	}
	if len(got) != 3 || got["b"].CandidateStatus != 200 || got["c"].CandidateErrorKind != KindTimeout || got["a"].CandidateStatus != 200 {
		t.Errorf("rows after the stopped retry: %+v; want a as it was, b answered, c still its timeout", got)
	}
}
