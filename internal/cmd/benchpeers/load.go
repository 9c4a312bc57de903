package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

type wrkResult struct {
	rps       float64
	requests  int64
	p50, p99  float64 // milliseconds
	cpuPerReq float64 // the proxy's CPU time per request, microseconds
	// modelCPUPerReq is benchpeers' own CPU per request, microseconds: the
	// in-process upstream's and shadows' (and /metrics scrapes').
	modelCPUPerReq float64

	// For shadowctl record: its peak RSS (VmHWM, KiB) after the run and,
	// with --shadow, the copies of the run's requests mirrored and dropped.
	peakRSS           int64
	mirrored, dropped int64

	// steal is the share of the machine's CPU time that the hypervisor gave
	// to other guests during the run (/proc/stat), or -1 where unknown: on a
	// shared VM it moves a run's rate more than most changes do.
	steal float64
}

// stealNote is a progress line's note of a run's steal.
func stealNote(steal float64) string {
	if steal < 0 {
		return ""
	}
	return fmt.Sprintf(", steal %.0f%%", 100*steal)
}

// cpuTimes reads the machine's CPU time counters: the first line of
// /proc/stat (user nice system idle iowait irq softirq steal, in ticks);
// nil where there is none.
func cpuTimes() []int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	return parseCPUTimes(b)
}

func parseCPUTimes(b []byte) []int64 {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return nil
	}
	out := make([]int64, 8) // guest time is counted in user already
	for i := range out {
		v, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil {
			return nil
		}
		out[i] = v
	}
	return out
}

// stealShare is the share of the time between two readings of cpuTimes
// that was stolen, or -1 when either is missing or no time passed.
func stealShare(a, b []int64) float64 {
	if len(a) != 8 || len(b) != 8 {
		return -1
	}
	var total int64
	for i := range a {
		total += b[i] - a[i]
	}
	if total <= 0 {
		return -1
	}
	return float64(b[7]-a[7]) / float64(total)
}

// droppedShare is the fraction of the run's copies dropped.
func (w wrkResult) droppedShare() float64 {
	if w.mirrored+w.dropped == 0 {
		return 0
	}
	return float64(w.dropped) / float64(w.mirrored+w.dropped)
}

// shadowNote is the progress line's tail for a recorder with a shadow.
func (w wrkResult) shadowNote() string {
	if w.mirrored+w.dropped == 0 {
		return ""
	}
	return fmt.Sprintf(", shadow mirrored %d dropped %d (%.1f%%), peak RSS %.1f MiB",
		w.mirrored, w.dropped, 100*w.droppedShare(), float64(w.peakRSS)/1024)
}

// processTreeCPU is the CPU time (user and system) used so far by pid and
// its children (nginx's workers), from /proc; 0 where /proc is missing.
func processTreeCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var ticks int64
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the parenthesised command: state ppid ... utime(14) stime(15).
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		if p != pid && ppid != pid {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ is 100 on Linux
}

var (
	rpsLine = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	reqLine = regexp.MustCompile(`(?m)^\s+(\d+) requests in`)
	pctLine = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	errLine = regexp.MustCompile(`(?m)^\s+Non-2xx or 3xx responses: (\d+)|Socket errors: .*`)
)

func runWrk(ctx context.Context, wrk string, o options, lua, url string, d time.Duration) (wrkResult, error) {
	cmd := exec.CommandContext(ctx, wrk, "-t"+strconv.Itoa(o.threads), "-c"+strconv.Itoa(o.connections),
		"-d"+strconv.Itoa(max(1, int(d.Seconds())))+"s", "--latency", "-s", lua, url+"/v1/models/m:predict")
	t0 := cpuTimes()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	w := wrkResult{steal: stealShare(t0, cpuTimes())}
	m := rpsLine.FindSubmatch(out)
	if m == nil {
		return w, fmt.Errorf("wrk: no Requests/sec in %s", out)
	}
	w.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	if m := reqLine.FindSubmatch(out); m != nil {
		w.requests, _ = strconv.ParseInt(string(m[1]), 10, 64)
	}
	for _, m := range pctLine.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(m[2]), 64)
		switch string(m[3]) {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		if string(m[1]) == "50" {
			w.p50 = v
		} else {
			w.p99 = v
		}
	}
	if m := errLine.Find(out); m != nil {
		return w, fmt.Errorf("wrk reported failures: %s", m)
	}
	return w, nil
}

func findVegeta(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, "go", "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

var vegetaRate = regexp.MustCompile(`(?m)^Requests\s+\[total, rate, throughput\]\s+\d+, ([0-9.]+), ([0-9.]+)`)

func runVegeta(ctx context.Context, bin string, o options, bodyFile, url string) (float64, error) {
	attack := exec.CommandContext(ctx, bin, "attack", "-rate=0", "-max-workers="+strconv.Itoa(o.connections),
		"-workers="+strconv.Itoa(o.connections), "-duration="+o.duration.String(), "-body="+bodyFile,
		"-header=Content-Type: application/json")
	attack.Stdin = strings.NewReader("POST " + url + "/v1/models/m:predict\n")
	report := exec.CommandContext(ctx, bin, "report")
	pipe, err := attack.StdoutPipe()
	if err != nil {
		return 0, err
	}
	report.Stdin = pipe
	var out bytes.Buffer
	report.Stdout = &out
	if err := attack.Start(); err != nil {
		return 0, err
	}
	if err := report.Start(); err != nil {
		_ = attack.Process.Kill()
		_ = attack.Wait()
		return 0, err
	}
	aerr := attack.Wait()
	rerr := report.Wait()
	if err := errors.Join(aerr, rerr); err != nil {
		return 0, err
	}
	m := vegetaRate.FindSubmatch(out.Bytes())
	if m == nil {
		return 0, fmt.Errorf("no rate in vegeta report: %s", out.String())
	}
	return strconv.ParseFloat(string(m[2]), 64)
}
