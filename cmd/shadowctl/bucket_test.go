package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shadowctl/shadowctl/internal/bucket"
	"github.com/shadowctl/shadowctl/internal/fixture"
	"github.com/shadowctl/shadowctl/internal/s3test"
	"github.com/shadowctl/shadowctl/replay"
)

// upload puts a local file at the bucket URL u.
func upload(t *testing.T, file, u string) {
	t.Helper()
	base, _, _ := strings.Cut(u, "?")
	loc, err := bucket.Parse(u, path.Ext(base))
	if err != nil {
		t.Fatal(err)
	}
	if err := bucket.Upload(context.Background(), file, loc); err != nil {
		t.Fatal(err)
	}
}

// TestReadersTakeBucketURLs: replay reads its recordings from an S3 prefix
// (skipping an in-progress object) and writes its shards' results there,
// report and inspect read them back, and what they say is what the same
// commands say over local files.
func TestReadersTakeBucketURLs(t *testing.T) {
	s := s3test.Start(t)
	bin := buildBinary(t)
	srv := httptest.NewServer(http.HandlerFunc(labelModel))
	defer srv.Close()
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec.parquet")
	writeLabelRecording(t, rec, 300)
	recURL := s.Bucket(t, "data", "rec")
	upload(t, rec, s.URL("data", "rec/a.parquet"))
	os.WriteFile(filepath.Join(dir, "junk"), []byte("half a file"), 0o600)
	upload(t, filepath.Join(dir, "junk"), s.URL("data", "rec/b.parquet.partial"))

	run := func(args ...string) (string, string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = s.Env()
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stderr.String())
		}
		return stdout.String(), stderr.String()
	}
	results := s.URL("data", "results/run1/results.parquet")
	var logs string
	for k := range 2 {
		_, stderr := run("replay", "--target", srv.URL, "--shard", fmt.Sprintf("%d/2", k), "--out", results, recURL)
		logs += stderr
	}
	if !strings.Contains(logs, "skipping in-progress recording file") || !strings.Contains(logs, "b.parquet.partial") {
		t.Errorf("the in-progress object was not skipped with a warning:\n%s", logs)
	}
	if strings.Contains(logs, s3test.SecretKey) || strings.Contains(logs, s3test.AccessKey) {
		t.Errorf("a credential is in the logs:\n%s", logs)
	}
	for k := range 2 {
		if _, err := os.Stat(filepath.Join(s.Root, "data", "results", "run1", fmt.Sprintf("results-%05d-of-00002.parquet", k))); err != nil {
			t.Errorf("shard %d's results object: %v", k, err)
		}
	}
	// Nothing is left in the spool once uploaded.
	if m, _ := filepath.Glob(filepath.Join(os.TempDir(), "shadowctl-results-*results-0000*-of-00002.parquet*")); len(m) > 0 {
		t.Errorf("spool copies left: %v", m)
	}

	// The same, locally, to compare with.
	whole := filepath.Join(dir, "whole.parquet")
	run("replay", "--target", srv.URL, "--out", whole, rec)
	reportOf := func(args ...string) map[string]any {
		out, _ := run(append([]string{"report", "--format", "json"}, args...)...)
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return m
	}
	remote, local := reportOf(s.URL("data", "results/run1/")), reportOf(whole)
	for _, key := range []string{"exchanges", "agreement", "errors"} {
		a, _ := json.Marshal(remote[key])
		b, _ := json.Marshal(local[key])
		if !bytes.Equal(a, b) {
			t.Errorf("%s: from the bucket %s, locally %s", key, a, b)
		}
	}
	if files := fmt.Sprint(remote["files"]); !strings.Contains(files, "s3://data/results/run1/results-00000-of-00002.parquet") {
		t.Errorf("files %s", files)
	}
	inspRemote, _ := run("inspect", recURL)
	inspLocal, _ := run("inspect", rec)
	// The same but for the file table, which names the files.
	tail := func(s string) string { _, after, _ := strings.Cut(s, "METHOD"); return after }
	if tail(inspRemote) != tail(inspLocal) || !strings.Contains(inspRemote, "s3://data/rec/a.parquet?") {
		t.Errorf("inspect from the bucket:\n%s\nlocally:\n%s", inspRemote, inspLocal)
	}

	// An existing object is not overwritten without --resume; with it, the
	// run continues the object.
	cmd := exec.Command(bin, "replay", "--target", srv.URL, "--shard", "0/2", "--out", results, recURL)
	cmd.Env = s.Env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "results file exists") {
		t.Errorf("rerun without --resume: %v, %s", err, stderr.String())
	}
	_, stderr2 := run("replay", "--target", srv.URL, "--shard", "0/2", "--resume", "--out", results, recURL)
	if !strings.Contains(stderr2, "already done (resumed)") {
		t.Errorf("resume from the bucket: %s", stderr2)
	}
	again := reportOf(s.URL("data", "results/run1/"))
	if again["exchanges"] != 300.0 {
		t.Errorf("after resuming: %v exchanges, want 300", again["exchanges"])
	}
}

func TestBucketURLUsageErrors(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec.parquet")
	writeReplayFixture(t, rec, 1)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"record", "--upstream", "http://127.0.0.1:1", "--out", "s3://AKIA:hunter2@bkt/rec"},
			`--out: bad bucket URL "s3://bkt/rec": credentials in a URL are not used`},
		{[]string{"record", "--upstream", "http://127.0.0.1:1", "--out", "s3:///rec"}, `--out: bad bucket URL "s3:///rec": no bucket name`},
		{[]string{"record", "--upstream", "http://127.0.0.1:1", "--out", "s3://b/rec", "--spool", ""}, "--spool: want a folder"},
		// Found at start, not at the first upload minutes later.
		{[]string{"record", "--upstream", "http://127.0.0.1:1", "--out", "s3://b/rec?nosuch=1"}, `--out: open bucket s3://b`},
		{[]string{"record", "--upstream", "http://127.0.0.1:1", "--shadow", "http://127.0.0.1:2", "--shadow-out", "s3://b/sh?nosuch=1"}, `--shadow-out: open bucket s3://b`},
		{[]string{"replay", "--target", "http://127.0.0.1:1", "--out", "file://host/x.parquet", rec}, `--out: bad bucket URL "file://host/x.parquet": want file:///absolute/path`},
		// As record's, replay's --out is opened at start: an unknown
		// parameter, a prefix without --shard, or no .parquet object is
		// the user's to fix (exit 2), as a local folder --out is.
		{[]string{"replay", "--target", "http://127.0.0.1:1", "--out", "s3://b/x.parquet?regoin=x", rec}, `--out: open bucket s3://b`},
		{[]string{"replay", "--target", "http://127.0.0.1:1", "--out", "s3://b/runs/", rec}, `--out s3://b/runs/: want an object ending in .parquet, or a prefix ending in / with --shard`},
		{[]string{"replay", "--target", "http://127.0.0.1:1", "--out", "file://" + filepath.ToSlash(dir) + "/res.txt", rec}, `want an object ending in .parquet`},
		// Inside a prefix of recordings given: the next shard, or a
		// --resume, would read it as a recording.
		{[]string{"replay", "--target", "http://127.0.0.1:1", "--out", "file://" + filepath.ToSlash(dir) + "/bk/results.parquet", "file://" + filepath.ToSlash(dir) + "/bk/"},
			`is inside file://` + filepath.ToSlash(dir) + `/bk/, a prefix of recordings given`},
		{[]string{"replay", "--target", "http://127.0.0.1:1", "--out", "s3://b/rec/run1/r.parquet", "s3://b/rec"}, `is inside s3://b/rec, a prefix of recordings given`},
	} {
		_, stderr, code := runCLI(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
		if strings.Contains(stderr, "hunter2") {
			t.Errorf("%v: the secret is in the message: %s", tc.args, stderr)
		}
	}
}

// TestRecordAndShadowToFileBuckets: --out and --shadow-out both take bucket
// URLs (file:// here: the same code path as s3://, no server needed); on
// SIGTERM the last files are uploaded and the spool is left empty, and the
// summary says so.
func TestRecordAndShadowToFileBuckets(t *testing.T) {
	bin := buildBinary(t)
	model := httptest.NewServer(http.HandlerFunc(labelModel))
	defer model.Close()
	dir := t.TempDir()
	recDir, shDir, spool := filepath.Join(dir, "rec"), filepath.Join(dir, "sh"), filepath.Join(dir, "spool")
	os.MkdirAll(recDir, 0o700)
	os.MkdirAll(shDir, 0o700)
	p := startRecorder(t, bin, "--listen", "127.0.0.1:0", "--admin", "", "--upstream", model.URL, "--shadow", model.URL,
		"--out", "file://"+filepath.ToSlash(recDir), "--shadow-out", "file://"+filepath.ToSlash(shDir), "--spool", spool,
		"--instance", "b1")
	const n = 40
	for i := range n {
		resp, err := http.Post(p.addr+"/v1/predict", "application/json", strings.NewReader(fmt.Sprintf(`{"i":%d}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	p.stop(t)
	seen, _ := readRecordings(t, "file://"+filepath.ToSlash(recDir))
	if seen["/v1/predict"] != n {
		t.Errorf("%d exchanges in the recordings bucket, want %d", seen["/v1/predict"], n)
	}
	results, _ := filepath.Glob(filepath.Join(shDir, "*.parquet"))
	var rows int
	for _, f := range results {
		rows += len(readResults(t, f))
	}
	if rows != n {
		t.Errorf("%d live shadow rows in the results bucket (%v), want %d", rows, results, n)
	}
	for _, sub := range []string{"recordings", "shadow"} {
		if m, _ := filepath.Glob(filepath.Join(spool, sub, "*", "*.parquet*")); len(m) != 0 {
			t.Errorf("left in the spool: %v", m)
		}
	}
	for _, want := range []string{"recordings: 1 files uploaded to file://", "shadow: 1 files uploaded to file://", ", 0 left in"} {
		if !strings.Contains(p.stderr(), want) {
			t.Errorf("summary lacks %q:\n%s", want, p.stderr())
		}
	}
}

// TestReplayRefusesToDropAKeptUpload: results an earlier run could not
// upload are kept locally; a run without --resume is refused (exit 2, one
// line saying what to do) and the kept file stays whole, as an existing
// local --out stays.
func TestReplayRefusesToDropAKeptUpload(t *testing.T) {
	dir, tmp := t.TempDir(), t.TempDir()
	t.Setenv("TMPDIR", tmp) // where replay keeps its results for a bucket
	rec := filepath.Join(dir, "rec.parquet")
	writeReplayFixture(t, rec, 3)
	os.MkdirAll(filepath.Join(dir, "bkt"), 0o700)
	out := "file://" + filepath.ToSlash(filepath.Join(dir, "bkt", "r.parquet"))
	loc, err := bucket.Parse(out, ".parquet")
	if err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(tmp, "shadowctl-results-"+loc.ID()+"-r.parquet")
	fixture.Results(t, kept, []replay.Result{{ID: "a", Method: "POST", Path: "/p"}, {ID: "b", Method: "POST", Path: "/p"}})

	_, stderr, code := runCLI(t, "replay", "--target", "http://127.0.0.1:1", "--out", out, rec)
	want := ": the results of an earlier run that could not be uploaded are kept in " + kept +
		" (use --resume to finish them and upload them, or remove the file)"
	if code != exitUsage || !strings.Contains(stderr, want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("replay over a kept upload: exit %d, stderr %q; want exit 2 and one line with %q", code, stderr, want)
	}
	r, err := replay.OpenResults(kept)
	if err != nil {
		t.Fatalf("the kept results are gone: %v", err)
	}
	defer r.Close()
	if n := r.NumRows(); n != 2 {
		t.Errorf("the kept results have %d rows, want 2", n)
	}
}

// A --resume of an object that fails before anything new is done (a dead
// target) leaves no spool copy of the object it downloaded: a later run
// on this machine would take it for rows the object lacks, and upload it
// over the rows another machine has since added. A copy an earlier run
// could not upload stays, as it is newer than the object.
func TestFailedResumeLeavesNoDownloadedCopy(t *testing.T) {
	dir, tmp := t.TempDir(), t.TempDir()
	t.Setenv("TMPDIR", tmp)
	rec := filepath.Join(dir, "rec.parquet")
	writeReplayFixture(t, rec, 6)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"y":1}`)) }))
	defer srv.Close()
	os.MkdirAll(filepath.Join(dir, "bkt"), 0o700)
	out := "file://" + filepath.ToSlash(filepath.Join(dir, "bkt", "r.parquet"))
	if _, stderr, code := runCLI(t, "replay", "--target", srv.URL, "--limit", "2", "--out", out, "--progress", "never", rec); code != 0 {
		t.Fatalf("first run: exit %d: %s", code, stderr)
	}
	if _, stderr, code := runCLI(t, "replay", "--target", "http://127.0.0.1:1", "--resume", "--out", out, "--progress", "never", rec); code == 0 {
		t.Fatalf("resume against a dead target: exit 0: %s", stderr)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "shadowctl-results-*")); len(left) != 0 {
		t.Errorf("the failed resume left %v in the spool folder", left)
	}
	// Another machine finishes the object; this one resumes again and
	// must start from the object, not from an old copy.
	t.Setenv("TMPDIR", t.TempDir())
	if _, stderr, code := runCLI(t, "replay", "--target", srv.URL, "--resume", "--out", out, "--progress", "never", rec); code != 0 {
		t.Fatalf("resume elsewhere: exit %d: %s", code, stderr)
	}
	t.Setenv("TMPDIR", tmp)
	if _, stderr, code := runCLI(t, "replay", "--target", srv.URL, "--resume", "--out", out, "--progress", "never", rec); code != 0 {
		t.Fatalf("resume here again: exit %d: %s", code, stderr)
	}
	got, err := readObjectRows(t, filepath.Join(dir, "bkt", "r.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if got != 6 {
		t.Errorf("the object has %d rows, want all 6", got)
	}
}

func readObjectRows(t *testing.T, path string) (int64, error) {
	t.Helper()
	r, err := replay.OpenResults(path)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	return r.NumRows(), nil
}
