package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// A resumed file keeps one shape: rows with a baseline side, or rows
// without. A run that would add the other kind is refused before it sends
// anything, and the file stays as it was.
func TestResumeRefusesAnotherBaselineSetting(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Write([]byte(`{"y":1}`))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name        string
		first, then []string
		want        string
	}{
		{"baseline then none", []string{"--baseline", srv.URL}, nil,
			"were replayed with --baseline, and this run has none: give the same --baseline, or write to another --out"},
		{"none then baseline", nil, []string{"--baseline", srv.URL},
			"were replayed without --baseline, and this run has one: resume without --baseline, or write to another --out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rec, out := filepath.Join(dir, "rec.parquet"), filepath.Join(dir, "results.parquet")
			writeReplayFixture(t, rec, 5)
			args := append([]string{"replay", "--target", srv.URL, "--out", out, "--limit", "2"}, tc.first...)
			if _, stderr, code := runCLI(t, append(args, rec)...); code != 0 {
				t.Fatalf("first run: exit %d: %s", code, stderr)
			}
			before, _ := os.ReadFile(out)
			sent := requests.Load()
			args = append([]string{"replay", "--target", srv.URL, "--out", out, "--resume"}, tc.then...)
			_, stderr, code := runCLI(t, append(args, rec)...)
			if code != exitUsage || !strings.Contains(stderr, "--resume: the 2 rows of "+out+" "+tc.want) {
				t.Errorf("resume: exit %d, stderr %q; want exit 2 and %q", code, stderr, tc.want)
			}
			if after, _ := os.ReadFile(out); string(after) != string(before) {
				t.Errorf("the results file changed")
			}
			if _, err := os.Stat(out + ".partial"); err == nil {
				t.Errorf("a .partial file was left behind")
			}
			if n := requests.Load() - sent; n != 0 {
				t.Errorf("the refused run sent %d requests", n)
			}
		})
	}
}
