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
//
// With --shadow it measures the live shadow instead (shadow.go): the
// recorder without --shadow, with a fast shadow and with a slow one (at the
// default --shadow-concurrency and at 16), and nginx's mirror to the same
// slow shadow, then finds the rate up to which
// the fast shadow drops no copy. Without --shadow, it then measures
// `shadowctl replay` against vegeta and wrk on the same upstream
// (replay.go; --replay=false skips it, --proxies=false runs only it).
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

func main() {
	if up := os.Getenv(floorEnv); up != "" {
		if err := runFloor(up); err != nil {
			fmt.Fprintln(os.Stderr, "benchpeers floor:", err)
			os.Exit(1)
		}
		return
	}
	if up := os.Getenv(fastFloorEnv); up != "" {
		if err := runFastFloor(up); err != nil {
			fmt.Fprintln(os.Stderr, "benchpeers fasthttp floor:", err)
			os.Exit(1)
		}
		return
	}
	if spec := os.Getenv(modelEnv); spec != "" {
		if err := runModel(spec); err != nil {
			fmt.Fprintln(os.Stderr, "benchpeers model:", err)
			os.Exit(1)
		}
		return
	}
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
	duration, settle              time.Duration
	connections, threads          int
	body, reply                   int
	recordArgs                    string
	cpuProfile                    string

	shadow       bool
	replay       bool
	proxies      bool
	floor        bool
	fastFloor    bool
	exchanges    int
	peerDuration time.Duration
	shadowDelay  time.Duration
	shadowRate   float64
	rateStep     time.Duration
}

func (o *options) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.shadowctl, "shadowctl", "bin/shadowctl", "the shadowctl binary to measure; several, comma-separated, compare builds in one run")
	fs.StringVar(&o.nginx, "nginx", "nginx", "nginx binary (skipped if not found)")
	fs.StringVar(&o.wrk, "wrk", "wrk", "wrk binary (the whole run is skipped if not found)")
	fs.StringVar(&o.vegeta, "vegeta", "vegeta", "vegeta binary (skipped if not found; also looked for in ~/go/bin)")
	fs.IntVar(&o.rounds, "rounds", 5, "interleaved rounds; figures are medians over them")
	fs.DurationVar(&o.settle, "settle", 2*time.Second, "pause before each load run, so the target before has finished its own work")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "length of each load run")
	fs.IntVar(&o.connections, "connections", 32, "concurrent connections")
	fs.IntVar(&o.threads, "threads", 2, "wrk threads")
	fs.IntVar(&o.body, "body", 1024, "request body bytes (JSON)")
	fs.IntVar(&o.reply, "reply", 1024, "response body bytes (JSON)")
	fs.StringVar(&o.recordArgs, "record-args", "", "extra flags for shadowctl record, space separated")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the first shadowctl during the last round here; with --shadow, one of each of the first build's recorders (PATH.record, PATH.fast, PATH.slow) (needs --record-args --pprof)")
	fs.BoolVar(&o.shadow, "shadow", false, "measure the live shadow: record without --shadow, with a fast and a slow shadow, and nginx mirror to the slow one; with several --shadowctl builds, each later one without --shadow and with the slow shadow too")
	fs.DurationVar(&o.shadowDelay, "shadow-delay", 50*time.Millisecond, "with --shadow: how long the slow shadow waits before it answers")
	fs.Float64Var(&o.shadowRate, "shadow-rate", 200, "with --shadow: also the slow shadow with record --shadow-rate this (the first build's); 0 skips the row, for a first build without the flag")
	fs.BoolVar(&o.proxies, "proxies", true, "measure direct, nginx and shadowctl record under wrk")
	fs.BoolVar(&o.floor, "floor", true, "with the proxies, also measure the go floor: the least a Go reverse proxy does (net/http's parsers, a goroutine per connection, nothing recorded, no limits), as a reference")
	fs.BoolVar(&o.fastFloor, "fasthttp-floor", true, "with the proxies, also measure the fasthttp floor: the go floor on valyala/fasthttp's server and client, to show what a change of server alone could buy")
	fs.BoolVar(&o.replay, "replay", true, "then measure shadowctl replay against vegeta and wrk on the same upstream, each timed from start to exit")
	fs.IntVar(&o.exchanges, "exchanges", 20000, "with --replay: exchanges recorded, then replayed in each round")
	fs.DurationVar(&o.peerDuration, "peer-duration", time.Second, "with --replay: how long vegeta and wrk run in each round")
	fs.DurationVar(&o.rateStep, "rate-step", 3*time.Second, "with --shadow: length of each fixed-rate step looking for the fast shadow's first drop; 0 skips them")
}

// bench is what every mode shares: the load generator, the request and the
// fast upstream.
type bench struct {
	o              options
	wrk            string
	tmp            string
	body, reply    []byte
	bodyFile, lua  string
	upAddr, upURL  string
	stdout, stderr io.Writer
}

// target is one thing under load.
type target struct {
	name, url string
	pid       int       // the proxy's process, for CPU per request; 0 for none
	rec       *recorder // set for shadowctl record
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
	b := &bench{o: o, wrk: wrk, tmp: tmp, stdout: stdout, stderr: stderr}

	// The upstream: a fast model stand-in in this process.
	b.reply = jsonBody(o.reply, 7)
	upURL, stopUp, err := serveModel(b.reply, 0)
	if err != nil {
		return err
	}
	defer stopUp()
	b.upURL, b.upAddr = upURL, strings.TrimPrefix(upURL, "http://")

	b.body = jsonBody(o.body, 1)
	b.bodyFile = filepath.Join(tmp, "body.json")
	if err := os.WriteFile(b.bodyFile, b.body, 0o600); err != nil {
		return err
	}
	b.lua = filepath.Join(tmp, "post.lua")
	script := fmt.Sprintf("wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = %q\n", b.body)
	if err := os.WriteFile(b.lua, []byte(script), 0o600); err != nil {
		return err
	}
	if o.shadow {
		return b.runShadow(ctx)
	}
	if o.proxies {
		if err := b.runPeers(ctx); err != nil {
			return err
		}
	}
	if o.replay {
		return b.runReplay(ctx)
	}
	return nil
}

// runPeers is the default run: direct, nginx and each shadowctl build.
func (b *bench) runPeers(ctx context.Context) error {
	o := b.o
	targets := []target{{name: "direct", url: b.upURL}}
	if bin, err := exec.LookPath(o.nginx); err == nil {
		addr, pid, stopNginx, err := startNginx(ctx, bin, filepath.Join(b.tmp, "nginx"), b.upAddr, "")
		if err != nil {
			return err
		}
		defer stopNginx()
		targets = append(targets, target{name: "nginx", url: "http://" + addr, pid: pid})
	} else {
		fmt.Fprintf(b.stderr, "benchpeers: %s not found, measuring without nginx\n", o.nginx)
	}

	if o.floor {
		addr, pid, stopFloor, err := startSelf(floorEnv + "=" + b.upAddr)
		if err != nil {
			return err
		}
		defer stopFloor()
		targets = append(targets, target{name: "go floor", url: "http://" + addr, pid: pid})
	}
	if o.fastFloor {
		addr, pid, stopFloor, err := startSelf(fastFloorEnv + "=" + b.upAddr)
		if err != nil {
			return err
		}
		defer stopFloor()
		targets = append(targets, target{name: "fasthttp floor", url: "http://" + addr, pid: pid})
	}

	// Several binaries (comma-separated) compare builds in one run.
	var recs []*recorder
	bins := strings.Split(o.shadowctl, ",")
	for i, bin := range bins {
		rec, err := startRecord(ctx, bin, strings.Fields(o.recordArgs), filepath.Join(b.tmp, "recordings", strconv.Itoa(i)), b.upURL)
		if err != nil {
			return err
		}
		defer rec.stop()
		rec.name = "shadowctl record"
		if len(bins) > 1 {
			rec.name = "record " + filepath.Base(bin)
		}
		recs = append(recs, rec)
		targets = append(targets, target{name: rec.name, url: "http://" + rec.addr, pid: rec.cmd.Process.Pid, rec: rec})
	}

	b.printHeader()
	res, err := b.measure(ctx, targets, map[*recorder]string{recs[0]: o.cpuProfile})
	if err != nil {
		return err
	}
	fmt.Fprintf(b.stdout, "# load %s after\n", loadavg())

	tw := tabwriter.NewWriter(b.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\treq/s\tof direct\tp50 ms\tp99 ms\tadded p50 ms\tadded p99 ms\tproxy CPU µs/req\tsteal\t")
	direct := res["direct"]
	for _, t := range targets {
		rs := res[t.name]
		var dp50, dp99 []float64
		for i, w := range rs {
			dp50 = append(dp50, w.p50-direct[i].p50)
			dp99 = append(dp99, w.p99-direct[i].p99)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.3f\t%.3f\t%+.3f\t%+.3f\t%.1f\t%s\t\n", t.name,
			median(field(rs, wrkRPS)), median(ratios(rs, direct)),
			median(field(rs, func(w wrkResult) float64 { return w.p50 })),
			median(field(rs, func(w wrkResult) float64 { return w.p99 })),
			median(dp50), median(dp99), median(field(rs, func(w wrkResult) float64 { return w.cpuPerReq })), medianSteal(rs))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if ng, ok := res["nginx"]; ok {
		// The recorder's goals are stated against nginx: each round's
		// ratio, then their median.
		names := []string{}
		for _, rec := range recs {
			names = append(names, rec.name)
		}
		for _, floor := range []string{"go floor", "fasthttp floor"} {
			if _, ok := res[floor]; ok {
				names = append(names, floor)
			}
		}
		for _, name := range names {
			var thr, p50, cpu []float64
			for i, w := range res[name] {
				n, d := ng[i], direct[i]
				if n.rps > 0 {
					thr = append(thr, w.rps/n.rps)
				}
				if n.p50 > d.p50 {
					p50 = append(p50, (w.p50-d.p50)/(n.p50-d.p50))
				}
				if n.cpuPerReq > 0 {
					cpu = append(cpu, w.cpuPerReq/n.cpuPerReq)
				}
			}
			adjusted := ""
			if adj := stealAdjusted(res[name], ng); len(adj) > 0 {
				adjusted = fmt.Sprintf(" (%.2f with each run's req/s over the CPU share steal left it)", median(adj))
			}
			fmt.Fprintf(b.stdout, "# %s over nginx (medians of each round's ratio): throughput %.2f%s, added p50 %.2f, CPU per request %.2f\n",
				name, median(thr), adjusted, median(p50), median(cpu))
		}
	}

	for _, rec := range recs {
		if err := rec.stop(); err != nil {
			return err
		}
		fmt.Fprintf(b.stdout, "# %s: %s\n", rec.name, rec.summary())
	}

	if v := findVegeta(o.vegeta); v != "" {
		var rates []float64
		for range o.rounds {
			rps, err := runVegeta(ctx, v, o, b.bodyFile, b.upURL)
			if err != nil {
				return fmt.Errorf("vegeta: %w", err)
			}
			rates = append(rates, rps)
		}
		fmt.Fprintf(b.stdout, "# vegeta attack -rate=0 -max-workers=%d -duration=%s (POST %d B) direct: %.0f req/s (median of %d)\n",
			o.connections, o.duration, len(b.body), median(rates), o.rounds)
	}
	return nil
}

func (b *bench) printHeader() {
	o := b.o
	fmt.Fprintf(b.stdout, "# benchpeers: %d cores (GOMAXPROCS %d), load %s before\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), loadavg())
	fmt.Fprintf(b.stdout, "# wrk -t%d -c%d -d%s --latency -s post.lua URL  (POST %d B JSON, reply %d B), %d interleaved rounds\n",
		o.threads, o.connections, o.duration, len(b.body), len(b.reply), o.rounds)
}

// measure warms every target, then runs wrk against each in o.rounds
// rotating rounds; with --cpuprofile, each recorder of profiled is profiled
// in the last round, into its file.
func (b *bench) measure(ctx context.Context, targets []target, profiled map[*recorder]string) (map[string][]wrkResult, error) {
	o := b.o
	// Warm every path (connections, pools) before measuring.
	for _, t := range targets {
		if _, err := runWrk(ctx, b.wrk, o, b.lua, t.url, time.Second); err != nil {
			return nil, fmt.Errorf("warm up %s: %w", t.name, err)
		}
		if t.rec != nil && t.rec.shadowed {
			if _, err := t.rec.drain(ctx); err != nil {
				return nil, fmt.Errorf("warm up %s: %w", t.name, err)
			}
		}
	}
	res := make(map[string][]wrkResult)
	for r := range o.rounds {
		// A new order each round (the same each run), so a drift in the
		// machine's load hits all alike and no target always follows the
		// same one; a pause before each lets the one before finish what it
		// does after its load (a recorder's writes, the kernel's writeback).
		order := rand.New(rand.NewPCG(uint64(r), 7)).Perm(len(targets))
		for _, i := range order {
			t := targets[i]
			select {
			case <-time.After(o.settle):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			var prof chan error
			if path := profiled[t.rec]; o.cpuProfile != "" && r == o.rounds-1 && t.rec != nil && path != "" {
				prof = make(chan error, 1)
				go func() { prof <- t.rec.profile(ctx, o.duration-time.Second, path) }()
			}
			w, err := b.load(ctx, t)
			if err != nil {
				return nil, err
			}
			if prof != nil {
				if err := <-prof; err != nil {
					fmt.Fprintln(b.stderr, "benchpeers: profile:", err)
				}
			}
			res[t.name] = append(res[t.name], w)
			fmt.Fprintf(b.stderr, "round %d %-17s %9.0f req/s p50 %6.3f ms p99 %6.3f ms, proxy CPU %5.1f µs/req%s%s\n",
				r+1, t.name, w.rps, w.p50, w.p99, w.cpuPerReq, stealNote(w.steal), w.shadowNote())
		}
	}
	return res, nil
}

// load runs wrk once against t. For a recorder with a shadow it then waits
// for the shadow's queue to drain, so the round's CPU includes the copies'
// and the next round starts with an empty queue, and it reads the round's
// copies and the process's peak RSS. The models' CPU is their processes'
// (models.go).
func (b *bench) load(ctx context.Context, t target) (wrkResult, error) {
	cpu0, models0 := processTreeCPU(t.pid), modelsCPU()
	var before shadowCounts
	if t.rec != nil && t.rec.shadowed {
		var err error
		if before, err = t.rec.scrape(ctx); err != nil {
			return wrkResult{}, fmt.Errorf("%s: %w", t.name, err)
		}
	}
	w, err := runWrk(ctx, b.wrk, b.o, b.lua, t.url, b.o.duration)
	if err != nil {
		return w, fmt.Errorf("%s: %w", t.name, err)
	}
	if t.rec != nil && t.rec.shadowed {
		after, err := t.rec.drain(ctx)
		if err != nil {
			return w, fmt.Errorf("%s: %w", t.name, err)
		}
		w.mirrored, w.dropped = after.mirrored-before.mirrored, after.dropped-before.dropped
	}
	if t.pid != 0 && w.requests > 0 {
		w.cpuPerReq = float64((processTreeCPU(t.pid) - cpu0).Microseconds()) / float64(w.requests)
	}
	if w.requests > 0 {
		w.modelCPUPerReq = float64((modelsCPU() - models0).Microseconds()) / float64(w.requests)
	}
	if t.rec != nil {
		w.peakRSS = peakRSS(t.pid)
	}
	return w, nil
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

func field(rs []wrkResult, f func(wrkResult) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

func wrkRPS(w wrkResult) float64 { return w.rps }

// ratios are each round's req/s over base's in the same round.
func ratios(rs, base []wrkResult) []float64 {
	out := make([]float64, 0, len(rs))
	for i, w := range rs {
		if i < len(base) && base[i].rps > 0 {
			out = append(out, w.rps/base[i].rps)
		}
	}
	return out
}

// stealAdjusted are each round's ratios of req/s over base's, each run's
// rate first divided by the share of the machine the hypervisor left it
// (1 − steal): what the ratio would be had both runs had the same CPU, on the
// model that a saturated run's rate follows its CPU. Rounds where either
// steal is unknown are left out.
func stealAdjusted(rs, base []wrkResult) []float64 {
	out := make([]float64, 0, len(rs))
	for i, w := range rs {
		if i >= len(base) {
			break
		}
		b := base[i]
		if w.steal < 0 || w.steal >= 1 || b.steal < 0 || b.steal >= 1 || b.rps <= 0 {
			continue
		}
		out = append(out, (w.rps/(1-w.steal))/(b.rps/(1-b.steal)))
	}
	return out
}

// medianSteal is the median of the runs' steal as a percentage, "–" where
// it is unknown.
func medianSteal(rs []wrkResult) string {
	var xs []float64
	for _, w := range rs {
		if w.steal >= 0 {
			xs = append(xs, w.steal)
		}
	}
	if len(xs) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", 100*median(xs))
}

// cpuDeltas are each round's proxy CPU per request over base's in the same
// round: what a configuration adds, paired so that the machine's speed in
// that round (which moves CPU per request by a quarter here) cancels.
func cpuDeltas(rs, base []wrkResult) []float64 {
	out := make([]float64, 0, len(rs))
	for i, w := range rs {
		if i < len(base) {
			out = append(out, w.cpuPerReq-base[i].cpuPerReq)
		}
	}
	return out
}

// perCopy is each round's CPU per copy mirrored, in microseconds, of what
// cpu measures (the proxy's, or the models' process, where the shadow
// stand-in's work shows): its rise per request over the unmirrored twin's
// in the same round, times the round's requests per copy. Rounds without a
// twin or without copies are left out. A copy's cost to the machine is the
// sum of the two: on one box, the shadow's own CPU competes with the
// primary's as much as the recorder's does.
func perCopy(rs, base []wrkResult, cpu func(wrkResult) float64) []float64 {
	out := make([]float64, 0, len(rs))
	for i, w := range rs {
		if i < len(base) && w.mirrored > 0 {
			out = append(out, (cpu(w)-cpu(base[i]))*float64(w.requests)/float64(w.mirrored))
		}
	}
	return out
}

// series is a per-round line's tail: each value and their median in
// format, their mean in meanFormat and sample sd in sdFormat, so that a gap
// to an aim can be set against the rounds' own spread; from six rounds on,
// also the median's 95% confidence interval (medianCI), which says whether
// the rounds settle an aim at all.
func series(xs []float64, format, meanFormat, sdFormat string) string {
	var b strings.Builder
	for _, x := range xs {
		fmt.Fprintf(&b, " "+format, x)
	}
	mean, sd := meanSD(xs)
	fmt.Fprintf(&b, " (median "+format+", mean "+meanFormat+", sd "+sdFormat, median(xs), mean, sd)
	if lo, hi, ok := medianCI(xs, 0.95); ok {
		fmt.Fprintf(&b, ", 95%% CI of the median "+format+" to "+format, lo, hi)
	}
	b.WriteString(")")
	return b.String()
}

// medianCI is the distribution-free confidence interval for the median of
// xs at level or more: the k-th smallest and k-th largest values, for the
// largest k with P(B < k) <= (1-level)/2, B ~ Binomial(n, 1/2) (Conover,
// Practical Nonparametric Statistics, 3rd ed., §3.2: the interval for a
// quantile from order statistics). It assumes only that the rounds are
// independent draws of one distribution, no normality: the rounds' ratios
// of a noisy VM are skewed. ok is false when n is too small for any k (five
// rounds or fewer at 95%).
func medianCI(xs []float64, level float64) (lo, hi float64, ok bool) {
	n := len(xs)
	if n == 0 {
		return 0, 0, false
	}
	// P(B = i), from P(B = 0) = 2^-n by P(B = i+1) = P(B = i)(n-i)/(i+1).
	p, below, k := math.Ldexp(1, -n), 0.0, 0
	for i := 0; i < n/2; i++ {
		below += p // P(B <= i), that is P(B < i+1)
		if below > (1-level)/2 {
			break
		}
		k = i + 1
		p = p * float64(n-i) / float64(i+1)
	}
	if k == 0 {
		return 0, 0, false
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[k-1], s[n-k], true
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

// meanSD is the mean of xs and their sample standard deviation (n-1);
// sd is 0 for fewer than two.
func meanSD(xs []float64) (mean, sd float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(xs)-1))
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
