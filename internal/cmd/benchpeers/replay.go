package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// replayRun is one load generator's run from process start to exit.
type replayRun struct {
	requests  int64
	wall      time.Duration
	cpuPerReq float64 // the generator's user+system CPU per request, µs
	steal     float64 // the machine's CPU share stolen during the run, -1 if unknown
}

func (r replayRun) rps() float64 {
	if r.wall <= 0 {
		return 0
	}
	return float64(r.requests) / r.wall.Seconds()
}

// runReplay measures `shadowctl replay` against the load generators it is
// one of, on the same fast upstream: replay sends o.exchanges recorded
// exchanges at o.connections in flight and writes every answer to a
// results file; vegeta (every answer read and written to its results file)
// and wrk (answers read, nothing written) run for o.peerDuration. Each
// generator is timed from its process's start to its exit, and the rounds
// rotate their order.
func (b *bench) runReplay(ctx context.Context) error {
	o := b.o
	bins := strings.Split(o.shadowctl, ",")
	recDir := filepath.Join(b.tmp, "replay-recording")
	n, err := b.makeRecording(ctx, bins[0], recDir)
	if err != nil {
		return err
	}
	type gen struct {
		name string
		run  func(round int) (replayRun, error)
	}
	var gens []gen
	for i, bin := range bins {
		name := "shadowctl replay"
		if len(bins) > 1 {
			name = "replay " + filepath.Base(bin)
		}
		gens = append(gens, gen{name, func(round int) (replayRun, error) {
			out := filepath.Join(b.tmp, fmt.Sprintf("results-%d-%d.parquet", i, round))
			defer os.Remove(out)
			return b.timeReplay(ctx, bin, recDir, out)
		}})
	}
	if v := findVegeta(o.vegeta); v != "" {
		gens = append(gens, gen{"vegeta", func(round int) (replayRun, error) { return b.timeVegeta(ctx, v, round) }})
	} else {
		fmt.Fprintf(b.stderr, "benchpeers: %s not found, measuring replay without vegeta (go install github.com/tsenart/vegeta/v12@latest)\n", o.vegeta)
	}
	gens = append(gens, gen{"wrk", func(int) (replayRun, error) { return b.timeWrk(ctx) }})

	fmt.Fprintf(b.stdout, "# benchpeers --replay: %d exchanges recorded (POST %d B JSON, reply %d B), concurrency %d, load %s before\n",
		n, len(b.body), len(b.reply), o.connections, loadavg())
	fmt.Fprintf(b.stdout, "# shadowctl replay --concurrency %d --out F; vegeta attack -rate=0 -workers=%d -max-workers=%d -duration=%s -output F; wrk -t%d -c%d -d%s; %d interleaved rounds\n",
		o.connections, o.connections, o.connections, o.peerDuration, o.threads, o.connections, o.peerDuration, o.rounds)
	res := map[string][]replayRun{}
	for _, g := range gens { // warm up: page cache, binaries
		if _, err := g.run(-1); err != nil {
			return fmt.Errorf("warm up %s: %w", g.name, err)
		}
	}
	for r := range o.rounds {
		for i := range gens {
			g := gens[(i+r)%len(gens)]
			t0 := cpuTimes()
			run, err := g.run(r)
			if err != nil {
				return fmt.Errorf("%s: %w", g.name, err)
			}
			run.steal = stealShare(t0, cpuTimes())
			res[g.name] = append(res[g.name], run)
			fmt.Fprintf(b.stderr, "round %d %-17s %7d requests in %6.3f s: %8.0f req/s, CPU %5.1f µs/req%s\n",
				r+1, g.name, run.requests, run.wall.Seconds(), run.rps(), run.cpuPerReq, stealNote(run.steal))
		}
	}
	fmt.Fprintf(b.stdout, "# load %s after\n", loadavg())

	tw := tabwriter.NewWriter(b.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "generator\treq/s start to exit\tCPU µs/req\tsteal\t")
	for _, g := range gens[len(bins):] {
		fmt.Fprintf(tw, "over %s\t", g.name)
	}
	fmt.Fprintln(tw)
	for _, g := range gens {
		rs := res[g.name]
		fmt.Fprintf(tw, "%s\t%.0f\t%.1f\t%s\t", g.name, median(runField(rs, replayRun.rps)),
			median(runField(rs, func(r replayRun) float64 { return r.cpuPerReq })), medianSteal(asWrk(rs)))
		for _, peer := range gens[len(bins):] {
			// Each round's ratio, then their median.
			var q []float64
			for i, r := range rs {
				if p := res[peer.name][i]; p.rps() > 0 {
					q = append(q, r.rps()/p.rps())
				}
			}
			fmt.Fprintf(tw, "%.2f\t", median(q))
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// The same ratios with each run's rate over the CPU share steal left it.
	for _, g := range gens[:len(bins)] {
		var parts []string
		for _, peer := range gens[len(bins):] {
			if adj := stealAdjusted(asWrk(res[g.name]), asWrk(res[peer.name])); len(adj) > 0 {
				parts = append(parts, fmt.Sprintf("over %s %.2f", peer.name, median(adj)))
			}
		}
		if len(parts) > 0 {
			fmt.Fprintf(b.stdout, "# %s, each run's req/s over the CPU share steal left it: %s\n", g.name, strings.Join(parts, ", "))
		}
	}
	return nil
}

// asWrk gives replay runs the fields stealAdjusted and medianSteal read.
func asWrk(rs []replayRun) []wrkResult {
	out := make([]wrkResult, len(rs))
	for i, r := range rs {
		out[i] = wrkResult{rps: r.rps(), steal: r.steal}
	}
	return out
}

func runField(rs []replayRun, f func(replayRun) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

// makeRecording records o.exchanges POSTs to the fast upstream through bin
// record into dir, and returns how many rows the recorder wrote.
func (b *bench) makeRecording(ctx context.Context, bin, dir string) (int64, error) {
	rec, err := startRecord(ctx, bin, nil, dir, b.upURL)
	if err != nil {
		return 0, err
	}
	defer rec.stop()
	url := "http://" + rec.addr + "/v1/models/m:predict"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: b.o.connections}}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, b.o.connections)
	for range b.o.connections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.o.exchanges) {
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b.body))
				if err != nil {
					errs <- err
					return
				}
				req.Header.Set("Content-Type", "application/json")
				res, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, fmt.Errorf("make the recording: %w", err)
	}
	if err := rec.stop(); err != nil {
		return 0, err
	}
	// "recorded N exchanges, ..."
	m := regexp.MustCompile(`recorded (\d+) exchanges`).FindStringSubmatch(rec.summary())
	if m == nil {
		return 0, fmt.Errorf("record's summary %q: no count", rec.summary())
	}
	return strconv.ParseInt(m[1], 10, 64)
}

// timed runs cmd from start to exit and returns its wall and CPU time.
func timed(cmd *exec.Cmd) (wall, cpu time.Duration, err error) {
	var stderr bytes.Buffer
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
	start := time.Now()
	err = cmd.Run()
	wall = time.Since(start)
	if err != nil {
		return wall, 0, fmt.Errorf("%s: %w: %s", filepath.Base(cmd.Path), err, stderr.String())
	}
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

func perRequest(cpu time.Duration, n int64) float64 {
	if n == 0 {
		return 0
	}
	return float64(cpu.Microseconds()) / float64(n)
}

var replayedLine = regexp.MustCompile(`replayed (\d+) exchanges in .*: (\d+) ok, (\d+) errors`)

func (b *bench) timeReplay(ctx context.Context, bin, recDir, out string) (replayRun, error) {
	cmd := exec.CommandContext(ctx, bin, "replay", "--target", b.upURL, "--concurrency", strconv.Itoa(b.o.connections),
		"--progress", "never", "--out", out, recDir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	wall, cpu, err := timed(cmd)
	if err != nil {
		return replayRun{}, err
	}
	m := replayedLine.FindStringSubmatch(stderr.String())
	if m == nil {
		return replayRun{}, fmt.Errorf("replay's summary %q: no count", stderr.String())
	}
	if m[3] != "0" {
		// Every answer must be a success for the rate to mean anything.
		return replayRun{}, fmt.Errorf("replay had failed requests: %s", stderr.String())
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return replayRun{requests: n, wall: wall, cpuPerReq: perRequest(cpu, n)}, nil
}

var vegetaCount = regexp.MustCompile(`(?m)^Requests\s+\[total, rate, throughput\]\s+(\d+),`)
var vegetaSuccess = regexp.MustCompile(`(?m)^Success\s+\[ratio\]\s+([0-9.]+)%`)

func (b *bench) timeVegeta(ctx context.Context, bin string, round int) (replayRun, error) {
	o := b.o
	out := filepath.Join(b.tmp, fmt.Sprintf("vegeta-%d.bin", round))
	defer os.Remove(out)
	attack := exec.CommandContext(ctx, bin, "attack", "-rate=0", "-max-workers="+strconv.Itoa(o.connections),
		"-workers="+strconv.Itoa(o.connections), "-duration="+o.peerDuration.String(), "-body="+b.bodyFile,
		"-header=Content-Type: application/json", "-output="+out)
	attack.Stdin = strings.NewReader("POST " + b.upURL + "/v1/models/m:predict\n")
	wall, cpu, err := timed(attack)
	if err != nil {
		return replayRun{}, err
	}
	rep, err := exec.CommandContext(ctx, bin, "report", out).Output()
	if err != nil {
		return replayRun{}, fmt.Errorf("vegeta report: %w", err)
	}
	m := vegetaCount.FindSubmatch(rep)
	if m == nil {
		return replayRun{}, fmt.Errorf("no count in vegeta report: %s", rep)
	}
	if s := vegetaSuccess.FindSubmatch(rep); s == nil || string(s[1]) != "100.00" {
		return replayRun{}, fmt.Errorf("vegeta had failed requests: %s", rep)
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return replayRun{requests: n, wall: wall, cpuPerReq: perRequest(cpu, n)}, nil
}

func (b *bench) timeWrk(ctx context.Context) (replayRun, error) {
	o := b.o
	cmd := exec.CommandContext(ctx, b.wrk, "-t"+strconv.Itoa(o.threads), "-c"+strconv.Itoa(o.connections),
		"-d"+strconv.Itoa(max(1, int(o.peerDuration.Seconds())))+"s", "-s", b.lua, b.upURL+"/v1/models/m:predict")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	wall, cpu, err := timed(cmd)
	if err != nil {
		return replayRun{}, err
	}
	m := reqLine.FindSubmatch(stdout.Bytes())
	if m == nil {
		return replayRun{}, fmt.Errorf("wrk: no request count in %s", stdout.String())
	}
	if e := errLine.Find(stdout.Bytes()); e != nil {
		return replayRun{}, fmt.Errorf("wrk reported failures: %s", e)
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return replayRun{requests: n, wall: wall, cpuPerReq: perRequest(cpu, n)}, nil
}
