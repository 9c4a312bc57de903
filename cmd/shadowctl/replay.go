package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/shadowctl/shadowctl/internal/bucket"
	"github.com/shadowctl/shadowctl/internal/parquetfile"
	"github.com/shadowctl/shadowctl/record"
	"github.com/shadowctl/shadowctl/replay"
)

// replayOptions are the flags of `shadowctl replay`.
type replayOptions struct {
	Target             string
	Baseline           string
	Out                string
	Concurrency        int
	Rate               float64
	Speed              float64
	MaxGap             time.Duration
	maxGapSet          bool // --max-gap was given
	Timeout            time.Duration
	MaxBody            string
	Limit              int64
	PathPrefix         string
	Headers            []string
	Progress           string
	Resume             bool
	RetryErrors        bool
	Shard              string
	InsecureSkipVerify bool
	CAFile             string
}

func (o *replayOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Target, "target", "", "base URL of the candidate model, e.g. http://127.0.0.1:9000 (required)")
	fs.StringVar(&o.Baseline, "baseline", "", "base URL of a baseline that gets every request at the same moment (optional)")
	fs.StringVar(&o.Out, "out", "results.parquet", "results file, written atomically (a missing folder is created; not a folder, not *.partial); or a bucket object (s3://bkt/run/results.parquet?region=…), uploaded whole")
	fs.IntVar(&o.Concurrency, "concurrency", replay.DefaultConcurrency, fmt.Sprintf("requests in flight (closed loop), or their cap with --rate/--speed; 1 to %d", replay.MaxConcurrency))
	fs.Float64Var(&o.Rate, "rate", 0, fmt.Sprintf("send this many requests per second (open loop), at least %g; 0: closed loop", replay.MinRate))
	fs.Float64Var(&o.Speed, "speed", 0, fmt.Sprintf("follow the recorded inter-arrival times divided by this (1: as recorded), at least %g; 0: off", replay.MinSpeed))
	fs.DurationVar(&o.MaxGap, "max-gap", replay.DefaultMaxGap, "with --speed, the longest idle wait between two sends")
	fs.DurationVar(&o.Timeout, "timeout", replay.DefaultTimeout, "bound on one request, from sending to the last byte")
	fs.StringVar(&o.MaxBody, "max-body", "32MiB", "longest answer kept; a longer one is an error row of kind body_too_large, so a runaway answer cannot take the memory")
	fs.Int64Var(&o.Limit, "limit", 0, "replay at most this many exchanges; 0: all")
	fs.StringVar(&o.PathPrefix, "path-prefix", "", "replay only exchanges whose path starts with this, e.g. /v1/ (warns when it lacks the leading / or matches none)")
	fs.StringArrayVar(&o.Headers, "header", nil, "'Name: value' added to every request, overriding the recorded value; repeatable, once per name")
	fs.StringVar(&o.Progress, "progress", "auto", "progress bar on stderr: auto (when a terminal), always or never")
	fs.BoolVar(&o.Resume, "resume", false, "continue an existing --out, skipping the exchanges already in it (give --baseline if and only if its run had one)")
	fs.BoolVar(&o.RetryErrors, "retry-errors", false, "with --resume, also send again the exchanges whose row got no answer (refused, reset, timeout, TLS, DNS, interrupted); answers, 5xx included, are kept")
	fs.StringVar(&o.Shard, "shard", "", "replay only shard K of N, K from 0 (auto/N: K from $JOB_COMPLETION_INDEX); --out gains -KKKKK-of-NNNNN")
	fs.BoolVar(&o.InsecureSkipVerify, "insecure-skip-verify", false, "do not verify HTTPS certificates (logs a warning)")
	fs.StringVar(&o.CAFile, "ca-file", "", "PEM file of CA certificates to trust for HTTPS, besides the system's")
}

func newReplayCmd(g *globalOptions) *cobra.Command {
	opts := &replayOptions{}
	cmd := &cobra.Command{
		Use:   "replay --target URL [flags] RECORDING...",
		Short: "Send recorded requests to a candidate model (and a baseline) and write a results file",
		Long: `replay reads recordings (files, folders, globs, bucket URLs such as
s3://bkt/rec/?region=eu-west-1, or gs://, azblob://, file://; merged in time order and streamed) and sends every recorded request to --target, and with --baseline to
a baseline at the same moment, then writes one row per exchange to --out.

Scheduling: by default --concurrency requests are always in flight (closed
loop). --rate R sends R requests per second whatever the target does (open
loop; latency counts from when a request was due). --speed X follows the
recorded inter-arrival times divided by X, with idle gaps capped at --max-gap.

--shard K/N replays only the exchanges whose id hashes to shard K of N: N
workers (the Pods of a Kubernetes Indexed Job, with --shard auto/N) cover a
recording exactly once with no coordinator, each writing its own results file
(results-0000K-of-0000N.parquet for --out results.parquet) and keeping the
recorded order within its shard. --rate is per shard: divide a total by N.

A failed request is a row with an error kind, never an abort. Ctrl-C stops
sending, waits for the requests in flight (a second Ctrl-C abandons them),
keeps the rows done and exits 130; --resume continues from there. While a run writes --out (as --out.partial,
locked), a second run on the same --out is refused.`,
		Example: `  shadowctl replay --target http://127.0.0.1:9000 ./recordings
  shadowctl replay --target http://127.0.0.1:9000 --baseline http://127.0.0.1:8080 --rate 200 --out results.parquet ./recordings`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.maxGapSet = cmd.Flags().Changed("max-gap")
			return runReplay(cmd.Context(), g, opts, args)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

// check turns the flags into library options, or a usage error.
func (o *replayOptions) check(logger *slog.Logger) (replay.Options, error) {
	var ro replay.Options
	if o.Target == "" {
		return ro, usageErrorf("--target is required (e.g. --target http://127.0.0.1:9000)")
	}
	if o.maxGapSet && o.Speed == 0 {
		return ro, usageErrorf("--max-gap acts only with --speed: give --speed too, or leave --max-gap out")
	}
	if o.RetryErrors && !o.Resume {
		return ro, usageErrorf("--retry-errors goes with --resume: it sends again the unanswered exchanges of the existing --out")
	}
	parse := func(flag, s string) (*url.URL, error) {
		u, err := url.Parse(s)
		if err != nil {
			return nil, usageErrorf("--%s %q: want an http:// or https:// URL with a host", flag, s)
		}
		if err := replay.CheckBase(u); err != nil {
			hint := ""
			if errors.Is(err, replay.ErrUserInfo) {
				hint = " (credentials on the command line show in the process list; to authenticate every request, " +
					"use --header 'Authorization: …')"
			}
			// Redacted: the message must not print a password.
			return nil, usageErrorf("--%s %q: %v%s", flag, u.Redacted(), err, hint)
		}
		return u, nil
	}
	var err error
	if ro.Target, err = parse("target", o.Target); err != nil {
		return ro, err
	}
	if o.Baseline != "" {
		if ro.Baseline, err = parse("baseline", o.Baseline); err != nil {
			return ro, err
		}
	}
	switch {
	case o.Out == "":
		return ro, usageErrorf("--out: want a file name")
	case bucket.IsURL(o.Out):
		if _, err := bucket.Parse(o.Out, ".parquet"); err != nil {
			return ro, usageErrorf("--out: %v", err)
		}
	}
	switch {
	case o.Concurrency < 1:
		return ro, usageErrorf("--concurrency %d: want 1 or more", o.Concurrency)
	case o.MaxGap <= 0:
		return ro, usageErrorf("--max-gap %v: want a positive duration", o.MaxGap)
	case o.Timeout <= 0:
		return ro, usageErrorf("--timeout %v: want a positive duration", o.Timeout)
	case o.Progress != "auto" && o.Progress != "always" && o.Progress != "never":
		return ro, usageErrorf("--progress %q: want auto, always or never", o.Progress)
	}
	maxBody, err := parseSize(o.MaxBody)
	if err != nil || maxBody < 1 {
		return ro, usageErrorf("--max-body %q: want a size such as 32MiB", o.MaxBody)
	}
	ro.MaxBody = maxBody
	if ro.Header, err = parseHeaderFlags("--header", "replay", o.Headers); err != nil {
		return ro, err
	}
	tlsConf := &tls.Config{}
	if o.CAFile != "" {
		if tlsConf.RootCAs, err = loadCAFile(o.CAFile); err != nil {
			return ro, err
		}
	}
	if o.InsecureSkipVerify {
		logger.Warn("--insecure-skip-verify: HTTPS certificates are not verified")
		tlsConf.InsecureSkipVerify = true
	}
	ro.Concurrency, ro.Rate, ro.Speed, ro.MaxGap, ro.Timeout = o.Concurrency, o.Rate, o.Speed, o.MaxGap, o.Timeout
	ro.Limit, ro.PathPrefix = o.Limit, o.PathPrefix
	if o.PathPrefix != "" && !strings.HasPrefix(o.PathPrefix, "/") {
		// Recorded paths start with "/": "v2" selects nothing, silently.
		logger.Warn("--path-prefix does not start with a slash, as recorded paths do: it may match none",
			"path_prefix", o.PathPrefix, "did_you_mean", "/"+o.PathPrefix)
	}
	if ro.Shard, err = replay.ParseShard(o.Shard, os.Getenv); err != nil {
		return ro, usageErrorf("--shard %v", err)
	}
	if err := checkOut(o.Out, ro.Shard); err != nil {
		return ro, err
	}
	// The rules between options (rate, speed, limits) are the library's.
	if err := ro.Validate(); err != nil {
		return ro, replayOptionError(err)
	}
	ro.TLS = tlsConf
	return ro, nil
}

func runReplay(ctx context.Context, g *globalOptions, opts *replayOptions, args []string) error {
	logger := g.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ro, err := opts.check(logger)
	if err != nil {
		return err
	}
	// A missing folder of --out is created (the N Pods of a Job share one).
	outName := ro.Shard.Name(opts.Out)
	if err := checkOutOutsideInputs(outName, args); err != nil {
		return err
	}
	src, err := record.Open(args)
	if err != nil {
		return badInput(fmt.Errorf("read recordings: %w", err))
	}
	defer src.Close()
	for _, p := range src.Skipped() {
		logger.Warn("skipping in-progress recording file", "file", bucket.Redact(p))
	}
	resume := replay.Fresh
	switch {
	case opts.RetryErrors:
		resume = replay.RetryUnanswered
	case opts.Resume:
		resume = replay.Continue
	}
	// An interrupt ends the start (a bucket that does not answer); the
	// upload at the end finishes after one: the rows done are kept.
	out, err := replay.CreateDestination(ctx, outName, os.TempDir(), resume)
	var kept *replay.KeptError
	switch {
	case errors.As(err, &kept):
		return badInput(fmt.Errorf("%w (use --resume to finish them and upload them, or remove the file)", err))
	case errors.Is(err, replay.ErrBusy):
		return usageErrorf("another replay is writing %s: wait for it to finish, or give another --out", busyName(outName))
	case errors.Is(err, replay.ErrFolder):
		return outFolderError(outName)
	case errors.Is(err, replay.ErrExists):
		return badInput(fmt.Errorf("%w (use --resume to continue it, or remove it)", err))
	case errors.Is(err, replay.ErrFormat), errors.Is(err, bucket.ErrURL):
		return badInput(err)
	case err != nil:
		return err
	}
	if err := resumeBaselineCheck(out, ro.Baseline != nil); err != nil {
		// The previous file stays as it was.
		_ = out.Abort()
		return err
	}
	if out.StalePartial != "" {
		logger.Warn("removed the partial results file of a run that did not finish", "file", out.StalePartial)
	}
	switch n := out.Done.Len(); {
	case opts.RetryErrors:
		logger.Info("resuming", "file", out.Name, "done", n, "retrying_unanswered", out.Dropped)
	case n > 0:
		logger.Info("resuming", "file", out.Name, "done", n)
	}
	ro.Skip = out.Done

	var bar *progressbar.ProgressBar
	if opts.Progress == "always" || opts.Progress == "auto" && g.StderrIsTerminal {
		bar = newReplayBar(g.Stderr)
		var lastErrs int64 = -1
		ro.Progress = func(p replay.Progress) {
			if p.Total > 0 && bar.GetMax64() != p.Total {
				bar.ChangeMax64(max(p.Total, p.Done))
			}
			if p.Errors != lastErrs {
				lastErrs = p.Errors
				bar.Describe(fmt.Sprintf("replay (%d errors)", p.Errors))
			}
			_ = bar.Set64(p.Done)
		}
	}

	// Say at once that an interrupt was seen: the requests in flight still
	// finish, which may take up to --timeout, unless a second one abandons
	// them (the rows done are written either way).
	ro.OnStop = func(n int) {
		if bar != nil {
			fmt.Fprintln(g.Stderr) // the log line below the bar, not on it
		}
		logger.Info("interrupted: waiting for the requests in flight (each up to --timeout), then writing the results file; "+
			"Ctrl-C again abandons them", "in_flight", n, "timeout", opts.Timeout)
	}
	ro.Abandon = againInterrupt(ctx)
	sum, runErr := replay.Run(ctx, ro, src, out)
	if bar != nil {
		endBar(bar, sum.Sent) // the last Progress's Done
		fmt.Fprintln(g.Stderr)
	}
	if opts.PathPrefix != "" && runErr == nil && sum.Matched == 0 {
		logger.Warn("--path-prefix matched none of the exchanges read, so nothing was replayed (shadowctl inspect lists the recorded paths)",
			"path_prefix", opts.PathPrefix, "read", sum.Read)
	}
	if d := src.Duplicates(); d > 0 {
		logger.Warn("skipped exchanges read twice: the same exchange is in several of the files given "+
			"(a recording copied into another folder read?); each was replayed once", "duplicates", d)
	}
	var ce *replay.ConnectError
	if errors.As(runErr, &ce) {
		// Nothing useful was written: keep any previous file as it was, and
		// say only why, and what to do when it is the certificate.
		_ = out.Abort()
		if ce.Kind == replay.KindTLS && (strings.Contains(ce.Err, "x509:") || strings.Contains(ce.Err, "certificate")) {
			return fmt.Errorf("%w (give the CA with --ca-file, or --insecure-skip-verify to skip verification)", runErr)
		}
		return runErr
	}
	interrupted := errors.Is(runErr, context.Canceled)
	switch {
	case errors.Is(runErr, replay.ErrWrite):
		// The rows written may not be whole: keep any previous file as
		// it was, and print no summary of rows that are not in a file.
		_ = out.Abort()
		return writeFailure(runErr, out, sum.Sent)
	case runErr != nil && !interrupted && sum.Sent == 0:
		// Nothing was done (the recording failed at once): write no file.
		_ = out.Abort()
		return inputError(runErr)
	case interrupted && out.Rows() == 0:
		// Interrupted before any answer (and nothing resumed): an empty
		// file would only make the next run need --resume. The run still
		// ends with its summary line (what was abandoned, say).
		_ = out.Abort()
		fmt.Fprintln(g.Stderr, summaryLine(sum, opts.Rate > 0 || opts.Speed > 0))
		return fmt.Errorf("%w before any answer came: no results file written", runErr)
	}
	// Interrupted, stopped by a bad recording or done, the rows done are
	// safe once the file is closed: then say what was done, last.
	if out.Local != out.Name && interrupted {
		logger.Info("uploading the results file; Ctrl-C again abandons the upload (the file is kept for --resume)", "file", out.Local)
	}
	out.Abandon = againInterrupt(ctx)
	closeErr := out.Close()
	if closeErr != nil && !errors.Is(closeErr, replay.ErrUpload) {
		return writeFailure(closeErr, out, sum.Sent)
	}
	if n := int64(out.Done.Len()); interrupted && n > sum.Resumed {
		// Stopped before the recording's merge reached every row carried
		// over: those are done all the same.
		sum.Resumed = n
	}
	fmt.Fprintln(g.Stderr, summaryLine(sum, opts.Rate > 0 || opts.Speed > 0))
	if closeErr != nil {
		// Kept in the spool folder, which a run that resumes uploads.
		return errors.Join(inputError(runErr), fmt.Errorf("results: %w", closeErr))
	}
	logger.Debug("results written", "file", out.Name, "rows", out.Rows())
	switch {
	case runErr == nil:
		return nil
	case interrupted:
		return fmt.Errorf("%w; %d rows kept in %s (continue with --resume)", runErr, out.Rows(), out.Name)
	}
	// The recording failed midway: what was done is kept, as an interrupt
	// keeps it, and the file is finished, so say so.
	return inputError(fmt.Errorf("%w; the %d rows done are kept in %s (--resume continues after them)",
		runErr, out.Rows(), out.Name))
}

// checkOutOutsideInputs refuses an --out inside a folder of recordings
// given: the run would go once, and then the results file (another
// shard's, or its own on --resume) would be read as a recording.
func checkOutOutsideInputs(out string, args []string) error {
	if bucket.IsURL(out) {
		return checkObjectOutsideInputs(out, args)
	}
	dir := folderKey(filepath.Dir(out))
	for _, a := range args {
		if bucket.IsURL(a) {
			continue
		}
		if info, err := os.Stat(a); err != nil || !info.IsDir() {
			continue
		}
		if strings.HasPrefix(dir, folderKey(a)) {
			return usageErrorf("--out %s is inside %s, a folder of recordings given: a later run (--resume, another shard) would read it as a recording; write it elsewhere", out, a)
		}
	}
	return nil
}

// checkObjectOutsideInputs is checkOutOutsideInputs for an --out in a
// bucket: the object must name one (a bad URL, an unknown parameter or a
// prefix is a usage error, as a folder is), outside every prefix of
// recordings given.
func checkObjectOutsideInputs(out string, args []string) error {
	o, err := bucket.Parse(out, parquetfile.Ext)
	if err != nil {
		return usageErrorf("--out: %v", err)
	}
	if !o.IsObject() {
		return usageErrorf("--out %s: want an object ending in %s, or a prefix ending in / with --shard", o, parquetfile.Ext)
	}
	oRoot, oKey := objectPath(o)
	for _, a := range args {
		if !bucket.IsURL(a) {
			continue
		}
		in, err := bucket.Parse(a, parquetfile.Ext)
		if err != nil || in.IsObject() {
			continue // the reader says what is wrong with it
		}
		root, prefix := objectPath(in)
		if prefix != "" && !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		if root == oRoot && strings.HasPrefix(oKey, prefix) {
			return usageErrorf("--out %s is inside %s, a prefix of recordings given: a later run (--resume, another shard) would read it as a recording; write it elsewhere", o, in)
		}
	}
	// Opened now (no request is made), as record opens its buckets: a
	// parameter the provider does not know is the user's to fix.
	ctx, cancel := context.WithTimeout(context.Background(), bucket.RequestTimeout)
	defer cancel()
	if _, err := bucket.Open(ctx, o); err != nil {
		return usageErrorf("--out: %v", err)
	}
	return nil
}

// objectPath is a location as a bucket and a key within it; for file://,
// whose bucket is the object's folder, the root of the file system and
// the whole path.
func objectPath(l bucket.Location) (root, key string) {
	u, err := url.Parse(l.Bucket)
	if err != nil || u.Scheme != "file" {
		return l.Bucket, l.Key
	}
	return "file://", strings.TrimPrefix(path.Join(u.Path, l.Key), "/")
}

// checkOut refuses an --out that names no results file report would read:
// an in-progress name, which report skips, or a folder (with --shard, a
// name ending in "/" is the folder of the shard's file, as documented).
func checkOut(out string, shard replay.Shard) error {
	if strings.HasSuffix(out, parquetfile.PartialSuffix) {
		return usageErrorf("--out %s: %s marks a file still being written, which report skips: give the final name, e.g. %s",
			out, parquetfile.PartialSuffix, strings.TrimSuffix(out, parquetfile.PartialSuffix))
	}
	if err := bucket.CheckScheme(out); err != nil {
		return usageErrorf("--out %v", err)
	}
	if out == "" || bucket.IsURL(out) {
		return nil
	}
	slash := os.IsPathSeparator(out[len(out)-1])
	if slash && shard.Count > 0 {
		return nil
	}
	if info, err := os.Stat(out); slash || err == nil && info.IsDir() {
		return outFolderError(out)
	}
	return nil
}

// outFolderError is the usage error of an --out that is a folder.
func outFolderError(out string) error {
	return usageErrorf("--out %s is a folder: give a file name, e.g. %s", out, filepath.Join(out, "results.parquet"))
}

// writeFailure words a results file that could not be written or
// finalized: the cause, what became of the rows, and what to do.
func writeFailure(err error, out *replay.Destination, sent int64) error {
	hint := "choose another --out"
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		hint = "the disk is full: free some space, or choose another --out"
	}
	kept := "no results file was written"
	if out.Done.Len() > 0 {
		kept = out.Name + " is left as it was"
	}
	return fmt.Errorf("%w; the rows of the %d exchanges sent are lost and %s (%s)", err, sent, kept, hint)
}

// busyName is the file a live run on out is writing: its partial file, or
// for a bucket the object (the spool copy is an implementation detail).
func busyName(out string) string {
	if bucket.IsURL(out) {
		return bucket.Redact(out)
	}
	return out + parquetfile.PartialSuffix
}

// resumeBaselineCheck refuses to resume rows with a baseline side in a
// run without one, or the reverse: the file would mix the two, and a
// report reads a run's baseline columns as all there or all null. Rows
// held back for --retry-errors count as much as those carried over: the
// ones this run does not send again (an interrupt, a --limit) are written
// back as they were.
func resumeBaselineCheck(out *replay.Destination, baseline bool) error {
	done, with := out.Done.Len()+out.Dropped, out.DoneWithBaseline+out.DroppedWithBaseline
	switch {
	case with > 0 && with < done:
		return usageErrorf("--resume: %s already mixes rows with and without a baseline (%d of %d have one): "+
			"write this run to another --out", out.Name, with, done)
	case baseline && done > 0 && with == 0:
		return usageErrorf("--resume: the %d rows of %s were replayed without --baseline, and this run has one: "+
			"resume without --baseline, or write to another --out", done, out.Name)
	case !baseline && with > 0:
		return usageErrorf("--resume: the %d rows of %s were replayed with --baseline, and this run has none: "+
			"give the same --baseline, or write to another --out", done, out.Name)
	}
	return nil
}

// endBar draws the bar's last frame with the count done. A run that
// covered everything fills it; one that stopped early (an interrupt, a
// dead target, a bad recording) or sent only some (--path-prefix) shows
// what was done: Finish would have shown 3000/3000 after 140. (The total
// is the recording's, so with --path-prefix the bar does not fill.)
func endBar(bar *progressbar.ProgressBar, done int64) {
	if max := bar.GetMax64(); max > 0 && done >= max {
		_ = bar.Finish()
		return
	}
	// The bar draws at most once per its throttle, unless full: wait it
	// out so that this frame is drawn.
	time.Sleep(replayBarThrottle)
	_ = bar.Set64(done)
	_ = bar.Exit()
}

// replayBarThrottle is how often, at most, the bar is drawn.
const replayBarThrottle = 100 * time.Millisecond

func newReplayBar(w io.Writer) *progressbar.ProgressBar {
	return progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("replay"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("req"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(replayBarThrottle),
		progressbar.OptionSetWidth(30),
		// A bar of unknown length otherwise starts a goroutine that redraws
		// the spinner every 100 ms and reads the bar's state without its
		// lock (progressbar v3.19.1: a data race with Add under -race). The
		// spinner turns on each update instead.
		progressbar.OptionSetSpinnerChangeInterval(0),
	)
}

// summaryLine is the end summary: sent, ok, errors by kind, elapsed, rate.
func summaryLine(s replay.Stats, paced bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "replayed %d exchanges in %s (%.1f/s): %d ok, %d errors%s",
		s.Sent, s.Elapsed.Round(time.Millisecond), s.Rate(), s.OK, s.Sent-s.OK, kinds(s.Errors))
	if s.BaselineErrors != nil {
		fmt.Fprintf(&b, "; baseline %d ok, %d errors%s", s.BaselineOK, s.Sent-s.BaselineOK, kinds(s.BaselineErrors))
	}
	if s.Resumed > 0 {
		fmt.Fprintf(&b, "; %d already done (resumed)", s.Resumed)
	}
	if s.Abandoned > 0 {
		fmt.Fprintf(&b, "; %d abandoned in flight (not written)", s.Abandoned)
	}
	if s.Truncated > 0 {
		fmt.Fprintf(&b, "; %d not sent (request body truncated in the recording)", s.Truncated)
	}
	if paced && s.Behind > 100*time.Millisecond {
		fmt.Fprintf(&b, "; fell behind schedule by up to %s (target or --concurrency too slow; latencies include the wait)",
			s.Behind.Round(time.Millisecond))
	}
	return b.String()
}

func kinds(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
