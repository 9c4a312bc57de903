package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shadowctl/shadowctl/internal/fixture"
	"github.com/shadowctl/shadowctl/record"
)

// runCLI runs the root command in process and returns stdout, stderr and the
// exit code main would use.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runCLIContext(context.Background(), t, args...)
}

// runCLIContext is runCLI under ctx: a command that ought to refuse its
// flags at once, but serves instead, stops when ctx ends (exit 130).
func runCLIContext(ctx context.Context, t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := newRootCmd(strings.NewReader(""), &stdout, &stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	code := exitCode(err)
	if err != nil {
		stderr.WriteString(err.Error())
	}
	return stdout.String(), stderr.String(), code
}

func writeInspectFixture(t *testing.T, dir string) {
	t.Helper()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var xs []record.Exchange
	for i := 0; i < 10; i++ {
		x := record.Exchange{ID: record.NewID(base), StartedAt: base.Add(time.Duration(i) * time.Second),
			Method: "POST", Path: "/v1/models/m:predict?x=" + string(rune('a'+i)), Status: 200}
		switch {
		case i == 7:
			x.Method, x.Path = "GET", "/v1/models/m"
		case i == 8:
			x.Status, x.Error = 0, "dial tcp 127.0.0.1:1: connection refused"
		case i == 9:
			x.Status, x.ResponseBodyTruncated = 500, true
		}
		xs = append(xs, x)
	}
	fixture.Recording(t, filepath.Join(dir, "rec-1.parquet"), xs)
	os.WriteFile(filepath.Join(dir, "rec-2.parquet.partial"), []byte("PAR1"), 0o600)
}

func TestInspect(t *testing.T) {
	dir := t.TempDir()
	writeInspectFixture(t, dir)

	out, errOut, code := runCLI(t, "inspect", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"Exchanges: 10 in 1 files",
		"2026-03-01T12:00:00Z .. 2026-03-01T12:00:09Z (9s)",
		"Truncated bodies: 0 requests, 1 responses",
		"Errors: 1",
		"/v1/models/m:predict", "90.0%", "10.0%",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "skipping in-progress file") {
		t.Errorf("no warning about the partial file on stderr: %q", errOut)
	}

	out, _, code = runCLI(t, "inspect", "--format", "json", filepath.Join(dir, "*.parquet"))
	if code != 0 {
		t.Fatalf("json: exit %d", code)
	}
	// Every documented key is there, an empty list too.
	var keys map[string]any
	if err := json.Unmarshal([]byte(out), &keys); err != nil || keys["skipped_in_progress"] == nil {
		t.Errorf("json output lacks skipped_in_progress ([] when none): %v\n%s", err, out)
	}
	var s record.Summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("json output does not parse: %v\n%s", err, out)
	}
	if s.Exchanges != 10 || s.Errors != 1 || s.Truncated.Responses != 1 ||
		s.Methods[0] != (record.Count{Key: "POST", Count: 9}) || s.Paths[0].Count != 9 ||
		s.Statuses[0] != (record.Count{Key: "200", Count: 8}) || len(s.Statuses) != 3 {
		t.Errorf("summary = %+v", s)
	}
}

func TestInspectBadInput(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.parquet")
	os.WriteFile(garbage, []byte("not parquet"), 0o600)
	// A live recorder's folder before its first rotation, and one a
	// SIGKILL left: what is there is said, not "no such file".
	live := filepath.Join(dir, "live")
	os.MkdirAll(live, 0o700)
	os.WriteFile(filepath.Join(live, "rec-a.parquet.partial"), []byte("x"), 0o600)
	crashed := filepath.Join(dir, "crashed")
	os.MkdirAll(crashed, 0o700)
	os.WriteFile(filepath.Join(crashed, "rec-b.parquet.wal"), []byte("x"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"inspect", garbage}, "not a Parquet file"},
		{[]string{"inspect", filepath.Join(dir, "missing")}, "no such file"},
		{[]string{"inspect"}, "requires at least 1 arg"},
		{[]string{"inspect", "--format", "xml", dir}, `--format "xml"`},
		{[]string{"inspect", "--top", "-1", dir}, "--top -1: want 1 or more"},
		{[]string{"inspect", live}, "no finished recording files in " + live + " yet: 1 in progress (" + filepath.Join(live, "rec-a.parquet.partial") + ")"},
		{[]string{"inspect", filepath.Join(live, "rec-a.parquet.partial")}, "yet: 1 in progress"},
		{[]string{"inspect", filepath.Join(live, "*")}, "yet: 1 in progress"},
		{[]string{"inspect", crashed}, "1 write-ahead log(s) a writer left when it did not stop cleanly (" + filepath.Join(crashed, "rec-b.parquet.wal") + "): starting it again on that folder recovers them"},
	} {
		_, errOut, code := runCLI(t, tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

// TestACopiedRecordingIsReadOnce: the same recording in two folders given
// (a backup copy, say) is replayed and inspected once per exchange, with a
// warning that says why rows were skipped.
func TestACopiedRecordingIsReadOnce(t *testing.T) {
	var sent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sent.Add(1)
		w.Write([]byte(`{"y":1}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "rec"), 0o700)
	writeReplayFixture(t, filepath.Join(dir, "rec", "rec.parquet"), 20)
	raw, err := os.ReadFile(filepath.Join(dir, "rec", "rec.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "backup"), 0o700)
	if err := os.WriteFile(filepath.Join(dir, "backup", "rec-copy.parquet"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	recs := []string{filepath.Join(dir, "rec"), filepath.Join(dir, "backup")}

	out := filepath.Join(dir, "results.parquet")
	_, stderr, code := runCLI(t, append([]string{"replay", "--target", srv.URL, "--out", out, "--progress", "never"}, recs...)...)
	if code != 0 {
		t.Fatalf("replay: exit %d: %s", code, stderr)
	}
	if n := sent.Load(); n != 20 {
		t.Errorf("target got %d requests, want 20", n)
	}
	if rows := readResults(t, out); len(rows) != 20 {
		t.Errorf("results hold %d rows, want 20", len(rows))
	}
	if !strings.Contains(stderr, "replayed 20 exchanges") || !strings.Contains(stderr, "duplicates=20") {
		t.Errorf("stderr does not say 20 were replayed and 20 skipped: %s", stderr)
	}

	stdout, stderr, code := runCLI(t, append([]string{"inspect"}, recs...)...)
	if code != 0 || !strings.Contains(stdout, "Exchanges: 20 in 2 files (and 20 rows that repeat") || !strings.Contains(stderr, "duplicates=20") {
		t.Errorf("inspect: exit %d\n%s\n%s", code, stdout, stderr)
	}
	stdout, _, _ = runCLI(t, append([]string{"inspect", "--format", "json"}, recs...)...)
	var s record.Summary
	if err := json.Unmarshal([]byte(stdout), &s); err != nil || s.Exchanges != 20 || s.Duplicates != 20 {
		t.Errorf("inspect json: exchanges %d, duplicates %d (%v), want 20 and 20", s.Exchanges, s.Duplicates, err)
	}
}

// A recorded method and path are the clients': inspect draws their escape
// sequences as text (a path could clear the screen, recolour it or plant
// an OSC 8 link), and clips a long one.
func TestInspectShowsNoControlBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.parquet")
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fixture.Recording(t, path, []record.Exchange{
		{ID: "a", StartedAt: base, Method: "GE\x1b[2JT", Path: "/x\x1b]8;;http://evil.example\a\rOVER\u202eRTL\xff", Status: 200},
		{ID: "b", StartedAt: base.Add(time.Millisecond), Method: "GET", Path: "/" + strings.Repeat("p", 100000), Status: 200},
	})
	out, _, code := runCLI(t, "inspect", path)
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if strings.ContainsAny(out, "\x1b\a\r\u202e") || !utf8.ValidString(out) {
		t.Errorf("inspect wrote control bytes: %q", out)
	}
	for _, want := range []string{`GE\x1b[2JT`, `/x\x1b]8;;http://evil.example\a\rOVER\u202eRTL`} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect does not show %q", want)
		}
	}
	if len(out) > 10000 {
		t.Errorf("inspect wrote %d bytes for two exchanges", len(out))
	}
}
