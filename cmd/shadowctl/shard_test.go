package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/fixture"
	"github.com/shadowctl/shadowctl/record"
	"github.com/shadowctl/shadowctl/replay"
)

// labelModel answers KServe V1 {"predictions": [...]} from the request's {"i": n}: class n%3,
// so that against the recorded n%2 the confusion matrix is not diagonal.
func labelModel(w http.ResponseWriter, r *http.Request) {
	var in struct{ I int }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	fmt.Fprintf(w, `{"predictions":["c%d"]}`, in.I%3)
}

func writeLabelRecording(t *testing.T, path string, n int) []record.Exchange {
	t.Helper()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	xs := make([]record.Exchange, n)
	for i := range xs {
		at := base.Add(time.Duration(i) * time.Millisecond)
		xs[i] = record.Exchange{ID: record.NewID(at), StartedAt: at, Method: "POST", Path: "/v1/predict",
			RequestHeaders: []record.Header{{Name: "Content-Type", Value: "application/json"}},
			RequestBody:    []byte(fmt.Sprintf(`{"i":%d}`, i)), Status: 200,
			ResponseBody: []byte(fmt.Sprintf(`{"predictions":["c%d"]}`, i%2)), LatencyNs: int64(1+i%50) * int64(time.Millisecond)}
	}
	fixture.Recording(t, path, xs)
	return xs
}

// TestShardedReplayReportsAsOneRun replays a recording unsharded and as three
// shards (taking their index from JOB_COMPLETION_INDEX, as the Pods of an
// Indexed Job do), then checks: every exchange is in exactly one shard's
// file, each file in recorded order, and the report over the three files is
// the report over the unsharded run: the same counts and confusion, recorded
// latencies alike, and the candidate's quantiles within the histogram's
// stated error (0.1%) of the exact ones computed here from the rows.
func TestShardedReplayReportsAsOneRun(t *testing.T) {
	bin := buildBinary(t)
	srv := httptest.NewServer(http.HandlerFunc(labelModel))
	defer srv.Close()
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec.parquet")
	xs := writeLabelRecording(t, rec, 600)

	run := func(env []string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stderr.String())
		}
		return stdout.String()
	}
	whole := filepath.Join(dir, "whole.parquet")
	run(nil, "replay", "--target", srv.URL, "--concurrency", "4", "--out", whole, rec)
	const n = 3
	var shardFiles []string
	for k := range n {
		run([]string{"JOB_COMPLETION_INDEX=" + fmt.Sprint(k)}, "replay", "--target", srv.URL, "--concurrency", "1",
			"--shard", "auto/3", "--out", filepath.Join(dir, "shards", "results.parquet"), rec)
		shardFiles = append(shardFiles, filepath.Join(dir, "shards", fmt.Sprintf("results-%05d-of-%05d.parquet", k, n)))
	}

	order := map[string]int{}
	for i, x := range xs {
		order[x.ID] = i
	}
	seen := map[string]int{}
	var candMs []float64
	for k, f := range shardFiles {
		rows := readResults(t, f)
		prev := -1
		for _, r := range rows {
			seen[r.ID]++
			if replay.ShardOf(r.ID, n) != k {
				t.Errorf("%s: row %s belongs to shard %d", f, r.ID, replay.ShardOf(r.ID, n))
			}
			// --concurrency 1: the file holds the rows in sending order.
			if order[r.ID] < prev {
				t.Errorf("%s: row %s out of recorded order", f, r.ID)
			}
			prev = order[r.ID]
			candMs = append(candMs, float64(r.CandidateLatencyNs)/1e6)
		}
	}
	for _, x := range xs {
		if seen[x.ID] != 1 {
			t.Errorf("exchange %s is in %d shard files, want 1", x.ID, seen[x.ID])
		}
	}

	report := func(files ...string) map[string]any {
		t.Helper()
		var m map[string]any
		out := run(nil, append([]string{"report", "--format", "json"}, files...)...)
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return m
	}
	one, sharded := report(whole), report(shardFiles...)
	lat := func(m map[string]any, side, q string) float64 {
		v, _ := m["latency_ms"].(map[string]any)[side].(map[string]any)[q].(float64)
		return v
	}
	slices.Sort(candMs)
	for _, q := range []struct {
		key string
		q   float64
	}{{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}} {
		exact := candMs[int(math.Ceil(q.q*float64(len(candMs))))-1]
		if got := lat(sharded, "candidate", q.key); math.Abs(got-exact) > 0.001*exact+1e-9 {
			t.Errorf("sharded candidate %s = %v ms, exact %v ms: off by more than the histogram's 0.1%%", q.key, got, exact)
		}
		if a, b := lat(one, "recorded", q.key), lat(sharded, "recorded", q.key); math.Abs(a-b) > 0.001*a {
			t.Errorf("recorded %s: unsharded %v, sharded %v", q.key, a, b)
		}
	}
	// The rest must be equal as it is: drop what differs by nature (the
	// files, and the candidate's timing, which is another run's, as are
	// the sent_at intervals of the timeline and the latency curve).
	for _, m := range []map[string]any{one, sharded} {
		delete(m, "files")
		delete(m, "timeline")
		delete(m, "latency_curve_ms")
		l := m["latency_ms"].(map[string]any)
		delete(l, "candidate")
		delete(l, "ratio")
		delete(l, "delta")
	}
	if !reflect.DeepEqual(one, sharded) {
		a, _ := json.MarshalIndent(one, "", " ")
		b, _ := json.MarshalIndent(sharded, "", " ")
		t.Errorf("report over the shards differs from the unsharded one:\n%s\nvs\n%s", a, b)
	}
	// By hand: c(i%3) equals c(i%2) when i%6 is 0 or 1, a third of 600.
	req := one["agreement"].(map[string]any)["requests"].(map[string]any)
	if req["compared"] != 600.0 || req["agreed"] != 200.0 {
		t.Errorf("agreement.requests %v: want 600 compared, 200 agreed", req)
	}
	if b, _ := json.Marshal(one); !bytes.Contains(b, []byte(`"confusion"`)) {
		t.Errorf("no confusion matrix in the report: %s", b)
	}
}

func TestShardUsageErrors(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec.parquet")
	writeReplayFixture(t, rec, 1)
	for _, tc := range []struct {
		shard, want, env string
	}{
		{"3/3", `--shard "3/3": want K/N with 0 <= K < N`, ""},
		{"1", `--shard "1": want K/N`, ""},
		{"auto/3", `--shard "auto/3": JOB_COMPLETION_INDEX is not set`, ""},
		{"auto/3", `--shard "auto/3": JOB_COMPLETION_INDEX="5" is not below 3, the shard count: the Job's completions and the N of K/N must be the same`, "5"},
		{"$JOB_COMPLETION_INDEX/3", `--shard "$JOB_COMPLETION_INDEX/3": JOB_COMPLETION_INDEX="x": want a shard number from 0 to 2`, "x"},
		{"auto/3", `JOB_COMPLETION_INDEX="-1": want a shard number from 0 to 2`, "-1"},
	} {
		t.Setenv("JOB_COMPLETION_INDEX", tc.env)
		_, stderr, code := runCLI(t, "replay", "--target", "http://127.0.0.1:1", "--shard", tc.shard, rec)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("--shard %s: exit %d, stderr %q; want exit 2 and %q", tc.shard, code, stderr, tc.want)
		}
	}
}

// Any --shard names the results file by shard, as --help says: the one
// shard of one too, so that a Job of parallelism 1 writes what a Job of N
// would.
func TestShardOfOneNamesItsFile(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"y":1}`)) }))
	defer srv.Close()
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec.parquet")
	writeReplayFixture(t, rec, 3)
	if _, stderr, code := runCLI(t, "replay", "--target", srv.URL, "--shard", "0/1", "--out", filepath.Join(dir, "o.parquet"), rec); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if rows := readResults(t, filepath.Join(dir, "o-00000-of-00001.parquet")); len(rows) != 3 {
		t.Errorf("o-00000-of-00001.parquet has %d rows, want 3", len(rows))
	}
	if _, err := os.Stat(filepath.Join(dir, "o.parquet")); err == nil {
		t.Errorf("o.parquet was written, without the shard in its name")
	}
}
