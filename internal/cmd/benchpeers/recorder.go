package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type recorder struct {
	name        string
	addr, admin string
	shadowed    bool // started with --shadow
	cmd         *exec.Cmd
	stderr      bytes.Buffer
	exited      chan struct{}
	stopped     bool
	err         error
}

// startRecord runs `bin record` to upstream, recording into out, with the
// extra flags.
func startRecord(ctx context.Context, bin string, extra []string, out, upstream string) (*recorder, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	admin, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"record", "--upstream", upstream, "--listen", addr, "--admin", admin,
		"--out", out, "--instance", "bench"}
	args = append(args, extra...)
	r := &recorder{addr: addr, admin: admin, exited: make(chan struct{})}
	for _, a := range extra {
		if a == "--shadow" || strings.HasPrefix(a, "--shadow=") {
			r.shadowed = true
		}
	}
	r.cmd = exec.Command(bin, args...)
	r.cmd.Stderr = &r.stderr
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s record: %w", bin, err)
	}
	go func() { r.err = r.cmd.Wait(); close(r.exited) }()
	if err := waitListening(ctx, addr, r.exited); err != nil {
		r.stop()
		return nil, fmt.Errorf("%s record: %w: %s", bin, err, r.stderr.String())
	}
	return r, nil
}

func (r *recorder) stop() error {
	if r.stopped {
		return nil
	}
	r.stopped = true
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(60 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
		return errors.New("shadowctl record did not stop within 60s of SIGTERM")
	}
	if r.err != nil {
		return fmt.Errorf("shadowctl record: %w: %s", r.err, r.stderr.String())
	}
	return nil
}

// summary is the recorder's last stderr line ("recorded N exchanges, ...").
func (r *recorder) summary() string {
	lines := strings.Split(strings.TrimSpace(r.stderr.String()), "\n")
	return lines[len(lines)-1]
}

// profile fetches a CPU profile from the recorder's admin server.
func (r *recorder) profile(ctx context.Context, d time.Duration, path string) error {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", r.admin, max(1, int(d.Seconds())))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s (the build has no /debug/pprof/ on its admin address)", url, res.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// shadowCounts are the live shadow's counters on /metrics.
type shadowCounts struct {
	mirrored, dropped int64 // shadowctl_shadow_mirrored_total, _dropped_total (all reasons)
	inFlight          int64 // shadowctl_shadow_in_flight
}

// scrape reads the shadow's counters from the recorder's /metrics.
func (r *recorder) scrape(ctx context.Context) (shadowCounts, error) {
	url := "http://" + r.admin + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return shadowCounts{}, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return shadowCounts{}, fmt.Errorf("GET %s: %w", url, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return shadowCounts{}, fmt.Errorf("GET %s: %s", url, res.Status)
	}
	var c shadowCounts
	var seen bool
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ = strings.Cut(name, "{") // the dropped counter has a reason label
		var dst *int64
		switch name {
		case "shadowctl_shadow_mirrored_total":
			dst, seen = &c.mirrored, true
		case "shadowctl_shadow_dropped_total":
			dst = &c.dropped
		case "shadowctl_shadow_in_flight":
			dst = &c.inFlight
		default:
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return c, fmt.Errorf("GET %s: %q: %w", url, line, err)
		}
		*dst += int64(v)
	}
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("GET %s: %w", url, err)
	}
	if !seen {
		return c, fmt.Errorf("GET %s: no shadowctl_shadow_mirrored_total (a build without record --shadow?)", url)
	}
	return c, nil
}

// drain waits, once the load has stopped, until the shadow's queue is
// empty: nothing in flight and no copy taken between two scrapes. Every
// copy offered is then either mirrored or dropped.
func (r *recorder) drain(ctx context.Context) (shadowCounts, error) {
	deadline := time.Now().Add(30 * time.Second)
	prev, err := r.scrape(ctx)
	if err != nil {
		return prev, err
	}
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return prev, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		c, err := r.scrape(ctx)
		if err != nil {
			return c, err
		}
		if c.inFlight == 0 && c.mirrored == prev.mirrored && c.dropped == prev.dropped {
			return c, nil
		}
		prev = c
	}
	return prev, errors.New("the shadow's queue did not drain within 30s of the load's end")
}

// peakRSS is the process's peak resident set (VmHWM) in KiB, from /proc;
// 0 where /proc is missing.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v) // "123456 kB"
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}
