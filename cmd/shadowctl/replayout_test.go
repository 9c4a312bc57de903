package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An --out that names no results file report would read is a usage error,
// the same one in every mode, before anything is sent.
func TestReplayOutMustBeAResultsFile(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec.parquet")
	writeReplayFixture(t, rec, 3)
	folder := filepath.Join(dir, "ar")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "nodir") + "/"
	partial := filepath.Join(dir, "x.parquet.partial")
	modes := map[string][]string{"plain": nil, "resume": {"--resume"}, "shard": {"--shard", "0/2"}}
	for _, c := range []struct {
		out, want string
		modes     []string
	}{
		{partial, "--out " + partial + ": .partial marks a file still being written, which report skips: " +
			"give the final name, e.g. " + filepath.Join(dir, "x.parquet"), []string{"plain", "resume", "shard"}},
		{folder, "--out " + folder + " is a folder: give a file name, e.g. " + filepath.Join(folder, "results.parquet"),
			[]string{"plain", "resume", "shard"}},
		{folder + "/", "--out " + folder + "/ is a folder: give a file name, e.g. " + filepath.Join(folder, "results.parquet"),
			[]string{"plain", "resume"}},
		{missing, "--out " + missing + " is a folder: give a file name, e.g. " + filepath.Join(missing, "results.parquet"),
			[]string{"plain", "resume"}},
	} {
		for _, m := range c.modes {
			args := append([]string{"replay", "--target", "http://127.0.0.1:1", "--progress", "never", "--out", c.out}, modes[m]...)
			_, stderr, code := runCLI(t, append(args, rec)...)
			if code != exitUsage || strings.TrimSpace(stderr) != c.want {
				t.Errorf("%s --out %s: exit %d, stderr %q; want exit %d and %q", m, c.out, code, stderr, exitUsage, c.want)
			}
		}
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("a refused --out created %s: %v", missing, err)
	}
}

// A missing folder of --out is created in every mode, as --shard always did.
func TestReplayOutCreatesItsFolder(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"y":1}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec.parquet")
	writeReplayFixture(t, rec, 3)
	for _, c := range []struct {
		name  string
		flags []string
		out   string // the file written, for --out DIR/new/results.parquet
	}{
		{"plain", nil, "results.parquet"},
		{"resume", []string{"--resume"}, "results.parquet"},
		{"shard", []string{"--shard", "0/1"}, "results-00000-of-00001.parquet"},
	} {
		out := filepath.Join(dir, c.name, "new", "results.parquet")
		args := append([]string{"replay", "--target", srv.URL, "--progress", "never", "--out", out}, c.flags...)
		_, stderr, code := runCLI(t, append(args, rec)...)
		if code != 0 {
			t.Errorf("%s: exit %d: %s", c.name, code, stderr)
			continue
		}
		if rows := readResults(t, filepath.Join(filepath.Dir(out), c.out)); len(rows) != 3 {
			t.Errorf("%s: %d rows, want 3", c.name, len(rows))
		}
	}
}

// A recording, results or --out named by a URL of a scheme shadowctl does
// not read is a usage error that says so and lists the supported ones,
// not "no such file" about a local path.
func TestUnsupportedSchemesAreNamed(t *testing.T) {
	rec := filepath.Join(t.TempDir(), "rec.parquet")
	writeReplayFixture(t, rec, 1)
	const supported = "supported: s3://, gs://, azblob://, file://"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"replay", "--target", "http://127.0.0.1:1", "ftp://bkt/rec/"},
			`read recordings: ftp://bkt/rec/: unsupported URL scheme "ftp": ` + supported + " (or a local path)"},
		{[]string{"replay", "--target", "http://127.0.0.1:1", "gcs://bkt/rec/"},
			`read recordings: gcs://bkt/rec/: unsupported URL scheme "gcs": ` + supported + " (or a local path)"},
		{[]string{"replay", "--target", "http://127.0.0.1:1", "S3://bkt/rec/"},
			`read recordings: S3://bkt/rec/: unsupported URL scheme "S3": want s3://BUCKET/… (in lower case, with two slashes); ` + supported},
		{[]string{"replay", "--target", "http://127.0.0.1:1", "--out", "gcs://bkt/run/results.parquet", rec},
			`--out gcs://bkt/run/results.parquet: unsupported URL scheme "gcs": ` + supported + " (or a local path)"},
		{[]string{"replay", "--target", "http://127.0.0.1:1", "--resume", "--out", "ftp://bkt/results.parquet", rec},
			`--out ftp://bkt/results.parquet: unsupported URL scheme "ftp": ` + supported + " (or a local path)"},
		{[]string{"inspect", "gcs://bkt/rec/"}, `gcs://bkt/rec/: unsupported URL scheme "gcs": ` + supported + " (or a local path)"},
		{[]string{"report", "ftp://bkt/run/"}, `ftp://bkt/run/: unsupported URL scheme "ftp": ` + supported + " (or a local path)"},
	} {
		_, stderr, code := runCLI(t, c.args...)
		if code != exitUsage || strings.TrimSpace(stderr) != c.want {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, stderr, exitUsage, c.want)
		}
	}
}

// A --path-prefix without its leading slash, or one that matches nothing,
// is pointed out, where before the run said "replayed 0 exchanges" alone.
func TestReplayPathPrefixWarnings(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"y":1}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec.parquet")
	writeReplayFixture(t, rec, 4) // every path is /v1/predict
	const (
		noSlash = `msg="--path-prefix does not start with a slash, as recorded paths do: it may match none" path_prefix=v1 did_you_mean=/v1`
		none    = `msg="--path-prefix matched none of the exchanges read, so nothing was replayed (shadowctl inspect lists the recorded paths)" path_prefix=%s read=4`
	)
	for i, c := range []struct {
		prefix, summary string
		warnings        []string
	}{
		{"v1", "replayed 0 exchanges", []string{noSlash, fmt.Sprintf(none, "v1")}},
		{"/v9/", "replayed 0 exchanges", []string{fmt.Sprintf(none, "/v9/")}},
		{"/v1/", "replayed 4 exchanges", nil},
	} {
		out := filepath.Join(dir, fmt.Sprintf("r%d.parquet", i))
		_, stderr, code := runCLI(t, "replay", "--target", srv.URL, "--progress", "never", "--out", out, "--path-prefix", c.prefix, rec)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != 0 || len(lines) != len(c.warnings)+1 || !strings.HasPrefix(lines[len(lines)-1], c.summary) {
			t.Errorf("--path-prefix %s: exit %d, stderr %q; want exit 0, %d warnings and a summary %q", c.prefix, code, stderr,
				len(c.warnings), c.summary)
			continue
		}
		for j, w := range c.warnings {
			if !strings.Contains(lines[j], "level=WARN") || !strings.HasSuffix(lines[j], w) {
				t.Errorf("--path-prefix %s: line %d %q, want a warning ending in %q", c.prefix, j, lines[j], w)
			}
		}
	}
}
