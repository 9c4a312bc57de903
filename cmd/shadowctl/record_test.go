package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/shadowctl/shadowctl/record"
)

func TestRecordUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"record"}, "--upstream is required"},
		{[]string{"record", "--upstream", "127.0.0.1:8080"}, "want an http:// or https:// URL"},
		{[]string{"record", "--upstream", "http://x", "--listen", "8081"}, "--listen \"8081\""},
		// A port no listener takes is the user's mistake (exit 2), not a
		// failure at run time.
		{[]string{"record", "--upstream", "http://x", "--listen", "127.0.0.1:99999"}, "the port 0 to 65535"},
		{[]string{"record", "--upstream", "http://x", "--listen", ":8081x"}, "--listen \":8081x\""},
		{[]string{"record", "--upstream", "http://x", "--admin", "127.0.0.1:70000"}, "--admin \"127.0.0.1:70000\""},
		{[]string{"record", "--upstream", "http://x", "--rotate-size", "12XB"}, "--rotate-size: size \"12XB\": unknown unit"},
		{[]string{"record", "--upstream", "http://x", "--rotate-size", "10"}, "want at least 1KiB"},
		{[]string{"record", "--upstream", "http://x", "--max-body", "-3"}, "--max-body"},
		{[]string{"record", "--upstream", "http://x", "--sample", "1.5"}, "--sample 1.5"},
		{[]string{"record", "--upstream", "http://x", "--queue", "0"}, "--queue 0"},
		{[]string{"record", "--upstream", "http://x", "--rotate-interval", "0s"}, "--rotate-interval"},
		{[]string{"record", "--upstream", "http://x", "--instance", "a/b"}, "--instance \"a/b\""},
		{[]string{"record", "--upstream", "http://x", "--redact-header", "a b"}, "--redact-header"},
		{[]string{"record", "--upstream", "http://x", "extra"}, "unknown command"},
		{[]string{"record", "--upstream", "http://x", "--admin", "", "--pprof"}, "--pprof serves on --admin"},
	} {
		_, stderr, code := runCLI(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestRecordBinaryStopsCleanly runs the real binary: it serves, records, and
// on SIGTERM finishes the files and prints its summary.
func TestRecordBinaryStopsCleanly(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, `{"echo":%q}`, b)
	}))
	defer upstream.Close()
	out := filepath.Join(dir, "rec")
	cmd := exec.Command(bin, "record", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--upstream", upstream.URL, "--out", out, "--instance", "t1")
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
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("stderr closed")
			}
			return l
		case <-time.After(20 * time.Second):
			t.Fatal("no line on stderr")
		}
		return ""
	}
	var addr string
	listening := regexp.MustCompile(`^recording (http://127\.0\.0\.1:\d+) -> (\S+), files in (.+)$`)
	for addr == "" {
		if m := listening.FindStringSubmatch(next()); m != nil {
			addr = m[1]
			if m[2] != upstream.URL || m[3] != out {
				t.Errorf("listening line names %s and %s", m[2], m[3])
			}
		}
	}
	const n = 50
	for i := range n {
		res, err := http.Post(addr+"/predict?i="+fmt.Sprint(i), "application/json", strings.NewReader(fmt.Sprintf(`{"i":%d}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if want := fmt.Sprintf(`{"echo":"{\"i\":%d}"}`, i); res.StatusCode != 200 || string(body) != want {
			t.Fatalf("got %d %s, want %s", res.StatusCode, body, want)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var summary string
	for l := range lines {
		if strings.HasPrefix(l, "recorded ") {
			summary = l
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) || err != nil {
		t.Fatalf("exit: %v", err)
	}
	if want := fmt.Sprintf("recorded %d exchanges, dropped 0 (queue_full=0, write_error=0, closed=0), 1 files in %s", n, out); summary != want {
		t.Errorf("summary %q, want %q", summary, want)
	}
	r, err := record.Open([]string{out})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var rows int
	for {
		x, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if x.Instance != "t1" || x.Status != 200 || x.Method != "POST" {
			t.Errorf("row %+v", x)
		}
		rows++
	}
	if rows != n || len(r.Skipped()) != 0 {
		t.Errorf("%d rows, skipped %v; want %d", rows, r.Skipped(), n)
	}
}

// --pprof adds the profiler to the admin endpoints, which keep answering.
func TestWithPprof(t *testing.T) {
	admin := record.AdminHandler(record.NewMetrics(), func() bool { return true })
	for _, tc := range []struct {
		handler    http.Handler
		path       string
		code       int
		bodyPrefix string
	}{
		{withPprof(admin), "/debug/pprof/", 200, "<html>"},
		{withPprof(admin), "/debug/pprof/cmdline", 200, ""},
		{withPprof(admin), "/healthz", 200, "ok"},
		{withPprof(admin), "/readyz", 200, "ok"},
		{admin, "/debug/pprof/", 404, ""},
	} {
		srv := httptest.NewServer(tc.handler)
		res, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		srv.Close()
		if res.StatusCode != tc.code || !strings.HasPrefix(strings.TrimSpace(string(body)), tc.bodyPrefix) {
			t.Errorf("GET %s: %d %.40q, want %d and %q…", tc.path, res.StatusCode, body, tc.code, tc.bodyPrefix)
		}
	}
}

// The limits on slow or oversized peers: defaults, parsing and refusals.
func TestRecordPeerLimitFlags(t *testing.T) {
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--client-body-timeout", "-1s"}, "--client-body-timeout -1s: want 0 (no limit) or a positive duration"},
		{[]string{"--upstream-read-timeout", "-5m"}, "--upstream-read-timeout -5m0s: want 0 (no limit) or a positive duration"},
		{[]string{"--client-body-timeout", "soon"}, `invalid argument "soon" for "--client-body-timeout"`},
		{[]string{"--max-upstream-header-bytes", "12XB"}, `--max-upstream-header-bytes: size "12XB": unknown unit`},
		{[]string{"--max-upstream-header-bytes", "512"}, "--max-upstream-header-bytes 512: want between 1KiB and 1GiB"},
		{[]string{"--max-upstream-header-bytes", "2GiB"}, "--max-upstream-header-bytes 2GiB: want between 1KiB and 1GiB"},
		{[]string{"--body-memory", "lots"}, `--body-memory: size "lots"`},
		{[]string{"--body-memory", "64000"}, "--body-memory 64000: want at least 64KiB"},
		{[]string{"--body-memory", "0"}, "--body-memory 0: want at least 64KiB"},
	} {
		args := append([]string{"record", "--upstream", "http://127.0.0.1:1", "--admin", "", "--out", t.TempDir()}, tc.flags...)
		_, stderr, code := runCLIWithin(t, args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.flags, code, stderr, tc.want)
		}
	}

	for _, tc := range []struct {
		flags                    []string
		bodyTimeout, readTimeout time.Duration
		upHeader, bodyMemory     int64
	}{
		{nil, 60 * time.Second, 60 * time.Second, 1 << 20, 128 << 20},
		{[]string{"--client-body-timeout", "0", "--upstream-read-timeout", "0"}, 0, 0, 1 << 20, 128 << 20},
		{[]string{"--client-body-timeout", "5s", "--upstream-read-timeout", "2m", "--max-upstream-header-bytes", "64KiB",
			"--body-memory", "64KiB"}, 5 * time.Second, 2 * time.Minute, 64 << 10, 64 << 10},
		{[]string{"--max-upstream-header-bytes", "1GiB", "--body-memory", "2GB"}, 60 * time.Second, 60 * time.Second, 1 << 30, 2e9},
	} {
		o := &recordOptions{}
		fs := pflag.NewFlagSet("record", pflag.ContinueOnError)
		o.AddFlags(fs)
		if err := fs.Parse(append([]string{"--upstream", "http://127.0.0.1:1"}, tc.flags...)); err != nil {
			t.Fatal(err)
		}
		c, err := o.check()
		if err != nil {
			t.Fatalf("%v: %v", tc.flags, err)
		}
		if o.ClientBodyTimeout != tc.bodyTimeout || o.UpstreamReadTimeout != tc.readTimeout ||
			c.maxUpHeader != tc.upHeader || c.bodyMemory != tc.bodyMemory {
			t.Errorf("%v: body timeout %v, read timeout %v, upstream header %d, body memory %d; want %v %v %d %d", tc.flags,
				o.ClientBodyTimeout, o.UpstreamReadTimeout, c.maxUpHeader, c.bodyMemory,
				tc.bodyTimeout, tc.readTimeout, tc.upHeader, tc.bodyMemory)
		}
	}
}

// With --log-format json every line on stderr is a JSON record, the start
// and summary lines too (they were plain text in the middle of the JSON),
// and they carry their figures as fields. SIGHUP (a closed terminal) stops
// the recorder as SIGTERM does, finalizing its files: it used to kill it.
func TestRecordJSONLogsHaveNoPlainLines(t *testing.T) {
	bin := buildBinary(t)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, `{"ok":true}`)
	}))
	defer upstream.Close()
	out := filepath.Join(t.TempDir(), "rec")
	cmd := exec.Command(bin, "--log-format", "json", "record", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--upstream", upstream.URL, "--out", out, "--shadow", upstream.URL, "--shadow-out", out+"-shadow")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	records := make(chan map[string]any, 100)
	go func() {
		defer close(records)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("a line on stderr is not JSON: %q", sc.Text())
				continue
			}
			records <- m
		}
	}()
	var addr string
	deadline := time.After(20 * time.Second)
	for addr == "" {
		select {
		case m, ok := <-records:
			if !ok {
				t.Fatal("stderr closed before the start line")
			}
			if msg, _ := m["msg"].(string); strings.HasPrefix(msg, "recording http://") {
				addr, _ = m["addr"].(string)
			}
		case <-deadline:
			t.Fatal("no start line")
		}
	}
	for range 3 {
		res, err := http.Post(addr+"/predict", "application/json", strings.NewReader(`{"x":1}`))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var summary map[string]any
	for m := range records {
		if msg, _ := m["msg"].(string); strings.HasPrefix(msg, "recorded ") {
			summary = m
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if summary == nil || summary["recorded"] != 3.0 || summary["dropped"] != 0.0 || summary["level"] != "INFO" {
		t.Errorf("summary record %v, want recorded 3, dropped 0 as fields", summary)
	}
	// Every figure of the line is a field: the drops by reason and the
	// shadow's counts too (they were only in msg).
	for k, want := range map[string]float64{"dropped_queue_full": 0, "dropped_write_error": 0, "dropped_closed": 0,
		"shadow_mirrored": 3, "shadow_compared": 3, "shadow_agreed": 3, "shadow_rows": 3, "shadow_dropped": 0,
		"shadow_dropped_queue_full": 0, "shadow_dropped_unheld": 0, "shadow_dropped_closed": 0, "shadow_dropped_rate_limited": 0,
		"shadow_rows_lost": 0} {
		if got, ok := summary[k]; !ok || got != want {
			t.Errorf("summary field %s = %v (present %v), want %v", k, got, ok, want)
		}
	}
}
