package replay

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/shadowctl/shadowctl/record"
)

func TestParseShard(t *testing.T) {
	env := func(v string) func(string) string {
		return func(name string) string {
			if name == IndexEnv {
				return v
			}
			return ""
		}
	}
	for _, tc := range []struct {
		in, env string
		want    Shard
		bad     bool
	}{
		{in: "", want: Shard{}},
		{in: "0/1", want: Shard{0, 1}},
		{in: "3/10", want: Shard{3, 10}},
		{in: "auto/4", env: "2", want: Shard{2, 4}},
		{in: "$JOB_COMPLETION_INDEX/4", env: "3", want: Shard{3, 4}},
		{in: "${JOB_COMPLETION_INDEX}/4", env: "0", want: Shard{0, 4}},
		{in: "auto/4", bad: true},           // not in an Indexed Job
		{in: "auto/4", env: "4", bad: true}, // index past the count
		{in: "auto/4", env: "x", bad: true}, // not a number
		{in: "4/4", bad: true},
		{in: "-1/4", bad: true},
		{in: "1/0", bad: true},
		{in: "1", bad: true},
		{in: "a/b", bad: true},
		{in: "1/2/3", bad: true},
	} {
		got, err := ParseShard(tc.in, env(tc.env))
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseShard(%q) with %s=%q = %v, %v; want %v, error %v", tc.in, IndexEnv, tc.env, got, err, tc.want, tc.bad)
		}
	}
}

// shardByHand is the documented formula written out from its definitions:
// FNV-1a 64 (offset basis 14695981039346656037, prime 1099511628211), then
// splitmix64's finalizer, mod n. If Has ever changes, the shards of runs
// already done would stop covering their recording.
func shardByHand(id string, n int) int {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9
	h = (h ^ (h >> 27)) * 0x94d049bb133111eb
	h ^= h >> 31
	return int(h % uint64(n))
}

// ids are exchange ids as record.NewID makes them, from a fixed seed.
func ids(n int) []string {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%016x%016x", uint64(1_780_000_000_000_000_000)+uint64(i)*1_000_003, r.Uint64())
	}
	return out
}

func TestShardsCoverEveryIDExactlyOnceAndEvenly(t *testing.T) {
	all := ids(20000)
	for _, n := range []int{1, 2, 3, 4, 7, 10, 16} {
		counts := make([]int, n)
		for _, id := range all {
			in := 0
			for k := range n {
				if (Shard{k, n}).Has(id) {
					in++
					counts[k]++
				}
			}
			if in != 1 {
				t.Fatalf("N=%d: id %s is in %d shards, want 1", n, id, in)
			}
			if got, want := ShardOf(id, n), shardByHand(id, n); got != want {
				t.Fatalf("ShardOf(%s, %d) = %d, the documented formula gives %d", id, n, got, want)
			}
		}
		// Binomial(20000, 1/n): every shard within 5 standard deviations.
		mean := float64(len(all)) / float64(n)
		sd := math.Sqrt(mean * (1 - 1/float64(n)))
		for k, c := range counts {
			if math.Abs(float64(c)-mean) > 5*sd+0.5 {
				t.Errorf("N=%d: shard %d has %d ids, want about %.0f (sd %.1f)", n, k, c, mean, sd)
			}
		}
	}
	// Pinned values, computed apart from Go (the same formula in Python's
	// arbitrary-precision integers, reduced mod 2^64): a change of formula
	// shows as a change of shards, not only as a disagreement with
	// shardByHand.
	for _, tc := range []struct {
		id   string
		n    int
		want int
	}{
		{"", 10, 3}, {"", 7, 5}, {"", 1024, 155},
		{"0000000000000001abcdef0123456789", 10, 9}, {"0000000000000001abcdef0123456789", 7, 2},
		{"0000000000000001abcdef0123456789", 1024, 603},
		{"187a3c1e2b4d5f60a1b2c3d4e5f60718", 10, 3}, {"187a3c1e2b4d5f60a1b2c3d4e5f60718", 1024, 665},
	} {
		if got := ShardOf(tc.id, tc.n); got != tc.want {
			t.Errorf("ShardOf(%q, %d) = %d, want %d", tc.id, tc.n, got, tc.want)
		}
	}
}

func TestShardName(t *testing.T) {
	s := Shard{3, 10}
	for _, tc := range []struct{ in, want string }{
		{"results.parquet", "results-00003-of-00010.parquet"},
		{"out/r.parquet", "out/r-00003-of-00010.parquet"},
		{"out.d/results", "out.d/results-00003-of-00010"},
		{"out/", "out/results-00003-of-00010.parquet"},
		{"s3://bkt/run1/r.parquet?region=eu-west-1&endpoint=http://127.0.0.1:1", "s3://bkt/run1/r-00003-of-00010.parquet?region=eu-west-1&endpoint=http://127.0.0.1:1"},
		{"s3://bkt/run1/?region=x", "s3://bkt/run1/results-00003-of-00010.parquet?region=x"},
	} {
		if got := s.Name(tc.in); got != tc.want {
			t.Errorf("Name(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := (Shard{}).Name("results.parquet"); got != "results.parquet" {
		t.Errorf("whole run: Name = %q", got)
	}
	// A shard given is named, even the one shard of one.
	if got := (Shard{0, 1}).Name("results.parquet"); got != "results-00000-of-00001.parquet" {
		t.Errorf("shard 0/1: Name = %q, want results-00000-of-00001.parquet", got)
	}
}

// TestShardedRunsSplitTheRecording replays one recording as N shards and
// checks each exchange was sent by exactly one of them, each shard in the
// recorded order, and that a shard's progress total is about its share.
func TestShardedRunsSplitTheRecording(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(okHandler))
	defer srv.Close()
	xs := exchanges(300, "/v1/predict")
	const n = 3
	sentBy := map[string]int{}
	for k := range n {
		var w memWriter
		var last Progress
		opts := Options{Target: mustURL(t, srv.URL), Concurrency: 1, Shard: Shard{k, n},
			Progress: func(p Progress) { last = p }}
		st, err := Run(context.Background(), opts, &sliceSource{xs: xs}, &w)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, x := range xs {
			if ShardOf(x.ID, n) == k {
				want = append(want, x.ID)
			}
		}
		var got []string
		for _, r := range w.rows {
			got = append(got, r.ID)
			sentBy[r.ID]++
		}
		// Concurrency 1: completion order is sending order.
		if !slices.Equal(got, want) {
			t.Errorf("shard %d/%d sent %d exchanges %v..., want the %d of its shard in recorded order", k, n, len(got), head(got), len(want))
		}
		if st.Sent != int64(len(want)) {
			t.Errorf("shard %d: Sent %d, want %d", k, st.Sent, len(want))
		}
		if last.Total != 100 {
			t.Errorf("shard %d: progress total %d, want 300/3", k, last.Total)
		}
	}
	for _, x := range xs {
		if sentBy[x.ID] != 1 {
			t.Errorf("%s sent by %d shards, want 1", x.ID, sentBy[x.ID])
		}
	}
}

// TestShardedResumeSkipsOnlyItsOwn: a shard resumed with the ids already in
// its results sends the rest of its shard and nothing of the others.
func TestShardedResumeSkipsOnlyItsOwn(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(okHandler))
	defer srv.Close()
	xs := exchanges(120, "/v1/predict")
	s := Shard{1, 4}
	var mine []record.Exchange
	for _, x := range xs {
		if s.Has(x.ID) {
			mine = append(mine, x)
		}
	}
	var doneIDs []string
	for _, x := range mine[:len(mine)/2] {
		doneIDs = append(doneIDs, x.ID)
	}
	done := NewIDSet(doneIDs)
	var w memWriter
	opts := Options{Target: mustURL(t, srv.URL), Concurrency: 1, Shard: s, Skip: done}
	st, err := Run(context.Background(), opts, &sliceSource{xs: xs}, &w)
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, r := range w.rows {
		got = append(got, r.ID)
	}
	for _, x := range mine[len(mine)/2:] {
		want = append(want, x.ID)
	}
	if !slices.Equal(got, want) || st.Resumed != int64(len(mine)/2) {
		t.Errorf("resumed shard sent %v (resumed %d), want %v (resumed %d)", got, st.Resumed, want, len(mine)/2)
	}
}

func TestValidateShard(t *testing.T) {
	for _, s := range []Shard{{-1, 4}, {4, 4}, {0, -1}} {
		o := Options{Target: mustURL(t, "http://127.0.0.1:1"), Shard: s}
		if err := o.Validate(); err == nil {
			t.Errorf("Validate accepted shard %+v", s)
		}
	}
}

func head(s []string) []string { return s[:min(len(s), 5)] }
