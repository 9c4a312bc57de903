package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./report -update rewrites it); got:\n%s", name, got)
	}
}

// goldenReport is the fixture report with gates and groups, as every
// renderer's golden file shows it.
func goldenReport(t *testing.T) *Report {
	r := fixtureReport(t, Options{By: "path"})
	r.Files = []string{"results/shard-0.parquet", "results/shard-1.parquet"}
	var gates []Gate
	for _, e := range []string{"agreement.rate < 0.6", "latency_ms.ratio.p99 > 1.2", "errors.candidate.rate > 0.001"} {
		g, err := ParseGate(e)
		if err != nil {
			t.Fatal(err)
		}
		gates = append(gates, g)
	}
	if _, err := r.Evaluate(gates); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestGolden(t *testing.T) {
	for _, c := range []struct{ format, file string }{
		{"json", "report.json"}, {"table", "report.txt"}, {"markdown", "report.md"}, {"junit", "report.xml"},
		{"html", "report.html"},
	} {
		var buf bytes.Buffer
		if err := goldenReport(t).Write(&buf, c.format); err != nil {
			t.Fatal(err)
		}
		golden(t, c.file, buf.Bytes())
	}
	// Without gates, groups or baseline: the sections that have nothing to
	// show are left out, and JUnit still has one case.
	rows := fixtureRows()[:2]
	for i := range rows {
		rows[i].BaselineStatus, rows[i].BaselineBody, rows[i].BaselineLatencyNs = nil, nil, nil
	}
	r := buildRows(t, Options{}, rows)
	for _, c := range []struct{ format, file string }{{"table", "plain.txt"}, {"junit", "plain.xml"}, {"html", "plain.html"}} {
		var buf bytes.Buffer
		if err := r.Write(&buf, c.format); err != nil {
			t.Fatal(err)
		}
		golden(t, c.file, buf.Bytes())
	}
}
