// Command benchpeers measures the recorder against its peers on loopback, in
// one run: the same load (wrk, a 1 KiB JSON POST, fixed concurrency) goes
// straight to a fast upstream, through nginx as a plain reverse proxy, and
// through `shadowctl record`, in interleaved rounds. It prints the median of
// each figure and of each ratio to direct, the machine's load before and
// after, and vegeta against the same upstream for scale. It skips politely
// (exit 0, one line) when wrk is not installed; nginx and vegeta are
// optional. `make bench` runs it; it is never part of `make test`.
//
//	go run ./internal/cmd/benchpeers --shadowctl bin/shadowctl --rounds 5 --duration 5s
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "benchpeers:", err)
		os.Exit(1)
	}
}

type options struct {
	shadowctl, nginx, wrk, vegeta string
	rounds                        int
	duration                      time.Duration
	connections, threads          int
	body, reply                   int
	recordArgs                    string
	cpuProfile                    string
}

func (o *options) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.shadowctl, "shadowctl", "bin/shadowctl", "the shadowctl binary to measure; several, comma-separated, compare builds in one run")
	fs.StringVar(&o.nginx, "nginx", "nginx", "nginx binary (skipped if not found)")
	fs.StringVar(&o.wrk, "wrk", "wrk", "wrk binary (the whole run is skipped if not found)")
	fs.StringVar(&o.vegeta, "vegeta", "vegeta", "vegeta binary (skipped if not found; also looked for in ~/go/bin)")
	fs.IntVar(&o.rounds, "rounds", 5, "interleaved rounds; figures are medians over them")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "length of each load run")
	fs.IntVar(&o.connections, "connections", 32, "concurrent connections")
	fs.IntVar(&o.threads, "threads", 2, "wrk threads")
	fs.IntVar(&o.body, "body", 1024, "request body bytes (JSON)")
	fs.IntVar(&o.reply, "reply", 1024, "response body bytes (JSON)")
	fs.StringVar(&o.recordArgs, "record-args", "", "extra flags for shadowctl record, space separated")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the first shadowctl during the last round here (needs a build serving /debug/pprof/ on its --admin address)")
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchpeers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	o.addFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	wrk, err := exec.LookPath(o.wrk)
	if err != nil {
		fmt.Fprintf(stdout, "benchpeers: skipped, %s not installed (apt-get install wrk)\n", o.wrk)
		return nil
	}
	tmp, err := os.MkdirTemp("", "benchpeers-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// The upstream: a fast model stand-in in this process.
	reply := jsonBody(o.reply, 7)
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	upSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(reply)
	})}
	go upSrv.Serve(up)
	defer upSrv.Close()
	upURL := "http://" + up.Addr().String()

	body := jsonBody(o.body, 1)
	bodyFile := filepath.Join(tmp, "body.json")
	if err := os.WriteFile(bodyFile, body, 0o600); err != nil {
		return err
	}
	lua := filepath.Join(tmp, "post.lua")
	script := fmt.Sprintf("wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = %q\n", body)
	if err := os.WriteFile(lua, []byte(script), 0o600); err != nil {
		return err
	}

	type target struct {
		name, url string
		pid       int // the proxy's process, for CPU per request; 0 for none
	}
	targets := []target{{name: "direct", url: upURL}}

	if bin, err := exec.LookPath(o.nginx); err == nil {
		addr, pid, stopNginx, err := startNginx(ctx, bin, tmp, up.Addr().String())
		if err != nil {
			return err
		}
		defer stopNginx()
		targets = append(targets, target{"nginx", "http://" + addr, pid})
	} else {
		fmt.Fprintf(stderr, "benchpeers: %s not found, measuring without nginx\n", o.nginx)
	}

	// Several binaries (comma-separated) compare builds in one run.
	var recs []*recorder
	bins := strings.Split(o.shadowctl, ",")
	for i, bin := range bins {
		rec, err := startRecord(ctx, bin, o.recordArgs, filepath.Join(tmp, "recordings", strconv.Itoa(i)), upURL)
		if err != nil {
			return err
		}
		defer rec.stop()
		rec.name = "shadowctl record"
		if len(bins) > 1 {
			rec.name = "record " + filepath.Base(bin)
		}
		recs = append(recs, rec)
		targets = append(targets, target{rec.name, "http://" + rec.addr, rec.cmd.Process.Pid})
	}

	fmt.Fprintf(stdout, "# benchpeers: %d cores (GOMAXPROCS %d), load %s before\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), loadavg())
	fmt.Fprintf(stdout, "# wrk -t%d -c%d -d%s --latency -s post.lua URL  (POST %d B JSON, reply %d B), %d interleaved rounds\n",
		o.threads, o.connections, o.duration, len(body), len(reply), o.rounds)
	// Warm every path (connections, pools) before measuring.
	for _, t := range targets {
		if _, err := runWrk(ctx, wrk, o, lua, t.url, time.Second); err != nil {
			return fmt.Errorf("warm up %s: %w", t.name, err)
		}
	}
	res := make(map[string][]wrkResult)
	for r := range o.rounds {
		// Rotate the order, so a drift in the machine's load hits all alike.
		for i := range targets {
			t := targets[(i+r)%len(targets)]
			var prof chan error
			if o.cpuProfile != "" && r == o.rounds-1 && t.name == recs[0].name {
				prof = make(chan error, 1)
				go func() { prof <- recs[0].profile(ctx, o.duration-time.Second, o.cpuProfile) }()
			}
			cpu0 := processTreeCPU(t.pid)
			w, err := runWrk(ctx, wrk, o, lua, t.url, o.duration)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			if t.pid != 0 && w.requests > 0 {
				w.cpuPerReq = float64((processTreeCPU(t.pid) - cpu0).Microseconds()) / float64(w.requests)
			}
			if prof != nil {
				if err := <-prof; err != nil {
					fmt.Fprintln(stderr, "benchpeers: profile:", err)
				}
			}
			res[t.name] = append(res[t.name], w)
			fmt.Fprintf(stderr, "round %d %-17s %9.0f req/s p50 %6.3f ms p99 %6.3f ms, proxy CPU %5.1f µs/req\n",
				r+1, t.name, w.rps, w.p50, w.p99, w.cpuPerReq)
		}
	}
	fmt.Fprintf(stdout, "# load %s after\n", loadavg())

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\treq/s\tof direct\tp50 ms\tp99 ms\tadded p50 ms\tadded p99 ms\tproxy CPU µs/req\t")
	direct := res["direct"]
	for _, t := range targets {
		rs := res[t.name]
		var ratio, dp50, dp99 []float64
		for i, w := range rs {
			ratio = append(ratio, w.rps/direct[i].rps)
			dp50 = append(dp50, w.p50-direct[i].p50)
			dp99 = append(dp99, w.p99-direct[i].p99)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.3f\t%.3f\t%+.3f\t%+.3f\t%.1f\t\n", t.name,
			median(field(rs, func(w wrkResult) float64 { return w.rps })), median(ratio),
			median(field(rs, func(w wrkResult) float64 { return w.p50 })),
			median(field(rs, func(w wrkResult) float64 { return w.p99 })),
			median(dp50), median(dp99), median(field(rs, func(w wrkResult) float64 { return w.cpuPerReq })))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	for _, rec := range recs {
		if err := rec.stop(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "# %s: %s\n", rec.name, rec.summary())
	}

	if v := findVegeta(o.vegeta); v != "" {
		var rates []float64
		for range o.rounds {
			rps, err := runVegeta(ctx, v, o, bodyFile, upURL)
			if err != nil {
				return fmt.Errorf("vegeta: %w", err)
			}
			rates = append(rates, rps)
		}
		fmt.Fprintf(stdout, "# vegeta attack -rate=0 -max-workers=%d -duration=%s (POST %d B) direct: %.0f req/s (median of %d)\n",
			o.connections, o.duration, len(body), median(rates), o.rounds)
	}
	return nil
}

// jsonBody is a model request of about n bytes: an instances array of
// numbers, as KServe V1 clients send.
func jsonBody(n, seed int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"instances":[[`)
	for i := 0; b.Len() < n-8; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%.4f", float64((seed*7919+i*104729)%100000)/1000)
	}
	b.WriteString(`]]}`)
	return b.Bytes()
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitListening polls addr until it accepts a connection or the deadline.
func waitListening(ctx context.Context, addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("exited before listening")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not listening after 15s", addr)
}

func startNginx(ctx context.Context, bin, tmp, upstream string) (string, int, func(), error) {
	addr, err := freePort()
	if err != nil {
		return "", 0, nil, err
	}
	dir := filepath.Join(tmp, "nginx")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", 0, nil, err
	}
	conf := fmt.Sprintf(`daemon off;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  upstream up { server %[2]s; keepalive 64; }
  server {
    listen %[3]s;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }
  }
}
`, dir, upstream, addr)
	cf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		return "", 0, nil, err
	}
	cmd := exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", cf)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", 0, nil, fmt.Errorf("start nginx: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	if err := waitListening(ctx, addr, exited); err != nil {
		stop()
		return "", 0, nil, fmt.Errorf("nginx: %w", err)
	}
	return addr, cmd.Process.Pid, stop, nil
}

type recorder struct {
	name        string
	addr, admin string
	cmd         *exec.Cmd
	stderr      bytes.Buffer
	exited      chan struct{}
	stopped     bool
	err         error
}

func startRecord(ctx context.Context, bin, extra, out, upstream string) (*recorder, error) {
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
	args = append(args, strings.Fields(extra)...)
	r := &recorder{addr: addr, admin: admin, exited: make(chan struct{})}
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

type wrkResult struct {
	rps       float64
	requests  int64
	p50, p99  float64 // milliseconds
	cpuPerReq float64 // the proxy's CPU time per request, microseconds
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
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	var w wrkResult
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

func field(rs []wrkResult, f func(wrkResult) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func loadavg() string {
	f, err := os.Open("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	fs := strings.Fields(line)
	if len(fs) < 3 {
		return "unknown"
	}
	return strings.Join(fs[:3], " ")
}
