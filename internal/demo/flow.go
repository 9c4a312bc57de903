package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/shadowctl/shadowctl/replay"
)

// Model is how one demo model server runs.
type Model struct {
	// Version is the model version to train: "v1" or "v2".
	Version string
	// Latency and Jitter are added to every inference request; FailRate of
	// them fail with HTTP 500, drawn from Seed.
	Latency, Jitter time.Duration
	FailRate        float64
	Seed            uint64
}

// Flow is the demo pipeline: two model servers, the recorder in front of
// model-v1, traffic through it, then inspect, replay and report. Each step
// is a method, so the demo and the end-to-end test run the same commands.
type Flow struct {
	Runner *Runner
	// Shadowctl and DemoModel are the binaries.
	Shadowctl, DemoModel string
	// Dir is the output folder: recordings/ and results.parquet.
	Dir string
	// ModelName is the model name in request paths ("breast-cancer").
	ModelName string
}

var (
	listeningLine = regexp.MustCompile(`^listening on (http://\S+)$`)
	recordingLine = regexp.MustCompile(`^recording (http://\S+) -> `)
	recordedLine  = regexp.MustCompile(`^recorded (\d+) exchanges, dropped (\d+)`)
)

// Recordings is the recorder's output folder.
func (f *Flow) Recordings() string { return filepath.Join(f.Dir, "recordings") }

// Results is the replay's results file.
func (f *Flow) Results() string { return filepath.Join(f.Dir, "results.parquet") }

// Live is the live shadow's folder: its recordings and its results.
func (f *Flow) Live() string { return filepath.Join(f.Dir, "live") }

// LiveResults is the live shadow's results folder.
func (f *Flow) LiveResults() string { return filepath.Join(f.Live(), "shadow") }

// Labels is the demo's label file: the true diagnoses by request id.
func (f *Flow) Labels() string { return filepath.Join(f.Dir, "labels.csv") }

// ReportJSON is where the demo keeps the JSON report.
func (f *Flow) ReportJSON() string { return filepath.Join(f.Dir, "report.json") }

// ReportHTML is where the demo keeps the HTML report.
func (f *Flow) ReportHTML() string { return filepath.Join(f.Dir, "report.html") }

// Clean removes what an earlier run left in Dir (recordings, results and
// logs, the JSON and HTML reports), so that the replay reads only this run's recordings. Nothing else
// in Dir is touched.
func (f *Flow) Clean() error {
	for _, p := range []string{f.Recordings(), f.Results(), f.Results() + ".partial", f.ReportJSON(), f.ReportHTML(), f.Labels(), f.Live(), f.Runner.Logs} {
		if p == "" {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("clean %s: %w", p, err)
		}
	}
	return nil
}

func (f *Flow) modelName() string {
	if f.ModelName == "" {
		return "breast-cancer"
	}
	return f.ModelName
}

// StartModel starts a demo model server on a free loopback port.
func (f *Flow) StartModel(ctx context.Context, m Model) (*Process, error) {
	return f.Runner.Start(ctx, "model-"+m.Version, listeningLine, f.DemoModel,
		"--listen", "127.0.0.1:0", "--name", f.modelName(), "--version", m.Version,
		"--latency", m.Latency.String(), "--jitter", m.Jitter.String(),
		"--fail-rate", strconv.FormatFloat(m.FailRate, 'g', -1, 64),
		"--seed", strconv.FormatUint(m.Seed, 10))
}

// StartRecorder starts `shadowctl record` on a free loopback port in front
// of upstream, writing to Recordings().
func (f *Flow) StartRecorder(ctx context.Context, upstream string) (*Process, error) {
	return f.Runner.Start(ctx, "record", recordingLine, f.Shadowctl, "record",
		"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--instance", "demo",
		"--upstream", upstream, "--out", f.Recordings())
}

// StartLiveShadow starts `shadowctl record` in front of upstream that also
// sends every request to shadow live, writing to Live().
func (f *Flow) StartLiveShadow(ctx context.Context, upstream, shadow string) (*Process, error) {
	return f.Runner.Start(ctx, "record-live", recordingLine, f.Shadowctl, "record",
		"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--instance", "live",
		"--upstream", upstream, "--out", filepath.Join(f.Live(), "recordings"),
		"--shadow", shadow, "--shadow-out", f.LiveResults())
}

// ReportLive runs `shadowctl report` on the live shadow's results, its
// output going to the file at path when path is not empty.
func (f *Flow) ReportLive(ctx context.Context, path string, stdout, stderr io.Writer, flags ...string) error {
	args := append(append([]string{"report"}, flags...), f.LiveResults())
	if path != "" {
		return f.Runner.RunToFile(ctx, path, stderr, f.Shadowctl, args...)
	}
	return f.Runner.Run(ctx, stdout, stderr, f.Shadowctl, args...)
}

// RecordSummary is the recorder's summary line, parsed.
type RecordSummary struct {
	Line              string
	Recorded, Dropped int64
}

// StopRecorder stops the recorder with SIGTERM, as Kubernetes would, and
// returns its summary. The recorder must exit 0.
func StopRecorder(p *Process) (RecordSummary, error) {
	if err := p.Stop(); err != nil {
		return RecordSummary{}, fmt.Errorf("stop recorder: %w:\n%s", err, p.Tail())
	}
	line := p.LastLine(recordedLine)
	m := recordedLine.FindStringSubmatch(line)
	if m == nil {
		return RecordSummary{}, fmt.Errorf("stop recorder: no summary line in its output:\n%s", p.Tail())
	}
	s := RecordSummary{Line: line}
	s.Recorded, _ = strconv.ParseInt(m[1], 10, 64)
	s.Dropped, _ = strconv.ParseInt(m[2], 10, 64)
	return s, nil
}

// Inspect runs `shadowctl inspect` on the recordings.
func (f *Flow) Inspect(ctx context.Context, stdout, stderr io.Writer) error {
	return f.Runner.Run(ctx, stdout, stderr, f.Shadowctl, "inspect", f.Recordings())
}

// Replay runs `shadowctl replay` of the recordings against target, with
// baseline beside it, into Results(). Pass the terminal as stderr to show
// the progress bar.
func (f *Flow) Replay(ctx context.Context, target, baseline string, stdout, stderr io.Writer) error {
	return f.Runner.Run(ctx, stdout, stderr, f.Shadowctl, "replay",
		"--target", target, "--baseline", baseline, "--out", f.Results(), f.Recordings())
}

// Report runs `shadowctl report` on Results() with the given flags.
func (f *Flow) Report(ctx context.Context, stdout, stderr io.Writer, flags ...string) error {
	args := append(append([]string{"report"}, flags...), f.Results())
	return f.Runner.Run(ctx, stdout, stderr, f.Shadowctl, args...)
}

// ObservedFromResults reads what the candidate was asked and whether it
// answered, from a results file.
func ObservedFromResults(path string) ([]Observed, error) {
	r, err := replay.OpenResults(path)
	if err != nil {
		return nil, fmt.Errorf("read results %s: %w", path, err)
	}
	defer r.Close()
	var obs []Observed
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			return obs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read results %s: %w", path, err)
		}
		failed := row.CandidateErrorKind != "" || row.CandidateStatus < 200 || row.CandidateStatus > 299
		obs = append(obs, Observed{Path: row.Path, Body: append([]byte(nil), row.RequestBody...), Failed: failed})
	}
}

// ObservedFromFolder is ObservedFromResults over every results file in dir.
func ObservedFromFolder(dir string) ([]Observed, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.parquet"))
	if err != nil {
		return nil, err
	}
	var obs []Observed
	for _, p := range files {
		o, err := ObservedFromResults(p)
		if err != nil {
			return nil, err
		}
		obs = append(obs, o...)
	}
	return obs, nil
}

// ReportToFile runs `shadowctl report` on Results() with the given flags,
// its output going to the file at path.
func (f *Flow) ReportToFile(ctx context.Context, path string, stderr io.Writer, flags ...string) error {
	args := append(append([]string{"report"}, flags...), f.Results())
	return f.Runner.RunToFile(ctx, path, stderr, f.Shadowctl, args...)
}
