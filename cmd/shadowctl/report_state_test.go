package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/fixture"
	"github.com/shadowctl/shadowctl/replay"
)

// runBinary runs the real binary and returns its stdout, stderr and exit
// code.
func runBinary(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return stdout.String(), stderr.String(), ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), 0
}

// writeShards writes 3 results files of 400 rows over 4 paths: labels that
// differ now and then, scores, timeouts and 5xx.
func writeShards(t *testing.T, dir string) []string {
	t.Helper()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var files []string
	for s := range 3 {
		var rows []replay.Result
		for j := range 400 {
			i := s*400 + j
			rec := fmt.Sprintf(`{"predictions":[%d,%g]}`, i%3, float64(i%7)/4)
			cand := fmt.Sprintf(`{"predictions":[%d,%g]}`, (i/11)%3, float64(i%5)/4)
			r := replay.Result{ID: fmt.Sprintf("id-%05d", i), Method: "POST", Path: fmt.Sprintf("/v1/models/m%d:predict", i%4),
				SentAt: base, RecordedStartedAt: base, RecordedStatus: 200, RecordedBody: []byte(rec),
				RecordedLatencyNs: int64(5e6 + i*1e4), CandidateStatus: 200, CandidateBody: []byte(cand),
				CandidateLatencyNs: int64(6e6 + (i*7919%1000)*1e4)}
			switch {
			case i%97 == 3:
				r.CandidateStatus, r.CandidateBody, r.CandidateErrorKind, r.CandidateError = 0, nil, replay.KindTimeout, "timeout"
			case i%89 == 5:
				r.CandidateStatus, r.CandidateErrorKind = 503, replay.KindHTTP5xx
			}
			rows = append(rows, r)
		}
		path := filepath.Join(dir, fmt.Sprintf("shard-%d.parquet", s))
		fixture.Results(t, path, rows)
		files = append(files, path)
	}
	return files
}

// differences lists where two decoded JSON values differ, numbers within a
// relative 1e-12: sums of floats depend on the order they are added in.
func differences(path string, a, b any) []string {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return []string{fmt.Sprintf("%s: %v != %v", path, a, b)}
		}
		var out []string
		for k := range x {
			out = append(out, differences(path+"."+k, x[k], y[k])...)
		}
		return out
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return []string{fmt.Sprintf("%s: %v != %v", path, a, b)}
		}
		var out []string
		for i := range x {
			out = append(out, differences(fmt.Sprintf("%s[%d]", path, i), x[i], y[i])...)
		}
		return out
	case float64:
		if y, ok := b.(float64); !ok || math.Abs(x-y) > 1e-12*math.Max(1, math.Abs(x)) {
			return []string{fmt.Sprintf("%s: %v != %v", path, a, b)}
		}
		return nil
	}
	if !reflect.DeepEqual(a, b) {
		return []string{fmt.Sprintf("%s: %v != %v", path, a, b)}
	}
	return nil
}

// sameReport tells where two JSON reports differ.
func sameReport(t *testing.T, got, want string) []string {
	t.Helper()
	var g, w map[string]any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("%v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%v: %s", err, want)
	}
	return differences("$", g, w)
}

// mergeMatchesRows writes the report state of each shard, made with flags,
// into dir as s0+ext, s1+ext…, and checks that the report merging them,
// given no flags (the options come from the states), is the report over the
// rows made with flags. It returns the states and both reports.
func mergeMatchesRows(t *testing.T, bin, dir, ext string, flags, shards []string) (states []string, want, got string) {
	t.Helper()
	for i, shard := range shards {
		out, stderr, code := runBinary(t, bin, append(append([]string{"report", "--format", "state"}, flags...), shard)...)
		if code != 0 || stderr != "" {
			t.Fatalf("state of %s: exit %d: %s", shard, code, stderr)
		}
		path := filepath.Join(dir, fmt.Sprintf("s%d%s", i, ext))
		if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
			t.Fatal(err)
		}
		states = append(states, path)
	}
	want, stderr, code := runBinary(t, bin, append(append([]string{"report", "--format", "json"}, flags...), shards...)...)
	if code != 0 {
		t.Fatalf("report over rows: exit %d: %s", code, stderr)
	}
	got, stderr, code = runBinary(t, bin, append([]string{"report", "--format", "json"}, states...)...)
	if code != 0 {
		t.Fatalf("report over states: exit %d: %s", code, stderr)
	}
	if d := sameReport(t, got, want); len(d) > 0 {
		t.Errorf("report over the states differs from the report over the rows: %v", d)
	}
	return states, want, got
}

func TestReportStatesMergeOnTheBinary(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	shards := writeShards(t, dir)
	// Named like nothing in particular: found by content.
	states, want, _ := mergeMatchesRows(t, bin, dir, ".summary", []string{"--by", "path", "--top", "5"}, shards)
	// States and results mix; the same options may be given again.
	mixed, stderr, code := runBinary(t, bin, "report", "--format", "json", "--by", "path", "--top", "5", shards[0], states[1], states[2])
	if code != 0 {
		t.Fatalf("mixed: exit %d: %s", code, stderr)
	}
	if d := sameReport(t, mixed, want); len(d) > 0 {
		t.Errorf("report over results and states differs from the report over the rows: %v", d)
	}
	// Gates apply to the merged report: 13 timeouts (i%97 == 3) and 14
	// 5xx (i%89 == 5) of 1200.
	_, stderr, code = runBinary(t, bin, append([]string{"report", "--fail-on", "errors.candidate.count > 27"}, states...)...)
	if code != 0 {
		t.Errorf("gate on the merged count: exit %d: %s", code, stderr)
	}
	_, stderr, code = runBinary(t, bin, append([]string{"report", "--fail-on", "errors.candidate.count >= 27"}, states...)...)
	if code != 1 || stderr != "shadowctl: gates failed: FAILED: errors.candidate.count = 27, which is >= 27\n" {
		t.Errorf("failing gate: exit %d: %s", code, stderr)
	}

	state, err := os.ReadFile(states[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(state) > 64<<10 {
		t.Errorf("a state of 400 rows is %d bytes", len(state))
	}
	bad := func(name, data string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(data), 0o600)
		return p
	}
	truncated := bad("truncated.state", string(state[:len(state)/2]))
	newer := bad("newer.state", strings.Replace(string(state), `"shadowctl.report-state/2"`, `"shadowctl.report-state/9"`, 1))
	notState := bad("notes.json", `{"hello": "world"}`)
	jsonReport, _, code := runBinary(t, bin, "report", "--format", "json", shards[0])
	if code != 0 {
		t.Fatal("JSON report")
	}
	asState := bad("report.json", jsonReport)
	tol := filepath.Join(dir, "tol.state")
	out, _, code := runBinary(t, bin, "report", "--format", "state", "--by", "path", "--top", "5", "--abs-tol", "0.25", shards[0])
	if code != 0 {
		t.Fatal("state with --abs-tol")
	}
	os.WriteFile(tol, []byte(out), 0o600)
	for _, c := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"truncated", []string{truncated}, "shadowctl: read state " + truncated + ": not a report state, or a damaged one: unexpected end of JSON input"},
		{"unknown version", []string{newer}, "shadowctl: read state " + newer + `: report state of an unknown version: "shadowctl.report-state/9" (this shadowctl reads shadowctl.report-state/2 and shadowctl.report-state/1)`},
		{"not a state", []string{notState}, "shadowctl: read state " + notState + `: not a report state, or a damaged one: format ""`},
		{"a JSON report", []string{asState, states[1]}, "shadowctl: " + asState + " is a JSON report, not a report state: make states with --format state"},
		{"options differ from the flags", []string{"--by", "method", "--top", "5", states[0]},
			"shadowctl: state " + states[0] + ` was made with --by "path", this report has --by "method": give the same options, or none to use the state's`},
		{"an option not given differs", []string{"--top", "5", states[0]},
			"shadowctl: state " + states[0] + ` was made with --by "path"; with --top given, every option that shapes the aggregation is the command line's (--by "" by default): give --by "path" too, or none of them to use the state's`},
		{"states differ", []string{states[0], tol},
			"shadowctl: state " + tol + " was made with --abs-tol 0.25, but " + states[0] + " with --abs-tol 0: states made with other options do not merge"},
		{"a state is not gated", []string{"--format", "state", "--fail-on", "exchanges < 1", shards[0]},
			"shadowctl: --fail-on gates a report, not --format state: gate the report that merges the states"},
		{"a positive class differs", []string{"--by", "path", "--top", "5", "--positive-class", "cat", states[0]},
			"shadowctl: state " + states[0] + ` was made with --positive-class "", this report has --positive-class "cat": give the same options, or none to use the state's`},
	} {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := runBinary(t, bin, append([]string{"report"}, c.args...)...)
			if code != 2 || stdout != "" || stderr != c.stderr+"\n" {
				t.Errorf("exit %d, stderr %q, stdout %.100q; want exit 2 and the one line %q", code, stderr, stdout, c.stderr)
			}
		})
	}
}

// Each shard's state judged against the label file gives, merged, the
// accuracy of the report over all rows with the labels; rows mixed with
// such states need the labels again.
func TestReportStatesCarryAccuracy(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	var shards []string
	labels := "key,label\n"
	for s := range 3 {
		var rows []replay.Result
		for j := range 100 {
			i := s*100 + j
			id := fmt.Sprintf("id-%04d", i)
			rows = append(rows, replay.Result{ID: id, Method: "POST", Path: "/v1/models/m:predict",
				RequestBody: fmt.Appendf(nil, `{"clinic":"c%d"}`, i%2), RecordedStatus: 200,
				RecordedBody: fmt.Appendf(nil, `{"predictions":[%d]}`, i%3), RecordedLatencyNs: 5e6, CandidateStatus: 200,
				CandidateBody: fmt.Appendf(nil, `{"predictions":[%d]}`, (i/2)%3), CandidateLatencyNs: 6e6})
			if i%7 != 0 {
				labels += fmt.Sprintf("%s,%d\n", id, (i/3)%3)
			}
		}
		path := filepath.Join(dir, fmt.Sprintf("shard-%d.parquet", s))
		fixture.Results(t, path, rows)
		shards = append(shards, path)
	}
	labels += "nobody-asked,1\n"
	lpath := filepath.Join(dir, "labels.csv")
	os.WriteFile(lpath, []byte(labels), 0o600)
	flags := []string{"--labels", lpath, "--by", "request:$.clinic", "--positive-class", "1"}
	states, want, got := mergeMatchesRows(t, bin, dir, ".state", flags, shards)
	if !strings.Contains(got, `"labels_unmatched": 1`) {
		t.Errorf("the merged report does not say the one label nobody asked for is unmatched")
	}
	// The labels given again, rows and states mix.
	mixed, stderr, code := runBinary(t, bin, append(append([]string{"report", "--format", "json"}, flags...), shards[0], states[1], states[2])...)
	if code != 0 {
		t.Fatalf("mixed with labels: exit %d: %s", code, stderr)
	}
	if d := sameReport(t, mixed, want); len(d) > 0 {
		t.Errorf("rows and states with the labels differ from the rows: %v", d)
	}
	stdout, stderr, code := runBinary(t, bin, "report", shards[0], states[1])
	if code != 2 || stdout != "" || !strings.HasPrefix(stderr, "shadowctl: results files reported with states made with labels need the same labels") ||
		strings.Count(stderr, "\n") != 1 {
		t.Errorf("rows with labeled states but no labels: exit %d, %q", code, stderr)
	}
}
