package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/poll"
	"github.com/shadowctl/shadowctl/replay"
)

// TestReplayTargetDiesMidRun: the target answers 20 requests and then goes
// away. The failures are rows with an error kind, the run ends normally
// (exit 0) and every exchange has its row.
func TestReplayTargetDiesMidRun(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec.parquet")
	xs := writeReplayFixture(t, rec, 100)
	var count atomic.Int64
	died := make(chan struct{})
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n := count.Add(1); {
		case n > 20:
			// Dead already, but the closing below has not caught up with
			// this connection: cut it as a dying process would.
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
			return
		case n == 20:
			close(died)
		}
		w.Write([]byte(`{"y":1}`))
	}))
	go func() {
		<-died
		srv.Listener.Close() // nothing listens any more: new connections are refused
		srv.CloseClientConnections()
	}()
	defer srv.Close()
	out := filepath.Join(dir, "r.parquet")
	cmd := exec.Command(bin, "replay", "--target", srv.URL, "--out", out, "--concurrency", "1", "--timeout", "2s", rec)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("replay against a dying target: %v, want exit 0\n%s", err, stderr.String())
	}
	rows := readResults(t, out)
	if len(rows) != len(xs) {
		t.Fatalf("%d rows, want %d", len(rows), len(xs))
	}
	kinds := map[string]int{}
	for _, r := range rows {
		kinds[r.CandidateErrorKind]++
		if r.CandidateErrorKind != "" && r.CandidateError == "" {
			t.Errorf("row %s: kind %s without an error message", r.ID, r.CandidateErrorKind)
		}
	}
	failed := kinds[replay.KindRefused] + kinds[replay.KindReset]
	if kinds[""] < 19 || kinds[""] > 21 || failed != len(xs)-kinds[""] {
		t.Errorf("error kinds %v: want about 20 answered and the rest refused or reset", kinds)
	}
	if !strings.Contains(stderr.String(), "errors (") {
		t.Errorf("summary does not count the errors: %s", stderr.String())
	}
}

// TestReplayKilledThenResumed: a run is interrupted (its rows are kept), a
// resumed run is killed with SIGKILL mid-way, and a third run resumes
// again. The results file is never half-written (after the kill it still
// holds exactly the first run's rows), and the final file holds every
// exchange exactly once.
func TestReplayKilledThenResumed(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec.parquet")
	xs := writeReplayFixture(t, rec, 60)
	var (
		mu    sync.Mutex
		gate  = make(chan struct{}) // requests past limit wait for it to close
		limit int64                 // answer this many, then hold
		seen  atomic.Int64
		reach = make(chan int64, 1000)
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		n := seen.Add(1)
		select {
		case reach <- n:
		default:
		}
		mu.Lock()
		l, g := limit, gate
		mu.Unlock()
		if l > 0 && n > l {
			select {
			case <-g:
			case <-r.Context().Done():
				return
			}
		}
		w.Write([]byte(`{"y":1}`))
	}))
	// setLimit releases the held requests and holds those past n (0: none).
	setLimit := func(n int64) {
		mu.Lock()
		defer mu.Unlock()
		close(gate)
		gate, limit = make(chan struct{}), n
	}
	defer srv.Close()
	defer setLimit(0)
	waitSeen := func(n int64) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for seen.Load() < n {
			select {
			case <-reach:
			case <-deadline:
				t.Fatalf("target saw %d requests, waited for %d", seen.Load(), n)
			}
		}
	}
	out := filepath.Join(dir, "r.parquet")
	run := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, append([]string{"replay", "--target", srv.URL, "--out", out, "--concurrency", "2", "--timeout", "30s"}, append(args, rec)...)...)
		cmd.Stderr = &syncBuffer{}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}

	// 1: interrupted after 15 answers: those rows are kept.
	setLimit(15)
	cmd := run()
	waitSeen(16)
	cmd.Process.Signal(syscall.SIGINT)
	// Release the held requests only once replay has seen the interrupt:
	// released earlier, the run could send and finish everything first.
	poll.Until(t, func() bool { return strings.Contains(cmd.Stderr.(*syncBuffer).String(), "interrupted") })
	setLimit(0) // the requests in flight finish
	var ee *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("first run: %v, want exit 130\n%s", err, cmd.Stderr)
	}
	first := readResults(t, out)
	firstBytes, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}

	// 2: resumed, answered 15 more, then killed outright.
	setLimit(seen.Load() + 15)
	cmd = run("--resume")
	waitSeen(seen.Load() + 16)
	cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if now, err := os.ReadFile(out); err != nil || !bytes.Equal(now, firstBytes) {
		t.Fatalf("the kill changed the results file (%v): it must hold the first run's %d rows, whole", err, len(first))
	}

	// 3: resumed again, nothing held: completes.
	setLimit(0)
	cmd = run("--resume")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("second resume: %v\n%s", err, cmd.Stderr)
	}
	if !strings.Contains(cmd.Stderr.(*syncBuffer).String(), "removed the partial results file") {
		t.Errorf("the stale partial file of the killed run was not reported: %s", cmd.Stderr)
	}
	rows := readResults(t, out)
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
		if r.CandidateStatus != 200 {
			t.Errorf("row %s: candidate status %d, kind %q", r.ID, r.CandidateStatus, r.CandidateErrorKind)
		}
	}
	sort.Strings(ids)
	if len(ids) != len(xs) {
		t.Fatalf("%d rows after resuming, want %d", len(ids), len(xs))
	}
	for i, x := range xs {
		if ids[i] != x.ID {
			t.Fatalf("row %d is %s, want %s: every exchange exactly once", i, ids[i], x.ID)
		}
	}
	if _, err := os.Stat(out + ".partial"); !os.IsNotExist(err) {
		t.Errorf("partial file left: %v", err)
	}
}

// syncBuffer is a bytes.Buffer a process writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
