package report

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/shadowctl/shadowctl/internal/fixture"
	"github.com/shadowctl/shadowctl/replay"
)

// mixedRows are n rows of every kind of prediction the report knows (labels,
// scores, probability vectors, embeddings, chat text, bytes), with errors,
// status changes, a baseline on most and distinct latencies, over paths
// distinct paths. Enough rows (n > exactLimit) make the latency histograms
// spill.
func mixedRows(n, paths int) []replay.Result {
	ok := func(body string, lat int64) side { return side{status: 200, body: body, lat: lat} }
	var rows []replay.Result
	for i := range n {
		id := fmt.Sprintf("m%06d", i)
		path := fmt.Sprintf("/p%d", i%paths)
		lat := int64(1 + (i*7919)%997)
		var rec, cand string
		switch i % 6 {
		case 0:
			rec, cand = fmt.Sprintf(`{"predictions":[%d,%d]}`, i%5, i%3), fmt.Sprintf(`{"predictions":[%d,%d]}`, i%5, (i/7)%3)
		case 1:
			rec, cand = fmt.Sprintf(`{"outputs":[{"name":"y","shape":[2],"data":[%d.5,%g]}]}`, i%9, float64(i%13)/7),
				fmt.Sprintf(`{"outputs":[{"name":"y","shape":[2],"data":[%d.5,%g]}]}`, i%9, float64(i%11)/7)
		case 2:
			p := float64(i%10) / 10
			rec, cand = fmt.Sprintf(`{"predictions":[[%g,%g]]}`, p, 1-p), fmt.Sprintf(`{"predictions":[[%g,%g]]}`, 1-p, p)
		case 3:
			rec, cand = fmt.Sprintf(`{"data":[{"embedding":[1,%d,3]}]}`, i%4), fmt.Sprintf(`{"data":[{"embedding":[1,2,%d]}]}`, i%5)
		case 4:
			rec, cand = `{"choices":[{"message":{"content":"yes"}}]}`, fmt.Sprintf(`{"choices":[{"message":{"content":"%s"}}]}`, []string{"yes", "no"}[i%2])
		default:
			rec, cand = fmt.Sprintf("plain %d", i%3), fmt.Sprintf("plain %d", i%4)
		}
		c := ok(cand, lat+int64(i%17))
		switch {
		case i%97 == 5:
			c = side{lat: 1000, kind: replay.KindTimeout}
		case i%89 == 3:
			c = side{status: 500 + int32(i%4), body: "oops", lat: 2, kind: replay.KindHTTP5xx}
		}
		r := ok(rec, lat)
		if i%83 == 1 {
			r = side{status: 503, body: "down", lat: 1}
		}
		var base *side
		if i%5 != 0 {
			base = ptr(ok(rec, lat+int64(i%3)))
		}
		row := row(id, path, r, c, base)
		row.RecordedBodyTruncated = i%101 == 9
		rows = append(rows, row)
	}
	return rows
}

// llmRows are streamed and plain LLM answers with event times, so that the
// text, token, TTFT and ITL parts of a state are exercised.
func llmRows(t *testing.T, n int) []replay.Result {
	t.Helper()
	names := []string{"vllm_chat.sse", "llamacpp_chat.sse", "openai_chat_usage.sse", "openai_tools.sse",
		"completions.sse", "vllm_cut.sse", "openai_chat_crlf.sse"}
	bodies := make([]string, len(names))
	for i, name := range names {
		bodies[i] = string(readStream(t, name))
	}
	times := func(i, k int) []int64 {
		v := make([]int64, 3+i%5)
		for j := range v {
			v[j] = int64((j+1)*(k+i%7)) * ms
		}
		return v
	}
	rows := make([]replay.Result, 0, n)
	for i := range n {
		rec := side{status: 200, body: bodies[i%3], lat: int64(50 + i%31)}
		cand := side{status: 200, body: bodies[(i/3)%len(bodies)], lat: int64(40 + i%37)}
		var base *side
		if i%4 != 0 {
			base = &side{status: 200, body: bodies[i%3], lat: int64(45 + i%29)}
		}
		r := row(fmt.Sprintf("l%05d", i), fmt.Sprintf("/v1/chat/%d", i%3), rec, cand, base)
		r.RecordedEventNs, r.CandidateEventNs = times(i, 3), times(i, 2)
		if base != nil {
			r.BaselineEventNs = times(i, 4)
		}
		rows = append(rows, r)
	}
	return rows
}

// stateText is the state of rows aggregated with opts, as WriteState writes
// it.
func stateText(t *testing.T, opts Options, rows []replay.Result) string {
	t.Helper()
	b, err := NewBuilder(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		b.Add(&rows[i])
	}
	var buf bytes.Buffer
	if err := b.WriteState(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// stateOf writes the state of rows aggregated with opts and reads it back.
func stateOf(t *testing.T, opts Options, rows []replay.Result) *Builder {
	t.Helper()
	got, err := ReadState(strings.NewReader(stateText(t, opts, rows)))
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	return got
}

// mergedReport is the report of rows cut into parts contiguous slices, each
// aggregated alone, written as a state, read back and merged in order.
func mergedReport(t *testing.T, opts Options, rows []replay.Result, parts int) *Report {
	t.Helper()
	var merged *Builder
	for k := range parts {
		s := stateOf(t, opts, rows[k*len(rows)/parts:(k+1)*len(rows)/parts])
		if merged == nil {
			merged = s
			continue
		}
		if err := merged.Merge(s); err != nil {
			t.Fatal(err)
		}
	}
	return merged.Report()
}

// jsonReportText is the golden fixture's JSON report, as WriteJSON writes it.
func jsonReportText(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	if err := goldenReport(t).WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// jsonOf is the JSON report decoded into plain values.
func jsonOf(t *testing.T, r *Report) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// sameJSON reports where a and b differ: numbers under latency_ms must be
// equal, every other number within a relative 1e-12 (sums of floats depend
// on the order they are added in; counts are integers and equal either way).
func sameJSON(path string, a, b any, diffs *[]string) {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			*diffs = append(*diffs, fmt.Sprintf("%s: %v != %v", path, a, b))
			return
		}
		for k := range x {
			sameJSON(path+"."+k, x[k], y[k], diffs)
		}
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			*diffs = append(*diffs, fmt.Sprintf("%s: %v != %v", path, a, b))
			return
		}
		for i := range x {
			sameJSON(path+"["+strconv.Itoa(i)+"]", x[i], y[i], diffs)
		}
	case float64:
		y, ok := b.(float64)
		eps := 1e-12 * math.Max(math.Abs(x), 1)
		if strings.Contains(path, "latency_ms") {
			eps = 0
		}
		if !ok || math.Abs(x-y) > eps {
			*diffs = append(*diffs, fmt.Sprintf("%s: %v != %v", path, a, b))
		}
	default:
		if !reflect.DeepEqual(a, b) {
			*diffs = append(*diffs, fmt.Sprintf("%s: %v != %v", path, a, b))
		}
	}
}

func assertSameReport(t *testing.T, got, want *Report) {
	t.Helper()
	var diffs []string
	sameJSON("$", jsonOf(t, got), jsonOf(t, want), &diffs)
	if len(diffs) > 0 {
		t.Errorf("merged report differs from the report over all rows in %d places:\n%s", len(diffs), strings.Join(diffs[:min(len(diffs), 20)], "\n"))
	}
}

func TestStateMergeEqualsAllRows(t *testing.T) {
	fixture := fixtureRows()
	fixture[6].RecordedBodyTruncated = true
	mixed := mixedRows(6000, 40)
	llm := llmRows(t, 600)
	for _, c := range []struct {
		name string
		opts Options
		rows []replay.Result
	}{
		{"fixture", Options{}, fixture},
		{"fixture by path", Options{By: "path", MaxGroups: 1}, fixture},
		{"mixed", Options{}, mixed},
		{"mixed by path, ignore, tolerance, top 3", Options{By: "path", MaxGroups: 7, Top: 3, AbsTol: 0.2,
			Ignore: []string{"$.outputs[*].name"}}, mixed},
		{"mixed by candidate status", Options{By: "candidate_status"}, mixed},
		{"llm streams", Options{}, llm},
		{"llm streams by path, rouge-l", Options{By: "path", Text: TextRule{Metric: TextRougeL, Threshold: 0.5}}, llm},
	} {
		want := buildRows(t, c.opts, c.rows)
		for _, parts := range []int{2, 10} {
			t.Run(fmt.Sprintf("%s/%d parts", c.name, parts), func(t *testing.T) {
				got := mergedReport(t, c.opts, c.rows, parts)
				assertSameReport(t, got, want)
				if got.Exchanges != int64(len(c.rows)) {
					t.Errorf("exchanges %d, want %d", got.Exchanges, len(c.rows))
				}
			})
		}
	}
	if r := buildRows(t, Options{}, llm); r.Tokens == nil || r.Latency.TTFT == nil || r.Latency.ITL == nil ||
		r.Agreement.Text == nil || r.Errors.Candidate.ByKind[replay.KindStreamIncomplete] == 0 {
		t.Errorf("the llm rows miss a part: tokens %v, ttft %v, itl %v, text %v, errors %v", r.Tokens != nil,
			r.Latency.TTFT != nil, r.Latency.ITL != nil, r.Agreement.Text != nil, r.Errors.Candidate.ByKind)
	}
	// The mixed rows do reach what the comparison is meant to cover.
	r := buildRows(t, Options{By: "path"}, mixed)
	a := r.Agreement
	if r.Latency.Candidate.Count <= exactLimit || a.Labels == nil || a.Numeric == nil || a.Probabilities == nil ||
		a.Embeddings == nil || a.Kinds[kindText] == 0 || len(r.Groups) != 40 || len(r.Errors.Transitions) < 3 ||
		r.NotCompared.RecordedTruncated == 0 || a.Baseline == nil || len(r.Disagreements) != 10 {
		t.Errorf("mixed rows miss a case: %+v", r)
	}
}

// Past the caps (groups, transitions, labels), a merge keeps the keys a
// single pass over the parts in order would, as long as no part alone went
// past a cap.
func TestStateMergeAtTheCaps(t *testing.T) {
	var rows []replay.Result
	const n = 1500
	for i := range n {
		rec := fmt.Sprintf(`{"predictions":["L%d"]}`, i)
		cand := fmt.Sprintf(`{"predictions":["L%d"]}`, i+n/2)
		r := row(fmt.Sprintf("c%05d", i), fmt.Sprintf("/g%d", i/5), side{status: 200, body: rec, lat: int64(i)},
			side{status: 400 + int32(i%200), body: cand, lat: 1}, nil)
		rows = append(rows, r)
	}
	opts := Options{By: "path", MaxGroups: 250}
	want := buildRows(t, opts, rows)
	// Over all rows: 300 groups (200 tracked), 200 transitions 200 → 4xx or
	// 5xx (100 kept), 2250 labels (1000 kept): each cap is reached.
	if len(want.Groups) != maxTrackedGroups+1 || len(want.Errors.Transitions) != maxTransitions+1 {
		t.Fatalf("groups %d transitions %d: the caps are not reached", len(want.Groups), len(want.Errors.Transitions))
	}
	// 20 parts of 75 rows: 15 groups, 75 transitions and 150 labels in
	// each, within every cap; the caps are reached inside a part (the 2nd
	// for transitions, the 14th for groups), so the order of its new keys
	// matters.
	assertSameReport(t, mergedReport(t, opts, rows, 20), want)
}

func TestStateRoundTrip(t *testing.T) {
	rows := mixedRows(3000, 12)
	opts := Options{By: "method", Ignore: []string{"$.x", "$.y"}, RelTol: 1e-3}
	b, err := NewBuilder(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		b.Add(&rows[i])
	}
	b.files, b.partial = []string{"a.parquet", "b.parquet"}, []string{"c.parquet.partial"}
	var first, second bytes.Buffer
	if err := b.WriteState(&first); err != nil {
		t.Fatal(err)
	}
	back, err := ReadState(bytes.NewReader(first.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if err := back.WriteState(&second); err != nil {
		t.Fatal(err)
	}
	if first.String() != second.String() {
		t.Errorf("a state read back writes another state:\n%s\n%s", first.String(), second.String())
	}
	if !reflect.DeepEqual(back.opts, b.opts) {
		t.Errorf("options %+v, want %+v", back.opts, b.opts)
	}
	got, want := back.Report(), b.Report()
	if !reflect.DeepEqual(got.Files, want.Files) || !reflect.DeepEqual(got.PartialFiles, want.PartialFiles) {
		t.Errorf("files %v %v, want %v %v", got.Files, got.PartialFiles, want.Files, want.PartialFiles)
	}
	assertSameReport(t, got, want)
	if !strings.HasPrefix(first.String(), `{"format":"`+StateFormat+`"`) || strings.Count(first.String(), "\n") != 1 {
		t.Errorf("a state is one line starting with its format: %.80s", first.String())
	}
}

func TestStateBadFiles(t *testing.T) {
	good := stateText(t, Options{By: "path"}, mixedRows(300, 3))
	// Every cut of the file is refused as damaged, never read as less.
	for n := 0; n < len(good)-1; n += 1 + n/50 {
		if _, err := ReadState(strings.NewReader(good[:n])); !errors.Is(err, ErrStateFormat) {
			t.Fatalf("cut at %d of %d: %v, want ErrStateFormat", n, len(good), err)
		}
	}
	edit := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("the state lacks %q", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	cases := []struct {
		name, data string
		want       error
		has        string
	}{
		{"garbage", "PAR1 not json", ErrStateFormat, "invalid character"},
		{"another JSON file", `{"name":"x"}`, ErrStateFormat, `format ""`},
		// A JSON report says what it is, and is still a format error.
		{"a JSON report", jsonReportText(t), ErrJSONReport, "a JSON report, not a report state"},
		{"a JSON report as a format error", jsonReportText(t), ErrStateFormat, "a JSON report"},
		{"a newer version", edit(StateFormat, "shadowctl.report-state/3"), ErrStateVersion, `"shadowctl.report-state/3" (this shadowctl reads shadowctl.report-state/2 and shadowctl.report-state/1)`},
		{"another histogram", edit(`"histogram_rel_err":0.001`, `"histogram_rel_err":0.01`), ErrStateVersion, "relative error 0.01"},
		{"an unknown part", edit(`"parts":{`, `"parts":{"bananas":{},`), ErrStateFormat, `unknown part "bananas"`},
		{"a missing part", edit(`"top":[`, `"topp":[`), ErrStateFormat, `part "top" is missing`},
		{"an unknown key", edit(`"exchanges":300,`, `"exchanges":300,"x":1,`), ErrStateFormat, `unknown field "x"`},
		{"counts that do not add up", edit(`"exchanges":300,`, `"exchanges":301,`), ErrStateFormat, "do not add up"},
		{"a negative count", edit(`"with_baseline":`, `"with_baseline":-`), ErrStateFormat, "do not add up"},
		{"bad options", edit(`"by":"path"`, `"by":"colour"`), ErrStateFormat, `option By "colour"`},
		{"a bad text rule", edit(`"text":"exact"`, `"text":"fuzzy"`), ErrStateFormat, "bad text rule"},
		{"a timeline bucket far away", edit(`"off":`, `"off":9999999`), ErrStateFormat, "does not add up"},
		{"a timeline of no width", edit(`"level":`, `"level":99`), ErrStateFormat, "timeline: level"},
		{"data after the state", good + good, ErrStateFormat, "after top-level value"},
		{"a label pair out of range", edit(`"pairs":[[0,`, `"pairs":[[99,`), ErrStateFormat, "bad label pair"},
		{"a null histogram", edit(`"latency_delta_ns":{`, `"latency_delta_ns":null,"x":{`), ErrStateFormat, "unknown field"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadState(strings.NewReader(c.data))
			if !errors.Is(err, c.want) || !strings.Contains(fmt.Sprint(err), c.has) {
				t.Errorf("err = %v, want %v with %q", err, c.want, c.has)
			}
		})
	}
	// A histogram whose buckets would need a huge array, and one whose
	// counts do not add up.
	hist := stateText(t, Options{}, mixedRows(3000, 1))
	i := strings.Index(hist, `"pos":{"offset":`)
	if i < 0 {
		t.Fatal("no histogram in the state")
	}
	j := i + len(`"pos":{"offset":`)
	for _, bad := range []string{hist[:j] + "-900000000" + hist[j+strings.IndexByte(hist[j:], ','):],
		strings.Replace(hist, `"zero":0`, `"zero":7`, 1)} {
		if _, err := ReadState(strings.NewReader(bad)); !errors.Is(err, ErrStateFormat) {
			t.Errorf("bad histogram: %v, want ErrStateFormat", err)
		}
	}
}

// writeState writes the state of rows, aggregated with opts, to path.
func writeState(t *testing.T, path string, opts Options, rows []replay.Result, files ...string) {
	t.Helper()
	b, err := NewBuilder(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		b.Add(&rows[i])
	}
	b.files = files
	writeBuilder(t, path, b)
}

func writeBuilder(t *testing.T, path string, b *Builder) {
	t.Helper()
	var buf bytes.Buffer
	if err := b.WriteState(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestBuildMergesStateFiles(t *testing.T) {
	dir := t.TempDir()
	rows := mixedRows(4000, 5)
	opts := Options{By: "path"}
	// States are found by their content, whatever their name: one is
	// named like results.
	writeState(t, filepath.Join(dir, "a.state"), opts, rows[:1000], "shard-0.parquet")
	writeState(t, filepath.Join(dir, "b.parquet"), opts, rows[1000:2500], "shard-1.parquet")
	fixture.Results(t, filepath.Join(dir, "c.parquet"), rows[2500:])
	got, err := Build(context.Background(), opts, []string{filepath.Join(dir, "a.state"), filepath.Join(dir, "b.parquet"), filepath.Join(dir, "c.parquet")})
	if err != nil {
		t.Fatal(err)
	}
	want := buildRows(t, opts, rows)
	// The results file is read first, then the states, in order.
	want.Files = []string{filepath.Join(dir, "c.parquet"), "shard-0.parquet", "shard-1.parquet"}
	assertSameReport(t, got, want)

	// States merge into a state: merges can be a tree.
	ab, err := Aggregate(context.Background(), Options{FromStates: true}, []string{filepath.Join(dir, "a.state"), filepath.Join(dir, "b.parquet")})
	if err != nil {
		t.Fatal(err)
	}
	writeBuilder(t, filepath.Join(dir, "ab.state"), ab)
	got, err = Build(context.Background(), opts, []string{filepath.Join(dir, "ab.state"), filepath.Join(dir, "c.parquet")})
	if err != nil {
		t.Fatal(err)
	}
	assertSameReport(t, got, want)

	// A gzipped state reads the same.
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	plain, _ := os.ReadFile(filepath.Join(dir, "b.parquet"))
	zw.Write(plain)
	zw.Close()
	os.WriteFile(filepath.Join(dir, "b.state.gz"), zbuf.Bytes(), 0o600)
	got, err = Build(context.Background(), opts, []string{filepath.Join(dir, "a.state"), filepath.Join(dir, "b.state.gz"), filepath.Join(dir, "c.parquet")})
	if err != nil {
		t.Fatal(err)
	}
	assertSameReport(t, got, want)
	if zbuf.Len() >= len(plain)/2 {
		t.Errorf("gzip: %d bytes of %d", zbuf.Len(), len(plain))
	}
	zcut := filepath.Join(dir, "cut.state.gz")
	os.WriteFile(zcut, zbuf.Bytes()[:zbuf.Len()/2], 0o600)
	if _, err := Build(context.Background(), opts, []string{zcut}); !errors.Is(err, ErrStateFormat) {
		t.Errorf("truncated gzip: %v, want ErrStateFormat", err)
	}

	// The options come from the first state when asked, and must match.
	if _, err = Build(context.Background(), Options{FromStates: true}, []string{filepath.Join(dir, "a.state")}); err != nil {
		t.Errorf("options from the state: %v", err)
	}
	var me *OptionMismatchError
	_, err = Build(context.Background(), Options{By: "method"}, []string{filepath.Join(dir, "a.state")})
	if !errors.As(err, &me) || me.Option != "By" || me.Got != `"path"` || me.Want != `"method"` ||
		me.File != filepath.Join(dir, "a.state") || me.From != "" {
		t.Errorf("options that differ from the state: %v", err)
	}
	writeState(t, filepath.Join(dir, "d.state"), Options{By: "path", AbsTol: 0.5}, rows[:10])
	_, err = Build(context.Background(), Options{FromStates: true}, []string{filepath.Join(dir, "a.state"), filepath.Join(dir, "d.state")})
	if !errors.As(err, &me) || me.Option != "AbsTol" || me.Got != "0.5" || me.Want != "0" ||
		me.File != filepath.Join(dir, "d.state") || me.From != filepath.Join(dir, "a.state") {
		t.Errorf("states that differ: %v", err)
	}
	// A damaged state is named.
	os.WriteFile(filepath.Join(dir, "e.state"), []byte(`{"format":"shadowctl.report-state/2","parts":`), 0o600)
	_, err = Build(context.Background(), opts, []string{filepath.Join(dir, "e.state")})
	if !errors.Is(err, ErrStateFormat) || !strings.HasPrefix(err.Error(), "read state "+filepath.Join(dir, "e.state")+": ") {
		t.Errorf("damaged state: %v", err)
	}
	// States of no rows merge to nothing, which is no report.
	writeState(t, filepath.Join(dir, "f.state"), opts, nil, "empty.parquet")
	if _, err := Build(context.Background(), opts, []string{filepath.Join(dir, "f.state")}); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty state: %v, want ErrEmpty", err)
	}
}

// Every Options field but the run's own (Progress, FromStates) shapes the
// aggregation, so states must agree on it: a field added to Options and not
// to aggregationOptions would let states of other settings merge silently.
func TestAggregationOptionsNameEveryOption(t *testing.T) {
	listed := map[string]bool{}
	for _, kv := range aggregationOptions(Options{}) {
		listed[kv[0]] = true
	}
	ot := reflect.TypeFor[Options]()
	for i := range ot.NumField() {
		name := ot.Field(i).Name
		if own := name == "Progress" || name == "FromStates"; own == listed[name] {
			t.Errorf("Options.%s: listed %v in aggregationOptions", name, listed[name])
		}
	}
	if len(listed) != ot.NumField()-2 {
		t.Errorf("aggregationOptions lists %d options, Options has %d that shape", len(listed), ot.NumField()-2)
	}
}

// TestStateReadsVersion1: a version 1 state (its groups did not count the
// instances sent) is still read, each group's sides taking the instances
// they answered or had labels for; a version 2 state whose groups count
// fewer instances than that is damaged.
func TestStateReadsVersion1(t *testing.T) {
	var c clinics
	c.add("north", []int{1, 1, 0, 0}, []int{1, 1, -1, 0}, []int{1, 0, 1, 0})
	c.add("south", []int{1, 0, 0, 0}, []int{1, 0, 0, 0}, []int{1, 1, 0, 0})
	opts := Options{By: "request:$.clinic", PositiveClass: "1", MinGroup: 1, Labels: labelsOf(t, c.kv...)}
	v2 := stateText(t, opts, c.rows)
	instances := regexp.MustCompile(`"Instances":\d+,`)
	if n := len(instances.FindAllString(v2, -1)); n < 2 {
		t.Fatalf("the state counts no instances (%d): %s", n, v2)
	}
	v1 := strings.Replace(instances.ReplaceAllString(v2, ""), StateFormat, "shadowctl.report-state/1", 1)
	b, err := ReadState(strings.NewReader(v1))
	if err != nil {
		t.Fatalf("version 1: %v", err)
	}
	for key, g := range b.groups {
		for i, s := range g.preds.Sides {
			if s.Instances != max(s.N, s.Labeled) {
				t.Errorf("group %s side %d: %d instances, want max(%d answered, %d labeled)", key, i, s.Instances, s.N, s.Labeled)
			}
		}
	}
	// The candidate failed once in north: 4 labeled, 3 answered.
	if s := b.groups["north"].preds.Sides[sideCandidate]; s.Instances != 4 || s.N != 3 {
		t.Errorf("north candidate: %d instances, %d answered; want 4 and 3", s.Instances, s.N)
	}
	damaged := strings.Replace(v2, `"Instances":4,`, `"Instances":1,`, 1)
	if _, err := ReadState(strings.NewReader(damaged)); !errors.Is(err, ErrStateFormat) {
		t.Errorf("a group counting fewer instances than answered: %v, want ErrStateFormat", err)
	}
}
