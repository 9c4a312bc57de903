package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/poll"
	"github.com/shadowctl/shadowctl/record"
)

// The operator mistakes that used to fail in silence: each is refused at
// start with one line, or now works.

// runCLIWithin runs a command that must refuse its flags at once: if it
// serves instead (the mistake not caught), it is stopped after 10s.
func runCLIWithin(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return runCLIContext(ctx, t, args...)
}

// --upstream naming the recorder itself loops until file descriptors run
// out; user info in --upstream is never sent and shows in the process list.
func TestRecordRefusesAnUpstreamThatIsItselfOrHoldsCredentials(t *testing.T) {
	out := t.TempDir()
	for _, tc := range []struct {
		listen, upstream, want string
	}{
		{"127.0.0.1:8081", "http://127.0.0.1:8081", "--upstream http://127.0.0.1:8081 is --listen 127.0.0.1:8081: the recorder would proxy to itself"},
		{"127.0.0.1:8081", "http://localhost:8081/v1", "would proxy to itself"},
		{":8081", "http://127.0.0.1:8081", "would proxy to itself"},
		{":8081", "http://[::1]:8081", "would proxy to itself"},
		{"localhost:8081", "http://127.0.0.1:8081", "would proxy to itself"},
		{"0.0.0.0:80", "http://localhost", "would proxy to itself"},
		{"127.0.0.1:8081", "http://user:hunter2@127.0.0.1:8080",
			`--upstream "http://user:xxxxx@127.0.0.1:8080": user info is not sent: the proxy forwards each client's own Authorization header`},
		{"127.0.0.1:8081", "http://user@127.0.0.1:8080", "credentials on the command line show in the process list"},
		{"127.0.0.1:8081", "http://127.0.0.1:99999", `--upstream "http://127.0.0.1:99999": port 99999: want 1 to 65535`},
		{"127.0.0.1:8081", "http://127.0.0.1:0", "port 0: want 1 to 65535"},
		{"127.0.0.1:8081", "http://:8080", "want an http:// or https:// URL with a host"},
		{"127.0.0.1:8081", "http://127.0.0.1:8080/base?x=1", "--upstream http://127.0.0.1:8080/base?x=1: a query would be added to every client's request"},
		{"127.0.0.1:8081", "http://127.0.0.1:8080/?", "a query would be added"},
		{"127.0.0.1:8081", "http://127.0.0.1:8080/#frag", "a fragment (#…) is never sent"},
	} {
		_, stderr, code := runCLIWithin(t, "record", "--listen", tc.listen, "--admin", "", "--out", out, "--upstream", tc.upstream)
		if code != exitUsage || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("--listen %s --upstream %s: exit %d, stderr %q; want exit 2 and one line with %q", tc.listen, tc.upstream, code, stderr, tc.want)
		}
		if strings.Contains(stderr, "hunter2") {
			t.Errorf("--upstream %s: the password is printed: %q", tc.upstream, stderr)
		}
	}
}

// An --out meant as a bucket URL that is not one (a scheme we do not
// write, upper case, one slash, no bucket) recorded into a folder named
// like it under the working directory, lost with a Pod's filesystem, while
// the start line said a bucket. Each is a usage error, and nothing is
// created.
func TestRecordRefusesAnOutThatIsNotABucketURL(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, out := range []string{"gcs://bkt/rec", "az://c/x", "S3://bkt/rec", "s3:/bkt/rec", "s3://", "bogus://x"} {
		for _, flag := range []string{"--out", "--shadow-out"} {
			args := []string{"record", "--listen", "127.0.0.1:0", "--admin", "", "--upstream", "http://127.0.0.1:9", flag, out}
			if flag == "--shadow-out" {
				args = append(args, "--shadow", "http://127.0.0.1:9")
			}
			_, stderr, code := runCLIWithin(t, args...)
			want := fmt.Sprintf("%s %q: not a bucket URL shadowctl writes", flag, out)
			if code != exitUsage || !strings.Contains(stderr, want) {
				t.Errorf("%s %s: exit %d, stderr %q; want exit 2 and %q", flag, out, code, stderr, want)
			}
		}
	}
	if left, _ := os.ReadDir("."); len(left) != 0 {
		t.Errorf("the working directory holds %v, want nothing created", left)
	}
}

// An --out the process cannot write stops the recorder at start, exit 1 and
// one line naming the folder and the OS error, before it listens: not a
// recorder that looks ready and drops every row. Tests run as root, which
// permission bits do not stop: the cases are ones root cannot write either.
func TestRecordUnwritableOutFailsAtStart(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	type outCase struct{ out, want string }
	cases := []outCase{
		{filepath.Join(file, "rec"), "create recordings folder " + filepath.Join(file, "rec") + ": mkdir " + file + ": not a directory"},
		{"/dev/null/rec", "create recordings folder /dev/null/rec: mkdir /dev/null: not a directory"},
	}
	if runtime.GOOS == "linux" {
		// procfs and sysfs cannot create files, for anyone.
		cases = append(cases, outCase{"/proc", "recordings folder /proc: not writable: "},
			outCase{"/sys/kernel", "recordings folder /sys/kernel"})
	}
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o500)
		cases = append(cases, outCase{ro, "recordings folder " + ro + ": not writable: permission denied"})
	}
	for _, tc := range cases {
		cmd := exec.Command(bin, "record", "--listen", "127.0.0.1:0", "--admin", "", "--upstream", "http://127.0.0.1:1", "--out", tc.out)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var lines []string
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if listeningLine.MatchString(sc.Text()) {
				cmd.Process.Kill()
				t.Errorf("--out %s: the recorder started: %q", tc.out, sc.Text())
			}
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitFailed || len(lines) != 1 ||
			!strings.HasPrefix(lines[0], "shadowctl: ") || !strings.Contains(lines[0], tc.want) {
			t.Errorf("--out %s: %v, stderr %q; want exit 1 and one line with %q", tc.out, err, lines, tc.want)
		}
	}
}

// A recordings folder whose name holds glob characters: after a SIGKILL the
// next recorder recovers every exchange the log held (the logs were looked
// up with a glob on the joined path: none found in "g[1]", and "br[" did not
// even start), and inspect reads the folder by its name.
func TestRecorderRecoversAfterSIGKILLInAFolderWithGlobCharacters(t *testing.T) {
	bin := buildBinary(t)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"ok":true}`)
	}))
	defer upstream.Close()
	for _, name := range []string{"g[1]", "br["} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, name)
			// What the pattern g[1] would match.
			os.Mkdir(filepath.Join(root, "g1"), 0o700)
			p := startRecorder(t, bin, "--listen", "127.0.0.1:0", "--admin", "", "--upstream", upstream.URL,
				"--out", dir, "--instance", "glob")
			const n = 5
			for i := range n {
				res, err := http.Get(fmt.Sprintf("%s/p%d", p.addr, i))
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
			waitLogRows(t, dir, n)
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = p.cmd.Wait()

			p2 := startRecorder(t, bin, "--listen", "127.0.0.1:0", "--admin", "", "--upstream", upstream.URL,
				"--out", dir, "--instance", "glob2")
			p2.stop(t)
			if !strings.Contains(p2.stderr(), "recovered recording") {
				t.Errorf("second recorder did not recover:\n%s", p2.stderr())
			}
			seen, skipped := readRecordings(t, dir)
			if len(seen) != n || len(skipped) != 0 {
				t.Errorf("after recovery: %d exchanges %v, skipped %v; want %d", len(seen), seen, skipped, n)
			}
			out, errOut, code := runCLI(t, "inspect", dir)
			if code != 0 || !strings.Contains(out, fmt.Sprintf("Exchanges: %d in 1 files", n)) {
				t.Errorf("inspect %s: exit %d %s\n%s", dir, code, errOut, out)
			}
		})
	}
}

// waitLogRows waits until the write-ahead logs in dir hold n rows, read from
// a copy (the live log is locked by its recorder).
func waitLogRows(t *testing.T, dir string, n int64) {
	t.Helper()
	var rows int64
	if !poll.Within(poll.Deadline, func() bool {
		rows = 0
		es, _ := os.ReadDir(dir)
		for _, e := range es {
			if !strings.HasSuffix(e.Name(), record.WALSuffix) {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				continue
			}
			scratch := t.TempDir()
			if os.WriteFile(filepath.Join(scratch, e.Name()), b, 0o600) != nil {
				continue
			}
			recs, _ := record.Recover(scratch)
			for _, r := range recs {
				rows += r.Rows
			}
		}
		return rows >= n
	}) {
		t.Fatalf("the logs in %s hold %d rows after %v, want %d; files: %v", dir, rows, poll.Deadline, n, listDir(t, dir))
	}
}

// A typo in an error kind counted 0 forever and the gate passed: now it is a
// usage error listing the kinds. Unknown keys were refused already.
func TestReportGateOnAnUnknownNameIsAUsageError(t *testing.T) {
	results := filepath.Join(t.TempDir(), "results.parquet")
	writeReportFixture(t, results) // one candidate timeout
	kinds := "body_too_large, canceled, connection_refused, connection_reset, dns, http_4xx, http_5xx, other, stream_incomplete, timeout, tls"
	for _, tc := range []struct {
		gate string
		code int
		want string
	}{
		{"errors.candidate.by_kind.timout > 0", exitUsage,
			`--fail-on "errors.candidate.by_kind.timout > 0": unknown error kind "timout"; errors.candidate.by_kind.* takes one of: ` + kinds},
		{"errors.recorded.by_kind.timeout > 0", exitUsage, "errors.recorded.by_kind.* takes one of: http_4xx, http_5xx, no_response"},
		{"agreement.kinds.lables > 0", exitUsage, `unknown instance kind "lables"; agreement.kinds.* takes one of: embeddings, labels,`},
		{"errors.candidate.by_kind > 0", exitUsage, "is a map of counts, not a number"},
		{"latency_ms.ratio.p98 > 1", exitUsage, `--fail-on "latency_ms.ratio.p98 > 1": bad gate: unknown key "latency_ms.ratio.p98"; did you mean latency_ms.ratio.p90, latency_ms.ratio.p95, latency_ms.ratio.p99, latency_ms.ratio.p50, latency_ms.ratio.p999? (shadowctl report --gate-keys lists all `},
		{"errors.candidat.rate > 0", exitUsage, `unknown key "errors.candidat.rate"`},
		{"errors.candidate.rate > 1", exitUsage,
			`--fail-on "errors.candidate.rate > 1": bad gate: errors.candidate.rate is between 0 and 1, so this gate could never fail; for 1% write 0.01`},
		{"latency_ms.candidate.p99 < -5", exitUsage, "latency_ms.candidate.p99 is never negative, so this gate could never fail"},
		{"errors.candidate.by_kind.timeout > 0", exitFailed, "FAILED: errors.candidate.by_kind.timeout = 1, which is > 0"},
		{"errors.candidate.by_kind.dns > 0", exitOK, ""},
	} {
		out, stderr, code := runCLI(t, "report", "--fail-on", tc.gate, results)
		if code != tc.code || !strings.Contains(stderr+out, tc.want) {
			t.Errorf("--fail-on %q: exit %d, stderr %q; want exit %d and %q", tc.gate, code, stderr, tc.code, tc.want)
		}
		if tc.code == exitUsage && out != "" {
			t.Errorf("--fail-on %q: a report was printed for a usage error:\n%s", tc.gate, out)
		}
	}
}

// Header and target mistakes ran and exited 0 with every row an error, or
// sent requests somewhere else than written: each is refused at start.
func TestReplayRefusesBadHeadersAndTargets(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec.parquet")
	writeReplayFixture(t, rec, 3)
	out := filepath.Join(dir, "results.parquet")
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--header", "X: a\r\nEvil: b"}, `--header "X: a\r\nEvil: b": header X: value holds the control character '\r'`},
		{[]string{"--header", "X: a\r\n"}, `control character '\r'`},
		{[]string{"--header", "X: a\x00b"}, `control character '\x00'`},
		{[]string{"--header", "X: \x1b[31m"}, `control character '\x1b'`},
		{[]string{"--header", "X\x01Y: a"}, `header name "X\x01Y": character '\x01' is not allowed in a name`},
		{[]string{"--header", "X(1): a"}, `character '(' is not allowed in a name`},
		{[]string{"--header", "A: x", "--header", "a: y"}, `--header "a: y": A is given twice; give each header once`},
		{[]string{"--target", "http://127.0.0.1:99999"}, `--target "http://127.0.0.1:99999": port 99999: want 1 to 65535`},
		{[]string{"--target", "http://127.0.0.1:0"}, "port 0: want 1 to 65535"},
		{[]string{"--target", "http://127.0.0.1:1", "--baseline", "http://127.0.0.1:70000"}, `--baseline "http://127.0.0.1:70000": port 70000`},
		{[]string{"--target", "http://user:hunter2@127.0.0.1:1"}, `--target "http://user:xxxxx@127.0.0.1:1": user info in the URL is not sent; remove it ` +
			`(credentials on the command line show in the process list; to authenticate every request, use --header 'Authorization: …')`},
		{[]string{"--target", "http://127.0.0.1:1/v1?key=abc"}, "a query in the base URL is not sent: each request keeps its recorded query"},
		{[]string{"--target", "http://127.0.0.1:1/v1#x"}, "a fragment (#...) is never sent"},
		{[]string{"--target", "ftp://127.0.0.1:1"}, `--target "ftp://127.0.0.1:1": want http:// or https:// and a host`},
		{[]string{"--max-gap", "5s"}, "--max-gap acts only with --speed: give --speed too, or leave --max-gap out"},
	} {
		args := append([]string{"replay", "--target", "http://127.0.0.1:1", "--out", out}, tc.flags...)
		_, stderr, code := runCLI(t, append(args, rec)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "hunter2") {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and %q", tc.flags, code, stderr, tc.want)
		}
		if _, err := os.Stat(out); err == nil {
			os.Remove(out)
			t.Errorf("%q: a results file was written", tc.flags)
		}
	}
}

// A %2F in --target's path is part of a name: it is sent as written, not
// decoded into a slash. A tab in a --header value is allowed.
func TestReplayKeepsTheTargetPathAsWritten(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.RequestURI+" "+r.Header.Get("X-Tab"))
		mu.Unlock()
		w.Write([]byte(`{"y":1}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec.parquet")
	writeReplayFixture(t, rec, 2)
	_, stderr, code := runCLI(t, "replay", "--target", srv.URL+"/models/a%2Fb/", "--header", "X-Tab: a\tb",
		"--out", filepath.Join(dir, "results.parquet"), rec)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := "/models/a%2Fb/v1/predict a\tb"
	if len(got) != 2 || got[0] != want || got[1] != want {
		t.Errorf("the target received %q, want %q twice", got, want)
	}
}
