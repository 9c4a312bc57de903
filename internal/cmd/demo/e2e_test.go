package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/browser"
	"github.com/shadowctl/shadowctl/internal/demo"
	"github.com/shadowctl/shadowctl/internal/demomodel"
)

// bins are the real binaries, built once for every test in this file.
var bins struct{ shadowctl, demomodel string }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shadowctl-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		bins.shadowctl = filepath.Join(dir, "shadowctl")
		bins.demomodel = filepath.Join(dir, "demomodel")
		// Both builds at once: linking is most of a cold test run.
		errs := make(chan error, 2)
		for bin, pkg := range map[string]string{bins.shadowctl: "../../../cmd/shadowctl", bins.demomodel: "../demomodel"} {
			go func() {
				out, err := exec.Command(goTool(), "build", "-o", bin, pkg).CombinedOutput()
				if err != nil {
					err = fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
				}
				errs <- err
			}()
		}
		failed := false
		for range 2 {
			if err := <-errs; err != nil {
				fmt.Fprintln(os.Stderr, err)
				failed = true
			}
		}
		if failed {
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// goTool is the go command that runs this test.
func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// The models as the test runs them: v2 slower, jittery, failing 2%.
var (
	e2eV1 = demo.Model{Version: "v1", Latency: 2 * time.Millisecond, Seed: 1}
	e2eV2 = demo.Model{Version: "v2", Latency: 4 * time.Millisecond, Jitter: 2 * time.Millisecond, FailRate: 0.02, Seed: 7}
)

const e2eRequests = 600

// tap sits between replay and model-v2 and notes what model-v2 was asked
// and whether it answered: the requests it failed are drawn at random
// under concurrency, so the ground truth needs to know which they were.
type tap struct {
	mu  sync.Mutex
	obs []demo.Observed
}

func (tp *tap) handler(target *url.URL) http.Handler {
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) }}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		proxy.ServeHTTP(sw, r)
		tp.mu.Lock()
		tp.obs = append(tp.obs, demo.Observed{Path: r.URL.Path, Body: body, Failed: sw.code != http.StatusOK})
		tp.mu.Unlock()
	})
}

func (tp *tap) observed() []demo.Observed {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return slices.Clone(tp.obs)
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }

// TestEndToEnd runs record → replay → report with the real binaries and
// checks the JSON report against ground truth computed from the models.
func TestEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	var echo bytes.Buffer
	f := &demo.Flow{
		Runner:    &demo.Runner{Echo: &echo, Logs: filepath.Join(dir, "logs")},
		Shadowctl: bins.shadowctl, DemoModel: bins.demomodel, Dir: dir,
	}
	defer func() {
		if t.Failed() {
			t.Logf("commands run:\n%s", echo.String())
		}
	}()

	data, err := demomodel.Load()
	if err != nil {
		t.Fatal(err)
	}
	v1, err := demomodel.TrainOn(data, "v1")
	if err != nil {
		t.Fatal(err)
	}
	v2, err := demomodel.TrainOn(data, "v2")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := demo.Plan(data, demo.TrafficOptions{Requests: e2eRequests, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}

	p1 := startModel(t, ctx, f, e2eV1)
	p2 := startModel(t, ctx, f, e2eV2)
	target, err := url.Parse(p2.URL)
	if err != nil {
		t.Fatal(err)
	}
	var tp tap
	tapSrv := httptest.NewServer(tp.handler(target))
	defer tapSrv.Close()

	// Record production traffic in front of model-v1.
	rec, err := f.StartRecorder(ctx, p1.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rec.Stop() }()
	st, err := demo.Send(ctx, nil, rec.URL, plan, 8)
	if err != nil {
		t.Fatal(err)
	}
	if st.OK() != e2eRequests {
		t.Fatalf("traffic through the recorder: %d of %d answered 2xx (by status %v, first error %v)", st.OK(), e2eRequests, st.ByStatus, st.FirstError)
	}
	sum, err := demo.StopRecorder(rec)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Recorded != e2eRequests || sum.Dropped != 0 {
		t.Fatalf("recorder summary %q: want %d recorded, 0 dropped", sum.Line, e2eRequests)
	}

	// Replay against model-v2 (through the tap) with model-v1 as baseline.
	var replayOut, replayErr bytes.Buffer
	if err := f.Replay(ctx, tapSrv.URL, p1.URL, &replayOut, &replayErr); err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, replayErr.String())
	}

	var out, stderr bytes.Buffer
	if err := f.Report(ctx, &out, &stderr, "--format", "json"); err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, stderr.String())
	}
	rep, err := demo.ParseReport(out.Bytes())
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}

	// What model-v2 was asked: every recorded request exactly once, with
	// the bytes production sent.
	obs := tp.observed()
	if got, want := bodies(obs), bodies(demo.Sent(plan)); !slices.Equal(got, want) {
		t.Fatalf("model-v2 got %d requests, want the %d sent, byte for byte", len(got), len(want))
	}
	truth, err := demo.Compare(v1, v2, obs)
	if err != nil {
		t.Fatal(err)
	}
	wantFailed, err := demo.FailedDraws(v2, "breast-cancer", e2eRequests, e2eV2.FailRate, e2eV2.Seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ground truth: v1 and v2 agree on %d of %d instances; model-v2 failed %d requests (%d instances); report %s",
		truth.Agreed, truth.Instances, truth.FailedRequests, truth.FailedInstances, ptr(rep.Agreement.Rate))

	t.Run("counts", func(t *testing.T) {
		if truth.FailedRequests != wantFailed {
			t.Errorf("model-v2 failed %d requests, its fail rate and seed give %d", truth.FailedRequests, wantFailed)
		}
		if wantFailed == 0 || truth.Agreed == truth.Instances {
			t.Errorf("the run has no failures (%d) or no disagreements (%d of %d agree): it tests nothing", wantFailed, truth.Agreed, truth.Instances)
		}
		eq(t, "exchanges", rep.Exchanges, e2eRequests)
		eq(t, "schema_version", rep.SchemaVersion, 1)
	})
	t.Run("agreement", func(t *testing.T) {
		a := rep.Agreement
		eq(t, "agreement.instances.compared", a.Instances.Compared, int64(truth.Instances))
		eq(t, "agreement.instances.agreed", a.Instances.Agreed, int64(truth.ReportAgreed()))
		eq(t, "agreement.requests.compared", a.Requests.Compared, e2eRequests)
		eq(t, "agreement.requests.agreed", a.Requests.Agreed, int64(truth.RequestsAgreed))
		want := float64(truth.ReportAgreed()) / float64(truth.Instances)
		if a.Rate == nil || math.Abs(*a.Rate-want) > 1e-12 {
			t.Errorf("agreement.rate = %s, want %v", ptr(a.Rate), want)
		}
		if a.CI95Low == nil || a.CI95High == nil || !(*a.CI95Low < want && want < *a.CI95High) {
			t.Errorf("agreement CI [%s, %s] does not hold the rate %v", ptr(a.CI95Low), ptr(a.CI95High), want)
		}
		if a.Baseline == nil {
			t.Fatal("agreement.baseline is null with a baseline")
		}
		eq(t, "agreement.baseline.instances.agreed", a.Baseline.Instances.Agreed, int64(truth.Instances))
		eq(t, "agreement.baseline.instances.compared", a.Baseline.Instances.Compared, int64(truth.Instances))
	})
	t.Run("confusion", func(t *testing.T) {
		if rep.Agreement.Labels == nil {
			t.Fatal("agreement.labels is null, want labels")
		}
		got := rep.Confusion()
		if !mapsEqual(got, truth.Confusion) {
			t.Errorf("confusion (recorded × candidate) = %v, want %v", got, truth.Confusion)
		}
		want := kappa(truth.Confusion)
		if k := rep.Agreement.Labels.Kappa; k == nil || math.Abs(*k-want) > 1e-9 {
			t.Errorf("kappa = %s, want %v", ptr(k), want)
		}
	})
	t.Run("accuracy", func(t *testing.T) {
		// The dataset's true diagnoses by request id, and the report by
		// clinic: each side's accuracy is the models' own on the
		// instances sent (model-v2's failed requests wrong).
		labels := filepath.Join(dir, "labels.csv")
		if err := demo.WriteLabels(labels, data, plan); err != nil {
			t.Fatal(err)
		}
		var out, stderr bytes.Buffer
		if err := f.Report(ctx, &out, &stderr, append([]string{"--format", "json"}, demo.LabelFlags(labels)...)...); err != nil {
			t.Fatalf("%v\nstderr:\n%s", err, stderr.String())
		}
		r, err := demo.ParseReport(out.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		s1, err := demo.ScoreModel(v1, data, plan, nil)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := demo.ScoreModel(v2, data, plan, demo.FailedIDs(obs))
		if err != nil {
			t.Fatal(err)
		}
		a := r.Accuracy
		if a == nil || a.Recorded == nil || a.Candidate == nil || a.Baseline == nil || a.McNemar == nil {
			t.Fatalf("accuracy sides missing: %s", out.String())
		}
		eq(t, "accuracy.labeled", a.Labeled, int64(truth.Instances))
		eq(t, "accuracy.recorded.correct", a.Recorded.Correct, int64(s1.Correct))
		eq(t, "accuracy.baseline.correct", a.Baseline.Correct, int64(s1.Correct))
		eq(t, "accuracy.candidate.correct", a.Candidate.Correct, int64(s2.Correct))
		eq(t, "accuracy.candidate.count", a.Candidate.Count, int64(s2.Instances))
		if s1.Correct == s2.Correct {
			t.Errorf("both models right on %d: the run tests nothing", s1.Correct)
		}
		if a.McNemar.B-a.McNemar.C != int64(s1.Correct-s2.Correct) {
			t.Errorf("mcnemar b − c = %d, want the accuracy difference %d", a.McNemar.B-a.McNemar.C, s1.Correct-s2.Correct)
		}
		if len(r.Groups) != len(s1.ByClinic) {
			t.Fatalf("groups %d, want the %d clinics", len(r.Groups), len(s1.ByClinic))
		}
		for _, g := range r.Groups {
			if g.Accuracy == nil {
				t.Fatalf("group %s without accuracy", g.Key)
			}
			eq(t, "groups["+g.Key+"].accuracy.recorded.correct", g.Accuracy.Recorded.Correct, int64(s1.ByClinic[g.Key][0]))
			eq(t, "groups["+g.Key+"].accuracy.recorded.count", g.Accuracy.Recorded.Count, int64(s1.ByClinic[g.Key][1]))
			eq(t, "groups["+g.Key+"].accuracy.candidate.correct", g.Accuracy.Candidate.Correct, int64(s2.ByClinic[g.Key][0]))
		}
	})
	t.Run("errors", func(t *testing.T) {
		e := rep.Errors
		if e.Candidate == nil || e.Baseline == nil || e.Recorded == nil {
			t.Fatalf("errors sides missing: %+v", e)
		}
		eq(t, "errors.candidate.count", e.Candidate.Count, int64(wantFailed))
		eq(t, "errors.candidate.by_kind.http_5xx", e.Candidate.ByKind["http_5xx"], int64(wantFailed))
		eq(t, "errors.baseline.count", e.Baseline.Count, 0)
		eq(t, "errors.recorded.count", e.Recorded.Count, 0)
	})
	t.Run("latency", func(t *testing.T) {
		// Every request waits at least the injected latency; the slack on
		// top is generous because loopback on a loaded CI box is not quiet.
		const slack = 50.0
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		l := rep.Latency
		for _, c := range []struct {
			side     string
			s        *demo.LatencyJSON
			min, max float64 // bounds of p50
		}{
			{"recorded", l.Recorded, ms(e2eV1.Latency), ms(e2eV1.Latency) + slack},
			{"baseline", l.Baseline, ms(e2eV1.Latency), ms(e2eV1.Latency) + slack},
			{"candidate", l.Candidate, ms(e2eV2.Latency), ms(e2eV2.Latency+e2eV2.Jitter) + slack},
		} {
			if c.s == nil {
				t.Errorf("latency_ms.%s is null", c.side)
				continue
			}
			eq(t, "latency_ms."+c.side+".count", c.s.Count, e2eRequests)
			if !(c.s.P50 >= c.min && c.s.P50 <= c.max) {
				t.Errorf("latency_ms.%s.p50 = %.3f ms, want in [%.1f, %.1f]", c.side, c.s.P50, c.min, c.max)
			}
			if !(c.s.P50 <= c.s.P90 && c.s.P90 <= c.s.P99 && c.s.P99 <= c.s.Max) {
				t.Errorf("latency_ms.%s percentiles out of order: %+v", c.side, *c.s)
			}
		}
		// The jitter is uniform in [0, 2ms): nine in ten of 600 draws
		// exceeding 0.2ms is certain enough to show in the p99.
		if c := l.Candidate; c != nil && c.P99 < ms(e2eV2.Latency)+0.9*ms(e2eV2.Jitter) {
			t.Errorf("latency_ms.candidate.p99 = %.3f ms, want ≥ %.1f (latency + 90%% of the jitter)", c.P99, ms(e2eV2.Latency)+0.9*ms(e2eV2.Jitter))
		}
	})
	t.Run("gates", func(t *testing.T) {
		for _, c := range []struct {
			name  string
			gates []string
			code  int
		}{
			{"pass", []string{"agreement.rate < 0.5", "errors.baseline.count > 0", "latency_ms.candidate.p50 < 4"}, 0},
			{"fail", []string{"agreement.rate < 0.99", "errors.baseline.count > 0"}, 1},
		} {
			t.Run(c.name, func(t *testing.T) {
				flags := []string{"--format", "json"}
				for _, g := range c.gates {
					flags = append(flags, "--fail-on", g)
				}
				var out, stderr bytes.Buffer
				err := f.Report(ctx, &out, &stderr, flags...)
				if code := demo.ExitCode(err); code != c.code {
					t.Fatalf("exit code %d (%v), want %d; stderr:\n%s", code, err, c.code, stderr.String())
				}
				r, err := demo.ParseReport(out.Bytes())
				if err != nil {
					t.Fatalf("%v\n%s", err, out.String())
				}
				if r.Passed != (c.code == 0) || len(r.Gates) != len(c.gates) {
					t.Fatalf("passed = %v with %d gates, want %v with %d", r.Passed, len(r.Gates), c.code == 0, len(c.gates))
				}
				if c.code == 1 && (r.Gates[0].Passed || r.Gates[0].Value == nil || *r.Gates[0].Value != *rep.Agreement.Rate) {
					t.Errorf("gate %q: passed %v value %s, want failed at the agreement rate %v", r.Gates[0].Expr, r.Gates[0].Passed, ptr(r.Gates[0].Value), *rep.Agreement.Rate)
				}
			})
		}
	})
}

// TestDemo runs the demo command itself, smaller, and checks that it ends
// with its check passed and every process it started gone.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	var out, stderr bytes.Buffer
	err := run(t.Context(), []string{"--shadowctl", bins.shadowctl, "--demomodel", bins.demomodel,
		"--dir", dir, "--requests", "300", "--timeout", "90s"}, &out, &stderr)
	if err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), stderr.String())
	}
	text := out.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\$ \S+ record --listen 127\.0\.0\.1:0 .* &$`),
		regexp.MustCompile(`(?m)^\$ \S+ inspect `),
		regexp.MustCompile(`(?m)^\$ \S+ replay --target http://127\.0\.0\.1:\d+ --baseline http://127\.0\.0\.1:\d+ --out `),
		regexp.MustCompile(`(?m)^recorded 300 exchanges, dropped 0`),
		regexp.MustCompile(`(?m)^ground truth: v1 and v2 agree on \d+ of \d+ instances sent`),
		regexp.MustCompile(`(?m)^report: \d+ of \d+ instances agreeing: matches$`),
		// The live shadow act: every request mirrored, the live report checked against the models.
		regexp.MustCompile(`(?m)^\$ \S+ record .* --shadow http://127\.0\.0\.1:\d+ --shadow-out \S+ &$`),
		regexp.MustCompile(`(?m)^recorded 300 exchanges, .*; shadow: mirrored 300, dropped 0 .*, \d+ of 300 agreeing, 300 rows in `),
		regexp.MustCompile(`(?m)^live report .*: \d+ of \d+ instances agreeing; .*: matches$`),
		regexp.MustCompile(`(?m)^HTML report: ` + regexp.QuoteMeta(filepath.Join(dir, "report.html")) + `$`),
	} {
		if !want.MatchString(text) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	checkPage(t, filepath.Join(dir, "report.html"))
	// Nothing listens any more on the ports the demo announced.
	for _, m := range regexp.MustCompile(`at http://(127\.0\.0\.1:\d+)`).FindAllStringSubmatch(text, -1) {
		if c, err := net.DialTimeout("tcp", m[1], time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after the demo", m[1])
		}
	}
}

// checkPage opens the demo's HTML report in headless Chromium: it must show
// without a console error, a request or a dialog, with every chart laid out.
func checkPage(t *testing.T, path string) {
	t.Helper()
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Every section of the demo has data: a baseline, labels, groups, errors.
	for _, id := range []string{"latency-percentiles", "latency-delta", "latency-over-time", "errors-over-time",
		"confusion", "groups", "error-kinds", "transitions"} {
		if !bytes.Contains(page, []byte(`<figure id="`+id+`">`)) {
			t.Errorf("the demo's page has no %s chart", id)
		}
	}
	exe, ok := browser.Lookup(t)
	if !ok {
		return
	}
	v, err := browser.Open(t.Context(), exe, path, 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Errors) > 0 || len(v.Requests) > 0 || len(v.Dialogs) > 0 {
		t.Errorf("console errors %q, requests %q, dialogs %q: want none", v.Errors, v.Requests, v.Dialogs)
	}
	if v.SVGs != 8 {
		t.Errorf("%d charts laid out, want 8", v.SVGs)
	}
	shot := filepath.Join(filepath.Dir(path), "report.png")
	if err := os.WriteFile(shot, v.Screenshot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("the demo's page (%d bytes) in Chromium: %s", len(page), shot)
}

// TestStartFailure: a process that exits before it is ready gives an
// error with its last words, and a stopped model server exits 0.
func TestStartFailure(t *testing.T) {
	r := &demo.Runner{Logs: t.TempDir()}
	_, err := r.Start(t.Context(), "record", regexp.MustCompile(`^recording (http://\S+)`), bins.shadowctl, "record")
	if err == nil || !strings.Contains(err.Error(), "--upstream is required") {
		t.Fatalf("start without --upstream: %v, want an error quoting the recorder", err)
	}
	f := &demo.Flow{Runner: r, DemoModel: bins.demomodel}
	p, err := f.StartModel(t.Context(), e2eV1)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(p.URL + "/v2/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := p.Stop(); err != nil {
		t.Fatalf("stop model-v1 with SIGTERM: %v, want exit 0", err)
	}
}

func startModel(t *testing.T, ctx context.Context, f *demo.Flow, m demo.Model) *demo.Process {
	t.Helper()
	p, err := f.StartModel(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("stop %v", err)
		}
	})
	return p
}

// bodies lists request bodies sorted, for comparing multisets.
func bodies(obs []demo.Observed) []string {
	out := make([]string, len(obs))
	for i, o := range obs {
		out[i] = o.Path + " " + string(o.Body)
	}
	slices.Sort(out)
	return out
}

// kappa is Cohen's kappa of a confusion matrix, computed by hand.
func kappa(conf map[[2]string]int64) float64 {
	var n, agree float64
	rows, cols := map[string]float64{}, map[string]float64{}
	for k, c := range conf {
		n += float64(c)
		rows[k[0]] += float64(c)
		cols[k[1]] += float64(c)
		if k[0] == k[1] {
			agree += float64(c)
		}
	}
	var chance float64
	for class, r := range rows {
		chance += r / n * cols[class] / n
	}
	return (agree/n - chance) / (1 - chance)
}

func mapsEqual(a, b map[[2]string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func ptr(f *float64) string {
	if f == nil {
		return "null"
	}
	return fmt.Sprint(*f)
}
