package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/fixture"
	"github.com/shadowctl/shadowctl/record"
	"github.com/shadowctl/shadowctl/replay"
)

func writeReplayFixture(t *testing.T, path string, n int) []record.Exchange {
	t.Helper()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	xs := make([]record.Exchange, n)
	for i := range xs {
		at := base.Add(time.Duration(i) * time.Millisecond)
		xs[i] = record.Exchange{ID: fmt.Sprintf("id%04d", i), StartedAt: at, Method: "POST", Path: "/v1/predict",
			RequestHeaders: []record.Header{{Name: "Content-Type", Value: "application/json"}},
			RequestBody:    []byte(fmt.Sprintf(`{"i":%d}`, i)), Status: 200, ResponseBody: []byte(`{"y":1}`)}
	}
	fixture.Recording(t, path, xs)
	return xs
}

func readResults(t *testing.T, path string) []replay.Result {
	t.Helper()
	r, err := replay.OpenResults(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []replay.Result
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

func TestReplayUsageErrors(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec.parquet")
	writeReplayFixture(t, rec, 1)
	results := filepath.Join(dir, "results.parquet")
	fixture.Results(t, results, []replay.Result{{ID: "a", Method: "POST", Path: "/p"}})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"replay", rec}, "--target is required"},
		{[]string{"replay", "--target", "127.0.0.1:9000", rec}, "--target \"127.0.0.1:9000\": want an http:// or https:// URL"},
		{[]string{"replay", "--target", "http://x"}, "requires at least 1 arg"},
		{[]string{"replay", "--target", "http://x", "--rate", "5", "--speed", "2", rec}, "--rate and --speed exclude each other"},
		{[]string{"replay", "--target", "http://x", "--concurrency", "0", rec}, "--concurrency 0"},
		{[]string{"replay", "--target", "http://x", "--rate", "1e-20", rec}, "--rate 1e-20: want 0 (closed loop) or a rate of at least 0.001 requests per second"},
		{[]string{"replay", "--target", "http://x", "--rate", "NaN", rec}, "--rate NaN: want 0"},
		{[]string{"replay", "--target", "http://x", "--rate", "Inf", rec}, "--rate +Inf: want 0"},
		{[]string{"replay", "--target", "http://x", "--speed", "1e-300", rec}, "--speed 1e-300: want 0 (off) or a factor of at least 0.001"},
		{[]string{"replay", "--target", "http://x", "--speed", "NaN", rec}, "--speed NaN: want 0"},
		{[]string{"replay", "--target", "http://x", "--speed", "-Inf", rec}, "--speed -Inf: want 0"},
		// Refused before a slot is made: 100M slots ran out of memory.
		{[]string{"replay", "--target", "http://x", "--concurrency", "10001", rec}, "--concurrency 10001: want at most 10000"},
		{[]string{"replay", "--target", "http://x", "--concurrency", "100000000", rec}, "--concurrency 100000000: want at most 10000"},
		{[]string{"replay", "--target", "http://x", "--header", "NoColon", rec}, "--header \"NoColon\""},
		{[]string{"replay", "--target", "http://x", "--progress", "sometimes", rec}, "--progress \"sometimes\""},
		{[]string{"replay", "--target", "http://x", "--timeout", "0s", rec}, "--timeout 0s"},
		// Checked with a bucket --out too.
		{[]string{"replay", "--target", "http://x", "--out", "s3://bkt/r.parquet", "--timeout", "0s", rec}, "--timeout 0s"},
		{[]string{"replay", "--target", "http://x", "--out", "s3://bkt/r.parquet", "--progress", "sometimes", rec}, "--progress \"sometimes\""},
		{[]string{"replay", "--target", "http://x", "--max-body", "lots", rec}, "--max-body \"lots\": want a size"},
		{[]string{"replay", "--target", "http://x", "--max-body", "0", rec}, "--max-body \"0\""},
		{[]string{"replay", "--target", "http://x", filepath.Join(dir, "none")}, "none"},
		// A recording as --out: said so, and never "remove it".
		{[]string{"replay", "--target", "http://x", "--out", rec, rec}, rec + `: bad input file: it is a "shadowctl.recording/2" file, not results, and a run would replace it`},
		// The library names the file; the command says what to do about it.
		{[]string{"replay", "--target", "http://x", "--out", results, rec}, results + ": results file exists (use --resume to continue it, or remove it)"},
		// Inside a folder of recordings given: a --resume would read it as one.
		{[]string{"replay", "--target", "http://x", "--out", filepath.Join(dir, "sub", "r.parquet"), dir}, "is inside " + dir + ", a folder of recordings given"},
		{[]string{"replay", "--target", "http://x", "--out", filepath.Join(dir, "r.parquet"), "--shard", "0/2", dir + "/"}, "a folder of recordings given"},
	} {
		_, stderr, code := runCLI(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestReplayProgressOnTerminalOnly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.RawQuery, "fail") {
			http.Error(w, "boom", 500)
			return
		}
		w.Write([]byte(`{"y":1}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec.parquet")
	writeReplayFixture(t, rec, 20)
	summary := regexp.MustCompile(`^replayed 20 exchanges in \d+(\.\d+)?(ms|s|µs) \(\d+\.\d/s\): 20 ok, 0 errors$`)
	for _, tc := range []struct {
		name     string
		terminal bool
		progress string
		bar      bool
	}{
		{"terminal", true, "auto", true},
		{"not a terminal", false, "auto", false},
		{"always", false, "always", true},
		{"never", true, "never", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr, stdout bytes.Buffer
			g := &globalOptions{Stdout: &stdout, Stderr: &stderr, StderrIsTerminal: tc.terminal}
			opts := &replayOptions{Target: srv.URL, Out: filepath.Join(t.TempDir(), "r.parquet"), Concurrency: 2,
				MaxGap: time.Second, Timeout: 5 * time.Second, MaxBody: "32MiB", Progress: tc.progress}
			if err := runReplay(context.Background(), g, opts, []string{rec}); err != nil {
				t.Fatal(err)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
			lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
			last := lines[len(lines)-1]
			if !summary.MatchString(last) {
				t.Errorf("last line %q is not the summary", last)
			}
			hasBar := strings.Contains(stderr.String(), "20/20") && strings.Contains(stderr.String(), "replay (0 errors)")
			if hasBar != tc.bar {
				t.Errorf("progress bar shown = %v, want %v:\n%s", hasBar, tc.bar, stderr.String())
			}
			if !tc.bar && len(lines) != 1 {
				t.Errorf("without a bar, want one line, got %q", stderr.String())
			}
		})
	}
}

// TestReplayBinary runs the real binary: input errors, a refusing target, an
// interrupted run resumed, and replaying what `shadowctl record` recorded.
func TestReplayBinary(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec.parquet")
	xs := writeReplayFixture(t, rec, 40)

	t.Run("bad input exits 2", func(t *testing.T) {
		junk := filepath.Join(dir, "junk.parquet")
		os.WriteFile(junk, []byte("not parquet at all"), 0o600)
		foreign := filepath.Join(dir, "foreign.parquet")
		fixture.Results(t, foreign, nil)
		for _, c := range []struct{ file, want string }{
			{junk, "junk.parquet: bad input file: not a Parquet file"},
			{foreign, "foreign.parquet: bad input file: it is a \"shadowctl.results/2\" file"},
		} {
			cmd := exec.Command(bin, "replay", "--target", "http://127.0.0.1:1", "--out", filepath.Join(t.TempDir(), "r.parquet"), c.file)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Errorf("%s: %v, want exit 2", c.file, err)
			}
			if lines := strings.Split(strings.TrimSpace(stderr.String()), "\n"); len(lines) != 1 || !strings.Contains(lines[0], c.want) {
				t.Errorf("%s: stderr %q, want one line with %q", c.file, stderr.String(), c.want)
			}
		}
	})

	t.Run("refused target stops early", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		target := "http://" + ln.Addr().String()
		ln.Close()
		out := filepath.Join(t.TempDir(), "r.parquet")
		cmd := exec.Command(bin, "replay", "--target", target, "--out", out, rec)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err = cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("%v, want exit 1", err)
		}
		if got, want := strings.TrimSpace(stderr.String()), "shadowctl: target "+target+": connection refused"; got != want {
			t.Errorf("stderr %q, want %q", got, want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("results file written for a refusing target: %v", err)
		}
	})

	t.Run("interrupt then resume", func(t *testing.T) {
		var got sync.Map
		var count atomic.Int64
		tenth := make(chan struct{})
		stop := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			got.Store(string(b), true)
			n := count.Add(1)
			if n == 10 {
				close(tenth)
			}
			if n >= 10 {
				select { // hold the rest until the replay is interrupted
				case <-r.Context().Done():
				case <-stop:
				}
			}
			w.Write([]byte(`{"y":2}`))
		}))
		defer srv.Close()
		release := sync.OnceFunc(func() { close(stop) })
		defer release() // before Close, which waits for the handlers
		out := filepath.Join(t.TempDir(), "r.parquet")
		cmd := exec.Command(bin, "replay", "--target", srv.URL, "--out", out, "--concurrency", "2", "--timeout", "1s", rec)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-tenth:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Fatal("replay never sent 10 requests")
		}
		cmd.Process.Signal(syscall.SIGINT)
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Fatalf("%v, want exit 130; stderr:\n%s", err, stderr.String())
		}
		if !strings.Contains(stderr.String(), "continue with --resume") {
			t.Errorf("stderr %q does not say how to continue", stderr.String())
		}
		if strings.Contains(stderr.String(), "context canceled") {
			t.Errorf("stderr %q shows Go's context error to the user", stderr.String())
		}
		first := readResults(t, out)
		if len(first) < 9 || len(first) >= len(xs) {
			t.Fatalf("interrupted run kept %d rows, want 9..%d", len(first), len(xs)-1)
		}
		release()
		cmd = exec.Command(bin, "replay", "--target", srv.URL, "--out", out, "--resume", rec)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("resume: %v\n%s", err, b)
		}
		rows := readResults(t, out)
		ids := make([]string, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
		}
		sort.Strings(ids)
		for i, x := range xs {
			if i >= len(ids) || ids[i] != x.ID {
				t.Fatalf("after resume: %d rows, want each of %d ids once (first difference at %d)", len(ids), len(xs), i)
			}
		}
		if len(ids) != len(xs) {
			t.Errorf("after resume: %d rows, want %d", len(ids), len(xs))
		}
	})

	t.Run("replays what record recorded", func(t *testing.T) {
		upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, `{"v1":%q}`, b)
		}))
		defer upstream.Close()
		var mu sync.Mutex
		seenByCandidate := map[string]string{} // body -> method uri content-type
		candidate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			seenByCandidate[string(b)] = r.Method + " " + r.RequestURI + " " + r.Header.Get("Content-Type") + " " + r.Header.Get("Authorization")
			mu.Unlock()
			fmt.Fprintf(w, `{"v2":%q}`, b)
		}))
		defer candidate.Close()

		recDir := filepath.Join(t.TempDir(), "rec")
		rcmd := exec.Command(bin, "record", "--listen", "127.0.0.1:0", "--admin", "", "--upstream", upstream.URL,
			"--out", recDir, "--instance", "e2e")
		stderr, err := rcmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := rcmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer rcmd.Process.Kill()
		addrCh := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stderr)
			re := regexp.MustCompile(`^recording (http://127\.0\.0\.1:\d+) `)
			for sc.Scan() {
				if m := re.FindStringSubmatch(sc.Text()); m != nil {
					addrCh <- m[1]
				}
			}
		}()
		var addr string
		select {
		case addr = <-addrCh:
		case <-time.After(20 * time.Second):
			t.Fatal("record never said where it listens")
		}
		const n = 25
		for i := range n {
			req, _ := http.NewRequest("POST", fmt.Sprintf("%s/v1/predict?i=%d", addr, i), strings.NewReader(fmt.Sprintf(`{"i":%d}`, i)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer secret")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		rcmd.Process.Signal(syscall.SIGTERM)
		if err := rcmd.Wait(); err != nil {
			t.Fatalf("record: %v", err)
		}

		out := filepath.Join(t.TempDir(), "results.parquet")
		b, err := exec.Command(bin, "replay", "--target", candidate.URL, "--baseline", upstream.URL, "--out", out,
			"--header", "Authorization: Bearer replay", recDir).CombinedOutput()
		if err != nil {
			t.Fatalf("replay: %v\n%s", err, b)
		}
		if want := fmt.Sprintf("replayed %d exchanges", n); !strings.Contains(string(b), want) {
			t.Errorf("output %q lacks %q", b, want)
		}
		rows := readResults(t, out)
		if len(rows) != n {
			t.Fatalf("%d rows, want %d", len(rows), n)
		}
		for _, r := range rows {
			body := string(r.RequestBody)
			want := fmt.Sprintf(`{"v1":%q}`, body)
			if string(r.RecordedBody) != want || string(r.BaselineBody) != want || r.RecordedStatus != 200 ||
				string(r.CandidateBody) != fmt.Sprintf(`{"v2":%q}`, body) || !r.HasBaseline() || *r.BaselineStatus != 200 {
				t.Errorf("row %s: recorded %s baseline %s candidate %s", r.ID, r.RecordedBody, r.BaselineBody, r.CandidateBody)
			}
			i := strings.TrimSuffix(strings.TrimPrefix(body, `{"i":`), "}")
			if got, want := seenByCandidate[body], "POST /v1/predict?i="+i+" application/json Bearer replay"; got != want {
				t.Errorf("candidate saw %q, want %q", got, want)
			}
		}
	})
}
