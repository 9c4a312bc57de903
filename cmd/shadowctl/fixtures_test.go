package main

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shadowctl/shadowctl/internal/frozen"
	"github.com/shadowctl/shadowctl/replay"
)

// The frozen files in testdata/ stand for what earlier releases wrote
// (record/fixtures_test.go and replay/fixtures_test.go describe their rows).
// Every command that reads them must keep working on them.

// wilson is the 95% Wilson score interval of k successes in n (Wilson,
// 1927), worked out here apart from the report's own code.
func wilson(k, n float64) (lo, hi float64) {
	const z = 1.959963984540054
	p := k / n
	d := 1 + z*z/n
	c := (p + z*z/(2*n)) / d
	h := z * math.Sqrt(p*(1-p)/n+z*z/(4*n*n)) / d
	return c - h, c + h
}

type frozenReport struct {
	Exchanges    int `json:"exchanges"`
	WithBaseline int `json:"with_baseline"`
	Agreement    struct {
		agreementCounts
		Baseline *agreementCounts `json:"baseline"`
	} `json:"agreement"`
	Errors struct {
		Candidate struct {
			Count  int            `json:"count"`
			ByKind map[string]int `json:"by_kind"`
		} `json:"candidate"`
	} `json:"errors"`
	Groups []struct {
		Key       string          `json:"key"`
		Agreement agreementCounts `json:"agreement"`
	} `json:"groups"`
}

type agreementCounts struct {
	Requests  counted `json:"requests"`
	Instances counted `json:"instances"`
	Text      *struct {
		Count  int `json:"count"`
		Agreed int `json:"agreed"`
	} `json:"text"`
}

type counted struct {
	Compared int     `json:"compared"`
	Agreed   int     `json:"agreed"`
	Rate     float64 `json:"rate"`
	Low      float64 `json:"ci95_low"`
	High     float64 `json:"ci95_high"`
}

func (c counted) check(t *testing.T, what string, agreed, compared int) {
	t.Helper()
	lo, hi := wilson(float64(agreed), float64(compared))
	if c.Compared != compared || c.Agreed != agreed || math.Abs(c.Rate-float64(agreed)/float64(compared)) > 1e-12 ||
		math.Abs(c.Low-lo) > 1e-9 || math.Abs(c.High-hi) > 1e-9 {
		t.Errorf("%s = %d/%d rate %v [%v, %v], want %d/%d [%v, %v]", what, c.Agreed, c.Compared, c.Rate, c.Low, c.High,
			agreed, compared, lo, hi)
	}
}

func reportJSON(t *testing.T, args ...string) frozenReport {
	t.Helper()
	out, stderr, code := runCLI(t, append([]string{"report", "--format", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("report %v: exit %d: %s", args, code, stderr)
	}
	var r frozenReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("report %v: %v", args, err)
	}
	return r
}

// results/1, a run with a baseline: row 1 agrees, row 2 disagrees, row 3's
// candidate was refused (a failed candidate is a disagreement); the
// baseline agrees with production on all three.
func TestReportOnFrozenResultsV1(t *testing.T) {
	r := reportJSON(t, frozen.Path("results-1.parquet"))
	if r.Exchanges != 3 || r.WithBaseline != 3 {
		t.Errorf("exchanges %d, with baseline %d; want 3 and 3", r.Exchanges, r.WithBaseline)
	}
	r.Agreement.Requests.check(t, "requests", 1, 3)
	if r.Agreement.Baseline == nil {
		t.Fatal("no baseline agreement")
	}
	r.Agreement.Baseline.Requests.check(t, "baseline requests", 3, 3)
	if r.Errors.Candidate.Count != 1 || r.Errors.Candidate.ByKind["connection_refused"] != 1 {
		t.Errorf("candidate errors %+v, want one connection_refused", r.Errors.Candidate)
	}
}

// results/2, without a baseline: row 1 agrees on both instances, row 2
// disagrees on its one, row 3 is a streamed chat answer whose text agrees.
// Rows 1 and 3 came from tenant acme, row 2 from globex.
func TestReportOnFrozenResultsV2(t *testing.T) {
	r := reportJSON(t, frozen.Path("results-2.parquet"), "--by", "header:X-Tenant")
	if r.Exchanges != 3 || r.WithBaseline != 0 {
		t.Errorf("exchanges %d, with baseline %d; want 3 and 0", r.Exchanges, r.WithBaseline)
	}
	r.Agreement.Requests.check(t, "requests", 2, 3)
	r.Agreement.Instances.check(t, "instances", 3, 4)
	if tx := r.Agreement.Text; tx == nil || tx.Count != 1 || tx.Agreed != 1 {
		t.Errorf("text agreement %+v, want 1 of 1", tx)
	}
	groups := map[string]agreementCounts{}
	for _, g := range r.Groups {
		groups[g.Key] = g.Agreement
	}
	if len(groups) != 2 {
		t.Fatalf("groups %+v, want acme and globex", r.Groups)
	}
	groups["acme"].Requests.check(t, "acme requests", 2, 2)
	groups["acme"].Instances.check(t, "acme instances", 3, 3)
	groups["globex"].Requests.check(t, "globex requests", 0, 1)

	// A gate on the same file fails the run with the gate's exit code.
	_, stderr, code := runCLI(t, "report", frozen.Path("results-2.parquet"), "--fail-on", "agreement.requests.rate < 0.9")
	if code != exitFailed || !strings.Contains(stderr, "agreement.requests.rate") {
		t.Errorf("gate: exit %d (%s), want %d", code, stderr, exitFailed)
	}
}

// The frozen recordings of both versions replay: every exchange is sent
// once, as recorded, and its recorded answer lands in the results.
func TestReplayFrozenRecordings(t *testing.T) {
	var got []string
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.RequestURI())
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"predictions":[0]}`))
	}))
	defer target.Close()
	out := filepath.Join(t.TempDir(), "results.parquet")
	_, stderr, code := runCLI(t, "replay", "--target", target.URL, "--concurrency", "1", "--progress", "never", "--out", out,
		frozen.Path("recording-1.parquet"), frozen.Path("recording-2.parquet"))
	if code != 0 {
		t.Fatalf("replay: exit %d: %s", code, stderr)
	}
	// recording-2's third exchange kept only a prefix of its body: never
	// sent. The others go in start order, the two files interleaved.
	want := []string{"POST /v1/models/iris:predict", "POST /v1/models/iris:predict", "GET /healthz?probe=1",
		"POST /v1/chat/completions"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("target got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	rr, err := replay.OpenResults(out)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Close()
	recorded := map[string]string{}
	for {
		x, err := rr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		recorded[x.Path] += string(x.RecordedBody) + ";"
	}
	if w := `{"predictions":[0]};{"predictions":[2,0]};`; recorded["/v1/models/iris:predict"] != w {
		t.Errorf("recorded answers of the predict path %q, want %q", recorded["/v1/models/iris:predict"], w)
	}
	if !strings.HasPrefix(recorded["/v1/chat/completions"], "data: ") {
		t.Errorf("recorded stream %q", recorded["/v1/chat/completions"])
	}
}

// Given the other kind of file, a command says which step was missed,
// with the usage exit code.
func TestWrongKindOfFileSaysTheStep(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"report", frozen.Path("recording-2.parquet")},
			"it is a recording: replay it first ('shadowctl replay --target URL " + frozen.Path("recording-2.parquet") + "')"},
		{[]string{"report", "--format", "state", frozen.Path("recording-1.parquet")}, "it is a recording: replay it first"},
		{[]string{"inspect", frozen.Path("results-2.parquet")},
			"it is a results file: 'shadowctl report " + frozen.Path("results-2.parquet") + "' reads it"},
		{[]string{"replay", "--target", "http://127.0.0.1:9", "--out", filepath.Join(t.TempDir(), "r.parquet"),
			frozen.Path("results-1.parquet")}, "it is a results file: 'shadowctl report"},
	} {
		_, stderr, code := runCLI(t, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line with %q", c.args, code, stderr, exitUsage, c.want)
		}
	}
}
