package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// A first Ctrl-C says how many requests are in flight and that another
// abandons them; the second abandons them at once, far within --timeout:
// the rows done are finalized (--resume continues after them), the
// abandoned ones are not written, and the exit code is 130.
func TestReplaySecondInterruptAbandonsInFlight(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec.parquet")
	xs := writeReplayFixture(t, rec, 40)
	var count atomic.Int64
	held := make(chan struct{})
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := count.Add(1)
		if n > 6 && n <= 10 { // the 7th to the 10th hang until the client goes away
			if n == 10 {
				close(held)
			}
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		w.Write([]byte(`{"y":2}`))
	}))
	defer srv.Close()
	releaseOnce := sync.OnceFunc(func() { close(release) })
	defer releaseOnce() // before Close, which waits for the handlers

	out := filepath.Join(dir, "results.parquet")
	cmd := exec.Command(bin, "replay", "--target", srv.URL, "--out", out, "--concurrency", "4", "--timeout", "1m",
		"--progress", "never", rec)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, stderr)
	}()
	var all []string
	waitFor := func(what string) string {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("replay ended before %q; stderr:\n%s", what, strings.Join(all, "\n"))
				}
				all = append(all, l)
				if strings.Contains(l, what) {
					return l
				}
			case <-deadline:
				t.Fatalf("no %q in time; stderr:\n%s", what, strings.Join(all, "\n"))
			}
		}
	}
	select {
	case <-held:
	case <-time.After(20 * time.Second):
		t.Fatal("replay never had 4 requests in flight")
	}
	cmd.Process.Signal(syscall.SIGINT)
	note := waitFor("Ctrl-C again abandons them")
	if !strings.Contains(note, "interrupted: waiting for the requests in flight") || !strings.Contains(note, "in_flight=4") ||
		!strings.Contains(note, "timeout=1m0s") {
		t.Errorf("first interrupt logged %q, want the 4 in flight and the 1m0s --timeout", note)
	}
	second := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	for l := range lines {
		all = append(all, l)
	}
	err = cmd.Wait()
	if el := time.Since(second); el > 20*time.Second {
		t.Errorf("exited %v after the second Ctrl-C: the requests in flight were waited for", el)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("%v, want exit 130; stderr:\n%s", err, strings.Join(all, "\n"))
	}
	last := all[len(all)-1]
	for _, want := range []string{"replay interrupted after 6 exchanges, 4 requests in flight abandoned; 6 rows kept in " + out, "continue with --resume"} {
		if !strings.Contains(last, want) {
			t.Errorf("last line %q lacks %q", last, want)
		}
	}
	rows := readResults(t, out)
	if len(rows) != 6 {
		t.Fatalf("%d rows kept, want the 6 answered", len(rows))
	}
	for _, r := range rows {
		if r.CandidateStatus != 200 || r.CandidateErrorKind != "" {
			t.Errorf("row %s kept with status %d, kind %q: an abandoned request was written", r.ID, r.CandidateStatus, r.CandidateErrorKind)
		}
	}

	releaseOnce()
	if b, err := exec.Command(bin, "replay", "--target", srv.URL, "--out", out, "--resume", "--progress", "never", rec).CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, b)
	}
	seen := map[string]bool{}
	for _, r := range readResults(t, out) {
		if seen[r.ID] {
			t.Errorf("row %s twice after resume", r.ID)
		}
		seen[r.ID] = true
	}
	if len(seen) != len(xs) {
		t.Errorf("after resume: %d exchanges, want %d", len(seen), len(xs))
	}
}

// An interrupt before any answer came leaves no results file: an empty one
// would only make the next run refuse --out without --resume. One with rows
// resumed keeps them.
func TestReplayInterruptedBeforeAnyAnswerWritesNoFile(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"y":1}`)) }))
	defer srv.Close()
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec.parquet")
	writeReplayFixture(t, rec, 5)
	out := filepath.Join(dir, "results.parquet")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, stderr, code := runCLIContext(ctx, t, "replay", "--target", srv.URL, "--out", out, "--progress", "never", rec)
	if code != 130 || !strings.Contains(stderr, "no results file written") || !strings.Contains(stderr, "replayed 0 exchanges in ") {
		t.Errorf("exit %d, stderr %q; want 130, the summary line, and no results file written", code, stderr)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("results file after an interrupt before any answer: %v", err)
	}
	if _, stderr, code := runCLI(t, "replay", "--target", srv.URL, "--out", out, "--progress", "never", rec); code != 0 {
		t.Fatalf("the run after: exit %d: %s", code, stderr)
	}
	_, stderr, code = runCLIContext(ctx, t, "replay", "--resume", "--target", srv.URL, "--out", out, "--progress", "never", rec)
	if rows := readResults(t, out); len(rows) != 5 {
		t.Errorf("an interrupted --resume left %d rows (exit %d: %s), want the 5 resumed", len(rows), code, stderr)
	}
	// The summary counts every row carried over, not only those the
	// recording's merge had reached when the interrupt came.
	if !strings.Contains(stderr, "; 5 already done (resumed)") {
		t.Errorf("an interrupted --resume said %q; want its summary to count the 5 done", stderr)
	}
}

// A target that failed some requests (here it reset them) is fixed, and
// --resume --retry-errors sends exactly those again: every exchange ends
// with one row, answered. --retry-errors alone is a usage error.
func TestReplayResumeRetriesTheUnansweredRows(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec.parquet")
	writeReplayFixture(t, rec, 20)
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var v struct{ I int }
		json.Unmarshal(b, &v)
		if v.I%4 == 0 { // 0, 4, 8, 12, 16: the connection is reset
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			}
			return
		}
		http.Error(w, "busy", 503) // an answer: kept
	}))
	defer flaky.Close()
	var again atomic.Int64
	fixed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		again.Add(1)
		w.Write([]byte(`{"y":1}`))
	}))
	defer fixed.Close()
	out := filepath.Join(dir, "results.parquet")
	if _, stderr, code := runCLI(t, "replay", "--target", flaky.URL, "--out", out, "--progress", "never", rec); code != 0 {
		t.Fatalf("first run: exit %d: %s", code, stderr)
	}
	_, stderr, code := runCLI(t, "replay", "--retry-errors", "--target", fixed.URL, "--out", out, rec)
	if code != exitUsage || !strings.Contains(stderr, "--retry-errors goes with --resume") {
		t.Errorf("--retry-errors without --resume: exit %d, %q", code, stderr)
	}
	_, stderr, code = runCLI(t, "replay", "--resume", "--retry-errors", "--target", fixed.URL, "--out", out, "--progress", "never", rec)
	if code != 0 || !strings.Contains(stderr, "done=15 retrying_unanswered=5") {
		t.Fatalf("retry run: exit %d: %s", code, stderr)
	}
	if n := again.Load(); n != 5 {
		t.Errorf("the fixed target got %d requests, want the 5 reset", n)
	}
	rows := readResults(t, out)
	seen := map[string]bool{}
	statuses := map[int32]int{}
	for _, r := range rows {
		if seen[r.ID] {
			t.Errorf("exchange %s has two rows", r.ID)
		}
		seen[r.ID] = true
		statuses[r.CandidateStatus]++
		if r.Unanswered() {
			t.Errorf("row %s still unanswered: %s", r.ID, r.CandidateError)
		}
	}
	if len(rows) != 20 || statuses[200] != 5 || statuses[503] != 15 {
		t.Errorf("%d rows, statuses %v; want 20: 5 answered 200 on retry, the 15 503s kept", len(rows), statuses)
	}
}
