package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/fixture"
	"github.com/shadowctl/shadowctl/record"
	"github.com/shadowctl/shadowctl/replay"
	"github.com/shadowctl/shadowctl/report"
)

// writeReportFixture writes 100 results rows: 98 where the candidate agrees,
// one where it answers another label and one timeout.
func writeReportFixture(t *testing.T, path string) {
	t.Helper()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var rows []replay.Result
	for i := range 100 {
		r := replay.Result{ID: "id-" + string(rune('A'+i/26)) + string(rune('a'+i%26)), Method: "POST",
			Path: "/v1/models/m:predict", SentAt: base, RecordedStartedAt: base,
			RecordedStatus: 200, RecordedBody: []byte(`{"predictions":[1]}`), RecordedLatencyNs: 10e6,
			CandidateStatus: 200, CandidateBody: []byte(`{"predictions":[1]}`), CandidateLatencyNs: 11e6}
		switch i {
		case 10:
			r.CandidateBody = []byte(`{"predictions":[0]}`)
		case 20:
			r.CandidateStatus, r.CandidateBody, r.CandidateErrorKind, r.CandidateError = 0, nil, replay.KindTimeout, "timeout"
		}
		rows = append(rows, r)
	}
	fixture.Results(t, path, rows)
}

func TestReportBinaryExitCodes(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	results := filepath.Join(dir, "results.parquet")
	writeReportFixture(t, results)
	notResults := filepath.Join(dir, "notes.parquet")
	os.WriteFile(notResults, []byte("just text"), 0o600)
	empty := filepath.Join(dir, "empty", "results.parquet")
	os.MkdirAll(filepath.Dir(empty), 0o700)
	fixture.Results(t, empty, nil)
	// Every exchange's true label is 1: production is always right, the
	// candidate wrong on two (a 0 and a timeout).
	var csv strings.Builder
	csv.WriteString("key,label\n")
	for i := range 100 {
		csv.WriteString("id-" + string(rune('A'+i/26)) + string(rune('a'+i%26)) + ",1\n")
	}
	labels := filepath.Join(dir, "labels.csv")
	os.WriteFile(labels, []byte(csv.String()), 0o600)
	badCols := filepath.Join(dir, "cols.csv")
	os.WriteFile(badCols, []byte("id,truth\nid-Aa,1\n"), 0o600)
	headerOnly := filepath.Join(dir, "header.csv")
	os.WriteFile(headerOnly, []byte("key,label\n"), 0o600)
	otherKeys := filepath.Join(dir, "other.csv")
	os.WriteFile(otherKeys, []byte("key,label\nreq-1,1\nreq-2,0\n"), 0o600)
	badLen := filepath.Join(dir, "len.jsonl")
	os.WriteFile(badLen, []byte(`{"key":"id-Ab","label":[1,1]}`+"\n"), 0o600)

	cases := []struct {
		name       string
		args       []string
		code       int
		stdoutHas  []string
		stderrLine string // the one line on stderr (prefix), "" for none
	}{
		{"gates pass", []string{"report", "--fail-on", "agreement.rate < 0.9", "--fail-on", "errors.candidate.rate > 0.05", results},
			0, []string{"Summary", "98.00%", "Gates", "pass"}, ""},
		{"a gate fails, report still printed", []string{"report", "--format", "json", "--fail-on", "agreement.rate < 0.99", "--fail-on", "latency_ms.ratio.p99 > 1.2", results},
			1, []string{`"passed": false`, `"agreement.rate < 0.99"`}, "shadowctl: gates failed: FAILED: agreement.rate = 0.98, which is < 0.99"},
		{"the lower bound is stricter than the rate", []string{"report", "--format", "markdown", "--fail-on", "agreement.ci95_low < 0.95", results},
			1, []string{"**FAIL**"}, "shadowctl: gates failed: FAILED: agreement.ci95_low = 0.929"},
		{"junit", []string{"report", "--format", "junit", "--fail-on", "errors.candidate.by_kind.timeout > 0", results},
			1, []string{`<testsuite name="shadowctl report" tests="1" failures="1"`}, "shadowctl: gates failed"},
		{"html: one page, the verdict at the top", []string{"report", "--format", "html", "--fail-on", "agreement.rate < 0.99", results},
			1, []string{"<!DOCTYPE html>", "Verdict: FAILED: 1 of 1 gates failed", `<figure id="latency-percentiles">`}, "shadowctl: gates failed"},
		{"a gate on a null key fails", []string{"report", "--fail-on", "agreement.numeric.mae > 0.1", results},
			1, []string{"no value"}, "shadowctl: gates failed: agreement.numeric.mae has no value in this run"},
		{"not a results file", []string{"report", notResults}, 2, nil, "shadowctl: read " + notResults + ": bad input file: not a Parquet file"},
		{"an empty results file", []string{"report", empty}, 2, nil, "shadowctl: " + empty + ": no results rows"},
		{"a missing file", []string{"report", filepath.Join(dir, "nope.parquet")}, 2, nil, "shadowctl: "},
		{"a bad gate expression", []string{"report", "--fail-on", "agreement.rate <", results}, 2, nil,
			`shadowctl: --fail-on "agreement.rate <": bad gate: want KEY OP NUMBER`},
		{"an unknown gate key names the nearest ones", []string{"report", "--fail-on", "agreement.rat < 1", results}, 2, nil,
			`shadowctl: --fail-on "agreement.rat < 1": bad gate: unknown key "agreement.rat"; did you mean agreement.rate? (shadowctl report --gate-keys lists all `},
		{"a bad format", []string{"report", "--format", "xml", results}, 2, nil, `shadowctl: --format "xml": want table, json, markdown, junit, html`},
		{"a bad field", []string{"report", "--field", "$.[", results}, 2, nil, `shadowctl: --field "$.["`},
		{"a bad --by", []string{"report", "--by", "color", results}, 2, nil, `shadowctl: --by "color": want one of path,`},
		{"a bad --text-similarity", []string{"report", "--text-similarity", "bleu>=0.5", results}, 2, nil,
			`shadowctl: --text-similarity "bleu>=0.5": bad text rule: want exact, normalized or METRIC>=T`},
		{"no arguments", []string{"report"}, 2, nil, "shadowctl: requires at least 1 arg"},
		{"a positive class without --by", []string{"report", "--positive-class", "1", results}, 2, nil,
			"shadowctl: --positive-class acts only with --by: give --by too, or leave --positive-class out"},
		{"a minimum group without --by", []string{"report", "--min-group", "5", results}, 2, nil,
			"shadowctl: --min-group acts only with --by: give --by too, or leave --min-group out"},
		{"a label key without --labels", []string{"report", "--label-key", "header:X-Id", results}, 2, nil,
			"shadowctl: --label-key acts only with --labels: give --labels too, or leave --label-key out"},
		{"labels: candidate worse", []string{"report", "--format", "json", "--labels", labels, "--fail-on", "accuracy.delta.ci95_low < -0.01", results},
			1, []string{`"labeled": 100`, `"b": 2`, `"c": 0`, `"p_value": 0.5`}, "shadowctl: gates failed: FAILED: accuracy.delta.ci95_low"},
		{"labels: wrong columns", []string{"report", "--labels", badCols, results}, 2, nil,
			"shadowctl: --labels: labels " + badCols + ":1: want columns key and label, have id, truth"},
		{"labels: a batch label of the wrong length", []string{"report", "--labels", badLen, results}, 2, nil,
			`shadowctl: bad labels: exchange id-Ab: the label of key "id-Ab" has 2 value(s), the answer 1 instance(s)`},
		{"labels: not a file", []string{"report", "--labels", dir, results}, 2, nil, "shadowctl: --labels: labels " + dir + ": not a regular file"},
		{"labels: a bad key", []string{"report", "--labels", labels, "--label-key", "request:$[", results}, 2, nil, `shadowctl: --label-key "request:$["`},
		{"labels: none in the files", []string{"report", "--labels", headerOnly, results}, 2, nil,
			"shadowctl: --labels " + headerOnly + ": the files hold no labels"},
		{"labels: no key matches", []string{"report", "--labels", otherKeys, results}, 2, nil,
			`shadowctl: --labels: none of the 2 keys (such as "req-1") matched an exchange's --label-key id; give the --label-key that holds them`},
		{"labels: a key the requests do not carry", []string{"report", "--labels", labels, "--label-key", "header:X-Nope", results}, 2, nil,
			`shadowctl: --labels: none of the 100 keys (such as "id-Aa") matched an exchange's --label-key header:X-Nope`},
		{"a positive class no side predicts", []string{"report", "--by", "path", "--positive-class", "yes", results}, 2, nil,
			`shadowctl: --positive-class "yes": no side predicted it and no label holds it, so every bias gap would be 0; the classes predicted are: 0, 1`},
		{"a positive class that is predicted", []string{"report", "--format", "json", "--by", "path", "--positive-class", "1", "--labels", labels, results},
			0, []string{`"positive_class": "1"`}, ""},
		{"an infinite tolerance", []string{"report", "--abs-tol", "inf", results}, 2, nil, "shadowctl: tolerances must be finite and >= 0 (abs +Inf, rel 0)"},
		{"a tolerance that is not a number", []string{"report", "--rel-tol", "NaN", results}, 2, nil, "shadowctl: tolerances must be finite and >= 0 (abs 0, rel NaN)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin, c.args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != c.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, stdout.String(), stderr.String())
			}
			for _, s := range c.stdoutHas {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
			switch {
			case c.stderrLine == "" && stderr.Len() != 0:
				t.Errorf("stderr = %q, want nothing", stderr.String())
			case c.stderrLine != "" && (len(lines) != 1 || !strings.HasPrefix(lines[0], c.stderrLine)):
				t.Errorf("stderr = %q, want one line starting %q", stderr.String(), c.stderrLine)
			}
			if c.code == 2 && stdout.Len() != 0 {
				t.Errorf("a usage error printed a report: %s", stdout.String())
			}
		})
	}
}

func TestReportJSONKeys(t *testing.T) {
	dir := t.TempDir()
	results := filepath.Join(dir, "results.parquet")
	writeReportFixture(t, results)
	stdout, stderr, code := runCLI(t, "report", "--format", "json", results)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	// The keys the issue promises CI scripts.
	for _, key := range []string{"schema_version", "exchanges", "agreement.rate", "agreement.ci95_low", "agreement.ci95_high",
		"agreement.requests.compared", "agreement.requests.agreed", "agreement.requests.rate",
		"agreement.instances.compared", "agreement.instances.agreed", "agreement.instances.rate", "agreement.field",
		"agreement.labels.classes", "agreement.labels.confusion", "agreement.labels.kappa", "agreement.numeric", "agreement.baseline",
		"latency_ms.recorded.p999", "latency_ms.candidate.count", "latency_ms.baseline", "latency_ms.ratio.p99", "latency_ms.delta",
		"errors.recorded.count", "errors.candidate.rate", "errors.candidate.by_kind", "errors.baseline",
		"groups", "disagreements", "gates", "passed"} {
		var cur any = doc
		for _, p := range strings.Split(key, ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				t.Errorf("key %s: %v is not an object", key, cur)
				break
			}
			if cur, ok = m[p]; !ok {
				t.Errorf("key %s is missing", key)
				break
			}
		}
	}
	if doc["exchanges"].(float64) != 100 || doc["agreement"].(map[string]any)["rate"].(float64) != 0.98 {
		t.Errorf("exchanges %v rate %v", doc["exchanges"], doc["agreement"].(map[string]any)["rate"])
	}
}

// --gate-keys lists every key a gate takes, and each one listed parses.
func TestReportGateKeys(t *testing.T) {
	out, stderr, code := runCLI(t, "report", "--gate-keys")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	keys := strings.Fields(out)
	if len(keys) < 100 || !slices.Contains(keys, "agreement.rate") || !slices.Contains(keys, "errors.candidate.by_kind.*") {
		t.Fatalf("listed %d keys: %v", len(keys), keys)
	}
	for _, k := range keys {
		// A map of counts takes a name of its own set.
		var err error
		for _, name := range []string{"timeout", "labels", "http_5xx"} {
			if _, err = report.ParseGate(strings.Replace(k, ".*", "."+name, 1) + " > 0"); err == nil {
				break
			}
		}
		if err != nil {
			t.Errorf("listed key %s does not parse: %v", k, err)
		}
	}
	// Files with --gate-keys are a mistake that says which, in one line.
	for _, args := range [][]string{{"results/"}, {"results.parquet", "more/"}} {
		_, stderr, code := runCLI(t, append([]string{"report", "--gate-keys"}, args...)...)
		const want = `--gate-keys takes no files (got "` // then the first
		if code != exitUsage || !strings.Contains(stderr, want+args[0]+`"`) || strings.Contains(stderr, "unknown command") ||
			strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("--gate-keys %v: exit %d, stderr %q; want exit %d and one line with %q", args, code, stderr, exitUsage, want)
		}
	}
}

// A folder is read with every *.parquet below it, so the results folder of a
// whole run (demo-out/) turns up its recordings too. The recording found
// is named, with what to give instead: the results in that folder, or the
// replay when it holds none. A recording named itself keeps the plain hint.
func TestReportOnAFolderThatHoldsRecordings(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	for _, p := range []string{"out/live/recordings", "out/live/shadow", "out/recordings"} {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeReportFixture(t, filepath.Join(dir, "out/results.parquet"))
	writeReportFixture(t, filepath.Join(dir, "out/live/shadow/shadow.parquet"))
	xs := []record.Exchange{{ID: "id-1", StartedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Method: "POST", Path: "/v1/models/m:predict", Status: 200}}
	fixture.Recording(t, filepath.Join(dir, "out/live/recordings/rec.parquet"), xs)
	fixture.Recording(t, filepath.Join(dir, "out/recordings/rec.parquet"), xs)

	notResults := func(path string) string {
		return "shadowctl: read " + path + `: bad input file: it is a "` + record.Schema + `" file, want [` +
			strings.Join(replay.Schemas, " ") + "]; "
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"report", "out"}, notResults("out/live/recordings/rec.parquet") +
			"it is a recording (replay it first), and out holds recordings as well as results: " +
			"give the results file or folder itself, e.g. out/results.parquet"},
		{[]string{"report", "--format", "state", "out/"}, notResults("out/live/recordings/rec.parquet") +
			"it is a recording (replay it first), and out/ holds recordings as well as results: " +
			"give the results file or folder itself, e.g. out/results.parquet"},
		{[]string{"report", "out/live"}, notResults("out/live/recordings/rec.parquet") +
			"it is a recording (replay it first), and out/live holds recordings as well as results: " +
			"give the results file or folder itself, e.g. out/live/shadow/shadow.parquet"},
		{[]string{"report", "out/results.parquet", "out/recordings"}, notResults("out/recordings/rec.parquet") +
			"it is a recording, and out/recordings holds no results file: " +
			"replay it first ('shadowctl replay --target URL out/recordings'), then report the results file"},
		{[]string{"report", "out", "out/recordings/rec.parquet"}, notResults("out/live/recordings/rec.parquet") +
			"it is a recording (replay it first), and out holds recordings as well as results: " +
			"give the results file or folder itself, e.g. out/results.parquet"},
		{[]string{"report", "out/live/shadow", "out/recordings/rec.parquet"}, notResults("out/recordings/rec.parquet") +
			"it is a recording: replay it first ('shadowctl replay --target URL out/recordings/rec.parquet'), then report the results file"},
	} {
		cmd := exec.Command(bin, c.args...)
		cmd.Dir = dir
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("%v: %v, want exit %d", c.args, err, exitUsage)
		}
		if ee.ExitCode() != exitUsage || stderr.String() != c.want+"\n" || stdout.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr\n%q\nwant exit %d and the one line\n%q",
				c.args, ee.ExitCode(), stdout.String(), stderr.String(), exitUsage, c.want)
		}
	}
}
