package report

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/fixture"
	"github.com/shadowctl/shadowctl/internal/parquetfile"
	"github.com/shadowctl/shadowctl/replay"
)

const ms = int64(time.Millisecond)

func ptr[T any](v T) *T { return &v }

// side is one answer in a fixture row.
type side struct {
	status int32
	body   string
	lat    int64 // ms
	kind   string
}

func row(id, path string, rec side, cand side, base *side) replay.Result {
	r := replay.Result{
		ID: id, Method: "POST", Path: path,
		SentAt:            time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		RecordedStartedAt: time.Date(2025, 1, 1, 3, 4, 5, 0, time.UTC),
		RecordedStatus:    rec.status, RecordedBody: []byte(rec.body), RecordedLatencyNs: rec.lat * ms,
		CandidateStatus: cand.status, CandidateBody: []byte(cand.body), CandidateLatencyNs: cand.lat * ms,
		CandidateErrorKind: cand.kind,
	}
	if rec.kind != "" {
		r.RecordedError = rec.kind
	}
	if cand.kind != "" {
		r.CandidateError = "failed: " + cand.kind
	}
	if base != nil {
		r.BaselineStatus = ptr(base.status)
		r.BaselineBody = []byte(base.body)
		r.BaselineLatencyNs = ptr(base.lat * ms)
		if base.kind != "" {
			r.BaselineErrorKind = ptr(base.kind)
			r.BaselineError = ptr("failed: " + base.kind)
		}
	}
	return r
}

// fixtureRows is a small, fixed replay of a KServe V1 classifier with a
// baseline; the expected numbers in the tests are worked out from it by hand.
func fixtureRows() []replay.Result {
	const v1 = "/v1/models/m:predict"
	const v2 = "/v2/models/m/infer"
	ok := func(body string, lat int64) side { return side{status: 200, body: body, lat: lat} }
	return []replay.Result{
		row("r01", v1, ok(`{"predictions":[1,0,1]}`, 10), ok(`{"predictions":[1,0,1]}`, 12), ptr(ok(`{"predictions":[1,0,1]}`, 11))),
		row("r02", v1, ok(`{"predictions":[1,0,1]}`, 20), ok(`{"predictions":[1,1,1]}`, 24), ptr(ok(`{"predictions":[1,0,1]}`, 21))),
		row("r03", v2, ok(`{"predictions":[0,0]}`, 30), ok(`{"predictions":[0,0]}`, 33), ptr(ok(`{"predictions":[0,1]}`, 30))),
		row("r04", v1, ok(`{"predictions":[1]}`, 40), side{lat: 1000, kind: replay.KindTimeout}, ptr(ok(`{"predictions":[1]}`, 42))),
		row("r05", v2, ok(`{"predictions":[0,1]}`, 50), side{status: 500, body: "oops", lat: 5, kind: replay.KindHTTP5xx}, ptr(ok(`{"predictions":[0,1]}`, 49))),
		row("r06", v1, side{status: 503, body: "down", lat: 1}, ok(`{"predictions":[1]}`, 15), ptr(side{status: 503, lat: 2, kind: replay.KindHTTP5xx})),
		row("r07", v1, side{status: 200, body: `{"predictions":[1,`, lat: 60}, ok(`{"predictions":[1,1]}`, 66), ptr(ok(`{"predictions":[1,1]}`, 61))),
		row("r08", v1, ok(`{"predictions":[1,1],"model_version":"1"}`, 70), ok(`{"predictions":[1,1],"model_version":"2"}`, 77), ptr(ok(`{"predictions":[1,1],"model_version":"1"}`, 70))),
	}
}

func buildRows(t *testing.T, opts Options, rows []replay.Result) *Report {
	t.Helper()
	b, err := NewBuilder(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		b.Add(&rows[i])
	}
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	return b.Report()
}

func fixtureReport(t *testing.T, opts Options) *Report {
	rows := fixtureRows()
	rows[6].RecordedBodyTruncated = true
	return buildRows(t, opts, rows)
}

func f(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

func TestBuildFixtureByHand(t *testing.T) {
	r := fixtureReport(t, Options{})
	if r.Exchanges != 8 || r.WithBaseline != 8 || r.NotCompared != (NotCompared{RecordedFailed: 1, RecordedTruncated: 1}) {
		t.Errorf("exchanges %d baseline %d not compared %+v", r.Exchanges, r.WithBaseline, r.NotCompared)
	}
	a := r.Agreement
	// Requests r01..r05, r08: r01, r03, r08 agree (r08 differs only
	// outside $.predictions).
	if a.Requests.Compared != 6 || a.Requests.Agreed != 3 {
		t.Errorf("requests = %+v, want 3 of 6", a.Requests)
	}
	// Instances: r01 3/3, r02 2/3, r03 2/2, r04 0/1, r05 0/2, r08 2/2.
	if a.Instances.Compared != 13 || a.Instances.Agreed != 9 || a.Unit != "instance" || f(a.Rate) != 9.0/13 {
		t.Errorf("instances = %+v unit %s rate %v, want 9 of 13", a.Instances, a.Unit, f(a.Rate))
	}
	lo, hi := wilson(9, 13)
	if f(a.CI95Low) != lo || f(a.CI95High) != hi {
		t.Errorf("ci = %v %v", f(a.CI95Low), f(a.CI95High))
	}
	if a.Field != "$.predictions" || a.FieldSource != "KServe/TF Serving V1" || a.Kind != kindLabels {
		t.Errorf("field %q source %q kind %q", a.Field, a.FieldSource, a.Kind)
	}
	// Label pairs (both sides answered): (1,1)x6 (0,0)x3 (0,1)x1.
	// po = .9; rows 1:6 0:4, cols 1:7 0:3; pe = .6*.7 + .4*.3 = .54;
	// kappa = .36/.46.
	l := a.Labels
	if l == nil || l.Count != 10 || !reflect.DeepEqual(l.Classes, []string{"1", "0"}) ||
		!reflect.DeepEqual(l.Confusion, [][]int64{{6, 0}, {1, 3}}) || !near(f(l.Kappa), 0.36/0.46, 1e-12) {
		t.Fatalf("labels = %+v kappa %v", l, f(l.Kappa))
	}
	// Baseline vs recorded: r03 differs in one of 2 instances; r01 r02
	// r04 r05 r08 agree: instances 3+3+1+1+2+2 = 12, agreed 11.
	if a.Baseline == nil || a.Baseline.Requests.Agreed != 5 || a.Baseline.Requests.Compared != 6 ||
		a.Baseline.Instances.Agreed != 12 || a.Baseline.Instances.Compared != 13 {
		t.Errorf("baseline = %+v", a.Baseline)
	}

	// Latency. Recorded answered: all but none (r06 answered 503): 10 20 30
	// 40 50 1 60 70 -> p50 = 3rd of... nearest rank ceil(.5*8) = 4th of
	// 1 10 20 30 40 50 60 70 = 30.
	lr := r.Latency.Recorded
	if lr.Count != 8 || f(lr.P50) != 30 || f(lr.Max) != 70 || f(lr.Mean) != 281.0/8 {
		t.Errorf("recorded latency = %+v p50 %v max %v mean %v", lr, f(lr.P50), f(lr.Max), f(lr.Mean))
	}
	// Candidate answered: all but r04 (timeout, no status): 12 24 33 5 15
	// 66 77 -> sorted 5 12 15 24 33 66 77, p50 = 4th = 24.
	lc := r.Latency.Candidate
	if lc.Count != 7 || f(lc.P50) != 24 || f(lc.Max) != 77 {
		t.Errorf("candidate latency = %+v p50 %v", lc, f(lc.P50))
	}
	// Baseline: 11 21 30 42 49 2 61 70 -> sorted 2 11 21 30 42 49 61 70,
	// p50 = 30; ratio p50 = 24/30.
	if f(r.Latency.Baseline.P50) != 30 || r.Latency.Ratio.Against != "baseline" || !near(f(r.Latency.Ratio.P50), 0.8, 1e-12) {
		t.Errorf("baseline latency %+v ratio %+v", r.Latency.Baseline, r.Latency.Ratio)
	}
	// Paired deltas where both answered (all but r04): 1 3 3 -44 13 5 7 ->
	// sorted -44 1 3 3 5 7 13: p50 = 4th = 3, p90 = 7th = 13.
	if d := r.Latency.Delta; d.Count != 7 || f(d.P50) != 3 || f(d.P90) != 13 {
		t.Errorf("delta = %+v p50 %v p90 %v", d, f(d.P50), f(d.P90))
	}

	// Errors: candidate timeout + 5xx of 8; recorded r06 503; baseline r06.
	ec := r.Errors.Candidate
	if ec.Count != 2 || ec.Of != 8 || f(ec.Rate) != 0.25 ||
		!reflect.DeepEqual(ec.ByKind, map[string]int64{"timeout": 1, "http_5xx": 1}) {
		t.Errorf("candidate errors = %+v", ec)
	}
	if r.Errors.Recorded.Count != 1 || r.Errors.Recorded.ByKind["http_5xx"] != 1 || r.Errors.Baseline.Count != 1 {
		t.Errorf("recorded errors %+v baseline %+v", r.Errors.Recorded, r.Errors.Baseline)
	}
	wantTrans := []Transition{{"200", "500", 1}, {"200", "timeout", 1}, {"503", "200", 1}}
	if !reflect.DeepEqual(r.Errors.Transitions, wantTrans) {
		t.Errorf("transitions = %+v", r.Errors.Transitions)
	}

	// Different answers first (r02), then failures (r05 has 2 instances, r04
	// one): failures are counted by kind elsewhere, a wrong answer only here.
	var ids []string
	for _, d := range r.Disagreements {
		ids = append(ids, d.ID)
	}
	if !reflect.DeepEqual(ids, []string{"r02", "r05", "r04"}) {
		t.Errorf("disagreements = %v", ids)
	}
	if d := r.Disagreements[0]; len(d.Diff) != 1 || d.Diff[0].String() != "$.predictions[1]: 0 → 1" || d.Instances != 1 {
		t.Errorf("diff of r02 = %+v", d)
	}
}

func TestBuildTopAndIgnoreAndWholeBody(t *testing.T) {
	// --top 1 keeps the worst only.
	if r := fixtureReport(t, Options{Top: 1}); len(r.Disagreements) != 1 || r.Disagreements[0].ID != "r02" {
		t.Errorf("top 1 = %+v", r.Disagreements)
	}
	// Whole body compared (--field $): model_version makes r08 differ,
	// unless ignored.
	r := fixtureReport(t, Options{Field: "$"})
	if r.Agreement.Requests.Agreed != 2 || r.Agreement.Unit != "request" || r.Agreement.FieldSource != "--field" {
		t.Errorf("--field $: %+v source %s", r.Agreement.Requests, r.Agreement.FieldSource)
	}
	r = fixtureReport(t, Options{Field: "$", Ignore: []string{"$.model_version"}})
	if r.Agreement.Requests.Agreed != 3 {
		t.Errorf("--ignore model_version: %+v", r.Agreement.Requests)
	}
	// Plain text bodies compare byte for byte.
	txt := []replay.Result{
		row("t1", "/", side{status: 200, body: "yes"}, side{status: 200, body: "yes"}, nil),
		row("t2", "/", side{status: 200, body: "yes"}, side{status: 200, body: "yes "}, nil),
	}
	r = buildRows(t, Options{}, txt)
	if r.Agreement.Requests.Agreed != 1 || r.Agreement.Requests.Compared != 2 || r.Agreement.Baseline != nil ||
		r.Latency.Ratio == nil || r.Latency.Ratio.Against != "recorded" || r.Latency.Ratio.Note == "" {
		t.Errorf("text: %+v ratio %+v", r.Agreement.Requests, r.Latency.Ratio)
	}
}

func TestBuildScoresProbabilitiesEmbeddings(t *testing.T) {
	ok := func(body string) side { return side{status: 200, body: body, lat: 1} }
	cases := []struct {
		name  string
		opts  Options
		rows  []replay.Result
		check func(t *testing.T, a Agreement)
	}{
		{"OIP scores with tolerance", Options{AbsTol: 0.5},
			[]replay.Result{
				row("s1", "/", ok(`{"outputs":[{"name":"y","shape":[3],"data":[1.0,2.0,3.0]}]}`),
					ok(`{"outputs":[{"name":"y","shape":[3],"data":[2.0,2.0,5.0]}]}`), nil),
			},
			func(t *testing.T, a Agreement) {
				// diffs 1 0 2: MAE 1, RMSE sqrt(5/3), max 2, pearson 3/sqrt(12);
				// within 0.5: one of three.
				n := a.Numeric
				if a.Kind != kindScores || a.Field != "$.outputs[*].data" || n == nil || f(n.MAE) != 1 ||
					!near(f(n.RMSE), math.Sqrt(5.0/3), 1e-12) || f(n.MaxAbsDiff) != 2 ||
					!near(f(n.Pearson), 3/math.Sqrt(12), 1e-12) || a.Instances.Agreed != 1 || n.WithinTolerance.Count != 1 {
					t.Errorf("%+v %+v", a, n)
				}
			}},
		{"V1 probability vectors", Options{},
			[]replay.Result{
				row("p1", "/", ok(`{"predictions":[[0.9,0.1],[0.4,0.6]]}`), ok(`{"predictions":[[0.8,0.2],[0.7,0.3]]}`), nil),
			},
			func(t *testing.T, a Agreement) {
				p := a.Probabilities
				// argmax 0/0 agree, 1/0 differ; elements diffs .1 .1 .3 .3.
				if a.Kind != kindProbabilities || p == nil || p.Argmax.Count != 1 || p.Argmax.Of != 2 ||
					!near(f(a.Numeric.MAE), 0.2, 1e-12) || a.Labels == nil || a.Labels.Count != 2 {
					t.Errorf("%+v %+v", a, p)
				}
				c1 := (0.72 + 0.02) / math.Sqrt(0.82*0.68)
				c2 := (0.28 + 0.18) / math.Sqrt(0.52*0.58)
				if !near(f(p.MeanCosine), (c1+c2)/2, 1e-12) {
					t.Errorf("mean cosine %v, want %v", f(p.MeanCosine), (c1+c2)/2)
				}
			}},
		{"OpenAI embeddings", Options{},
			[]replay.Result{
				row("e1", "/", ok(`{"data":[{"embedding":[1,0]},{"embedding":[1,2,3]}]}`), ok(`{"data":[{"embedding":[1,1]},{"embedding":[2,4,6]}]}`), nil),
			},
			func(t *testing.T, a Agreement) {
				e := a.Embeddings
				if a.Kind != kindEmbeddings || e == nil || e.Count != 2 || !near(f(e.MeanCosine), (1/math.Sqrt2+1)/2, 1e-12) ||
					!near(f(e.MinCosine), 1/math.Sqrt2, 1e-12) || a.Labels != nil {
					t.Errorf("%+v %+v", a, e)
				}
			}},
		{"OpenAI chat is text, not labels", Options{},
			[]replay.Result{
				row("c1", "/", ok(`{"choices":[{"message":{"content":"yes"}}]}`), ok(`{"choices":[{"message":{"content":"no"}}]}`), nil),
			},
			func(t *testing.T, a Agreement) {
				if a.Kind != kindText || a.Labels != nil || a.Instances.Compared != 1 || a.Instances.Agreed != 0 {
					t.Errorf("%+v", a)
				}
			}},
		{"NaN from TF Serving agrees with NaN", Options{},
			[]replay.Result{
				row("n1", "/", ok(`{"predictions":[NaN, 0.5]}`), ok(`{"predictions":[NaN, 0.5]}`), nil),
				row("n2", "/", ok(`{"predictions":[NaN]}`), ok(`{"predictions":[0.5]}`), nil),
			},
			func(t *testing.T, a Agreement) {
				if a.Requests.Agreed != 1 || a.Instances.Agreed != 2 || a.Instances.Compared != 3 || a.Numeric.NonFinite != 2 {
					t.Errorf("%+v %+v", a, a.Numeric)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.check(t, buildRows(t, c.opts, c.rows).Agreement) })
	}
}

func TestBuildGroups(t *testing.T) {
	r := fixtureReport(t, Options{By: "path"})
	if len(r.Groups) != 2 || r.Groups[0].Key != "/v1/models/m:predict" || r.Groups[0].Exchanges != 6 ||
		r.Groups[1].Exchanges != 2 {
		t.Fatalf("groups = %+v", r.Groups)
	}
	// /v2: r03 (2/2) and r05 (0/2, candidate 5xx).
	g := r.Groups[1].Agreement
	if g.Instances.Compared != 4 || g.Instances.Agreed != 2 || r.Groups[1].Errors.Candidate.Count != 1 {
		t.Errorf("/v2 group = %+v", r.Groups[1])
	}
	// Only one group shown: the rest merge into "(other)".
	r = fixtureReport(t, Options{By: "path", MaxGroups: 1})
	if len(r.Groups) != 2 || r.Groups[1].Key != otherGroup || r.Groups[1].Exchanges != 2 {
		t.Errorf("max groups 1 = %+v", r.Groups)
	}
	_, err := NewBuilder(Options{By: "nope"})
	if err == nil {
		t.Error("--by nope accepted")
	}
	var oe *OptionError
	if !errors.As(err, &oe) || !errors.Is(err, ErrUnknownColumn) || oe.Option != "By" || oe.Value != "nope" {
		t.Errorf("--by nope: %v, want an OptionError for By \"nope\" wrapping ErrUnknownColumn", err)
	}
}

func TestBuildFromFiles(t *testing.T) {
	dir := t.TempDir()
	rows := fixtureRows()
	fixture.Results(t, filepath.Join(dir, "a.parquet"), rows[:3])
	fixture.Results(t, filepath.Join(dir, "b.parquet"), rows[3:])
	if err := os.WriteFile(filepath.Join(dir, "c.parquet.partial"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Build(context.Background(), Options{}, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if r.Exchanges != 8 || len(r.Files) != 2 || len(r.PartialFiles) != 1 || r.Agreement.Requests.Compared != 7 {
		t.Errorf("from files: exchanges %d files %v partial %v requests %+v", r.Exchanges, r.Files, r.PartialFiles, r.Agreement.Requests)
	}

	empty := filepath.Join(dir, "empty", "e.parquet")
	os.MkdirAll(filepath.Dir(empty), 0o700)
	fixture.Results(t, empty, nil)
	if _, err := Build(context.Background(), Options{}, []string{empty}); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty file: %v, want ErrEmpty", err)
	}
	// A folder with no file at all says so, not "only in-progress files: ".
	none := filepath.Join(dir, "none")
	os.MkdirAll(none, 0o700)
	if _, err := Build(context.Background(), Options{}, []string{none}); !errors.Is(err, ErrEmpty) ||
		!strings.Contains(err.Error(), "no results files (*.parquet) or report states there") {
		t.Errorf("empty folder: %v", err)
	}
	bad := filepath.Join(dir, "bad.parquet")
	os.WriteFile(bad, []byte("not parquet"), 0o600)
	if _, err := Build(context.Background(), Options{}, []string{bad}); !errors.Is(err, parquetfile.ErrFormat) {
		t.Errorf("bad file: %v, want ErrFormat", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	many := make([]replay.Result, 5000)
	for i := range many {
		many[i] = rows[0]
	}
	os.MkdirAll(filepath.Join(dir, "many"), 0o700)
	fixture.Results(t, filepath.Join(dir, "many", "m.parquet"), many)
	if _, err := Build(ctx, Options{}, []string{filepath.Join(dir, "many")}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}

// The differences under a wildcard field name the answer's own paths.
func TestDisagreementPathsAreConcrete(t *testing.T) {
	ok := func(body string) side { return side{status: 200, body: body, lat: 1} }
	for _, c := range []struct {
		name, rec, cand, want string
	}{
		{"OIP, one output", `{"outputs":[{"name":"y","datatype":"BYTES","shape":[3],"data":["a","b","c"]}]}`,
			`{"outputs":[{"name":"y","datatype":"BYTES","shape":[3],"data":["a","b","x"]}]}`,
			`$.outputs[0].data[2]: "c" → "x"`},
		{"OIP, two outputs", `{"outputs":[{"name":"y","data":[1,2]},{"name":"z","data":[3,4]}]}`,
			`{"outputs":[{"name":"y","data":[1,2]},{"name":"z","data":[3,5]}]}`,
			`$.outputs[1].data[1]: 4 → 5`},
		{"OIP, rows by shape", `{"outputs":[{"name":"p","datatype":"FP32","shape":[2,2],"data":[0.9,0.1,0.2,0.8]}]}`,
			`{"outputs":[{"name":"p","datatype":"FP32","shape":[2,2],"data":[0.9,0.1,0.7,0.3]}]}`,
			`$.outputs[*].data[1][0]: 0.2 → 0.7`},
		{"chat", `{"choices":[{"message":{"content":"yes"}},{"message":{"content":"no"}}]}`,
			`{"choices":[{"message":{"content":"yes"}},{"message":{"content":"maybe"}}]}`,
			`$.choices[1].message.content: "no" → "maybe"`},
		{"embeddings", `{"data":[{"embedding":[1,0]},{"embedding":[0,1]}]}`,
			`{"data":[{"embedding":[1,0]},{"embedding":[0,-1]}]}`,
			`$.data[1].embedding[1]: 1 → -1`},
		{"V1, no wildcard", `{"predictions":[1,0]}`, `{"predictions":[1,1]}`, `$.predictions[1]: 0 → 1`},
	} {
		r := buildRows(t, Options{}, []replay.Result{row("x", "/p", ok(c.rec), ok(c.cand), nil)})
		if len(r.Disagreements) != 1 || len(r.Disagreements[0].Diff) == 0 {
			t.Errorf("%s: disagreements %+v", c.name, r.Disagreements)
			continue
		}
		if got := r.Disagreements[0].Diff[0].String(); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}
