package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// Names of the --shadow run's rows without a mirror, the bases of the
// mirrored rows' ratios, and of the row the fixed-rate steps load.
const (
	nameNginx  = "nginx"
	nameRecord = "record"
	nameFast   = "record + shadow fast"
)

// shadowRow is one recorder of the --shadow run: its row's name, the shadow
// it mirrors to ("" for none), the --cpuprofile suffix ("" for none), its
// extra flags, and whether only the first build runs it.
type shadowRow struct {
	name, shadow, profile string
	args                  []string
	firstOnly             bool
}

// rateFractions are the fixed-rate steps, as fractions of the fast-shadow
// recorder's closed-loop req/s under wrk. They rise past it (an open loop
// with more connections gets further) and stop at the first step that
// drops a copy, or that the recorder no longer keeps up with (answered
// under 90% of asked): higher rates only add to the queue in the client.
// The paced client has rateConns times wrk's connections.
var rateFractions = []float64{0.6, 0.8, 1.0, 1.2, 1.4, 1.7, 2.0}

const rateConns = 4

// lowConcurrency is the --shadow-concurrency of the slow shadow's second
// row (the default is 64).
const lowConcurrency = 16

// runShadow measures the live shadow's cost to the primary: the recorder
// without --shadow, with a fast shadow, with one that takes
// o.shadowDelay per request, and nginx mirroring to that same slow shadow,
// in interleaved rounds; then the fast shadow's fixed-rate steps. With
// several builds, each later one runs its recorder without --shadow and
// with the slow shadow too, in the same rounds: the aim's ratio for each
// build in one run.
func (b *bench) runShadow(ctx context.Context) error {
	o := b.o
	bins := strings.Split(o.shadowctl, ",")
	fastURL, stopFast, err := serveModel(b.reply, 0)
	if err != nil {
		return err
	}
	defer stopFast()
	slowURL, stopSlow, err := serveModel(b.reply, o.shadowDelay)
	if err != nil {
		return err
	}
	defer stopSlow()
	slow := o.shadowDelay.String()

	targets := []target{{name: "direct", url: b.upURL}}
	base := map[string]string{} // a mirrored row's unmirrored twin
	if bin, err := exec.LookPath(o.nginx); err == nil {
		for _, n := range []struct{ name, dir, mirror string }{
			{nameNginx, "plain", ""}, {"nginx + mirror " + slow, "mirror", strings.TrimPrefix(slowURL, "http://")},
		} {
			addr, pid, stopNginx, err := startNginx(ctx, bin, filepath.Join(b.tmp, "nginx", n.dir), b.upAddr, n.mirror)
			if err != nil {
				return err
			}
			defer stopNginx()
			targets = append(targets, target{name: n.name, url: "http://" + addr, pid: pid})
			base[n.name] = nameNginx
		}
	} else {
		fmt.Fprintf(b.stderr, "benchpeers: %s not found, measuring without nginx\n", o.nginx)
	}

	var recs []*recorder
	profiled := map[*recorder]string{}
	var fast *recorder // the first build's fast-shadow recorder, which the rate steps load
	// The last rows are the knobs that bound a slow shadow's cost: copies/s ≈
	// --shadow-concurrency / the shadow's latency, and at most --shadow-rate.
	rows := []shadowRow{
		{name: nameRecord, profile: "record"},
		{name: nameFast, shadow: fastURL, profile: "fast", firstOnly: true},
		{name: "record + shadow " + slow, shadow: slowURL, profile: "slow"},
		{name: fmt.Sprintf("record + shadow %s, concurrency %d", slow, lowConcurrency), shadow: slowURL, firstOnly: true,
			args: []string{"--shadow-concurrency", fmt.Sprint(lowConcurrency)}},
	}
	if o.shadowRate > 0 {
		rows = append(rows, shadowRow{name: fmt.Sprintf("record + shadow %s, rate %g/s", slow, o.shadowRate), shadow: slowURL, firstOnly: true,
			args: []string{"--shadow-rate", fmt.Sprint(o.shadowRate)}})
	}
	for n, bin := range bins {
		label := ""
		if len(bins) > 1 {
			label = " [" + filepath.Base(bin) + "]"
		}
		for _, r := range rows {
			if n > 0 && r.firstOnly {
				continue
			}
			i := len(recs)
			extra := append(strings.Fields(o.recordArgs), r.args...)
			if r.shadow != "" {
				extra = append(extra, "--shadow", r.shadow, "--shadow-out", filepath.Join(b.tmp, "shadow", fmt.Sprint(i)))
			}
			rec, err := startRecord(ctx, bin, extra, filepath.Join(b.tmp, "recordings", fmt.Sprint(i)), b.upURL)
			if err != nil {
				return err
			}
			defer rec.stop()
			rec.name = r.name + label
			if r.name == nameFast {
				fast = rec
			}
			if r.profile != "" && n == 0 {
				profiled[rec] = o.cpuProfile + "." + r.profile
			}
			base[rec.name] = nameRecord + label
			recs = append(recs, rec)
			targets = append(targets, target{name: rec.name, url: "http://" + rec.addr, pid: rec.cmd.Process.Pid, rec: rec})
		}
	}

	b.printHeader()
	fmt.Fprintf(b.stdout, "# shadows on loopback: fast (answers at once, like the upstream) and %s (waits %s, then answers); record %s (shadowctl's default --shadow-concurrency and --shadow-queue unless given)\n",
		slow, slow, strings.TrimSpace("--shadow URL "+o.recordArgs))
	res, err := b.measure(ctx, targets, profiled)
	if err != nil {
		return err
	}
	fmt.Fprintf(b.stdout, "# load %s after\n", loadavg())

	fmt.Fprintln(b.stdout, "# of unmirrored: req/s over nginx's or record's (no mirror) in the same round; proxy CPU: the proxy's processes;"+
		" models CPU: the model processes' (the upstream and the shadows, one process each)")
	fmt.Fprintln(b.stdout, "# copies dropped: of each round's copies, from /metrics once the queue drained; peak RSS: VmHWM after the first round → after the last")
	tw := tabwriter.NewWriter(b.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\treq/s\tof direct\tof unmirrored\tp50 ms\tp99 ms\tproxy CPU µs/req\tmodels CPU µs/req\tcopies dropped\tpeak RSS MiB r1→last\tsteal\t")
	for _, t := range targets {
		rs := res[t.name]
		unmirrored, dropped, rss := "–", "–", "–"
		if bn, ok := base[t.name]; ok {
			unmirrored = fmt.Sprintf("%.2f", median(ratios(rs, res[bn])))
		}
		if t.rec != nil {
			rss = fmt.Sprintf("%.1f→%.1f", float64(rs[0].peakRSS)/1024, float64(rs[len(rs)-1].peakRSS)/1024)
			if t.rec.shadowed {
				dropped = fmt.Sprintf("%.1f%%", 100*median(field(rs, wrkResult.droppedShare)))
			}
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%s\t%.3f\t%.3f\t%.1f\t%.1f\t%s\t%s\t%s\t\n", t.name,
			median(field(rs, wrkRPS)), median(ratios(rs, res["direct"])), unmirrored,
			median(field(rs, func(w wrkResult) float64 { return w.p50 })),
			median(field(rs, func(w wrkResult) float64 { return w.p99 })),
			median(field(rs, func(w wrkResult) float64 { return w.cpuPerReq })),
			median(field(rs, func(w wrkResult) float64 { return w.modelCPUPerReq })), dropped, rss, medianSteal(rs))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Each round's ratio, and their spread: whether a gap to an aim is
	// larger than the rounds' own noise.
	for _, t := range targets {
		if bn, ok := base[t.name]; ok && t.name != bn {
			fmt.Fprintf(b.stdout, "# %s of unmirrored, per round:%s\n", t.name, series(ratios(res[t.name], res[bn]), "%.2f", "%.3f", "%.3f"))
			if adj := stealAdjusted(res[t.name], res[bn]); len(adj) > 0 {
				fmt.Fprintf(b.stdout, "# %s of unmirrored, each run's req/s over the CPU share steal left it, per round:%s\n",
					t.name, series(adj, "%.2f", "%.3f", "%.3f"))
			}
			fmt.Fprintf(b.stdout, "# %s, proxy CPU per request over unmirrored's, µs per round:%s\n",
				t.name, series(cpuDeltas(res[t.name], res[bn]), "%+.1f", "%+.1f", "%.1f"))
			if t.rec != nil {
				proxy := func(w wrkResult) float64 { return w.cpuPerReq }
				models := func(w wrkResult) float64 { return w.modelCPUPerReq }
				fmt.Fprintf(b.stdout, "# %s, CPU per copy mirrored, µs per round, the recorder's:%s\n",
					t.name, series(perCopy(res[t.name], res[bn], proxy), "%.0f", "%.1f", "%.1f"))
				fmt.Fprintf(b.stdout, "# %s, CPU per copy mirrored, µs per round, the models' (the shadow stand-in's own work):%s\n",
					t.name, series(perCopy(res[t.name], res[bn], models), "%.0f", "%.1f", "%.1f"))
			}
		}
	}

	if o.rateStep > 0 {
		if err := b.rateSteps(ctx, fast, median(field(res[fast.name], wrkRPS))); err != nil {
			return err
		}
	}
	for _, rec := range recs {
		if err := rec.stop(); err != nil {
			return err
		}
		fmt.Fprintf(b.stdout, "# %s: %s\n", rec.name, rec.summary())
	}
	return nil
}

// rateSteps offers the fast-shadow recorder rising fixed rates (see
// rateFractions), and prints each step and the highest rate answered with
// no copy dropped.
func (b *bench) rateSteps(ctx context.Context, rec *recorder, closedLoop float64) error {
	o := b.o
	fmt.Fprintf(b.stdout, "# %s at fixed rates (open loop, a Go client in benchpeers, %d connections), %s steps rising until a copy is dropped or the recorder stops keeping up\n",
		rec.name, rateConns*o.connections, o.rateStep)
	tw := tabwriter.NewWriter(b.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "asked req/s\tanswered req/s\tp50 ms\tp99 ms\tlate\tfailed\tmirrored\tdropped\t")
	var clean, first, firstShare float64
	saturated := false
	for _, f := range rateFractions {
		rate := float64(max(1, int(f*closedLoop/100+0.5)) * 100)
		before, err := rec.scrape(ctx)
		if err != nil {
			return err
		}
		p, err := runPaced(ctx, "http://"+rec.addr+"/v1/models/m:predict", b.body, rate, o.rateStep, rateConns*o.connections)
		if err != nil {
			return fmt.Errorf("%s: %w", rec.name, err)
		}
		after, err := rec.drain(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", rec.name, err)
		}
		mirrored, dropped := after.mirrored-before.mirrored, after.dropped-before.dropped
		fmt.Fprintf(tw, "%.0f\t%.0f\t%.3f\t%.3f\t%d\t%d\t%d\t%d\t\n", rate, p.sent, p.p50, p.p99, p.late, p.failed, mirrored, dropped)
		fmt.Fprintf(b.stderr, "rate %.0f: answered %.0f req/s, p99 %.3f ms, late %d, mirrored %d, dropped %d\n",
			rate, p.sent, p.p99, p.late, mirrored, dropped)
		if dropped > 0 {
			first, firstShare = p.sent, float64(dropped)/float64(mirrored+dropped)
			break
		}
		clean = max(clean, p.sent)
		if p.sent < 0.9*rate {
			saturated = true
			break
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	switch {
	case first > 0 && clean == 0:
		fmt.Fprintf(b.stdout, "# copies dropped from the first step, %.0f req/s answered (%.2f%% of copies)\n", first, 100*firstShare)
	case first > 0:
		fmt.Fprintf(b.stdout, "# no copy dropped up to %.0f req/s answered; the first drops at %.0f req/s answered (%.2f%% of copies)\n",
			clean, first, 100*firstShare)
	case saturated:
		fmt.Fprintf(b.stdout, "# no copy dropped up to %.0f req/s answered, where the recorder stopped keeping up with the rate asked\n", clean)
	default:
		fmt.Fprintf(b.stdout, "# no copy dropped at any step, up to %.0f req/s answered\n", clean)
	}
	return nil
}
