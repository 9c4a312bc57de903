package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/shadowctl/shadowctl/internal/bucket"
	"github.com/shadowctl/shadowctl/internal/spool"
	"github.com/shadowctl/shadowctl/record"
	"github.com/shadowctl/shadowctl/replay"
	"github.com/shadowctl/shadowctl/shadow"
)

// shadowOptions are record's flags of the live shadow.
type shadowOptions struct {
	Target      string
	Out         string
	Sample      float64
	Key         string
	Concurrency int
	Queue       int
	Rate        float64
	Timeout     time.Duration
	Headers     []string
	// given names the --shadow-* flags set on the command line, which mean
	// nothing without --shadow.
	given []string
}

func (o *shadowOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Target, "shadow", "", "also send each request to this candidate (model-v2) live, compare, never let it touch the client's answer")
	fs.StringVar(&o.Out, "shadow-out", "./shadow", "folder for the live shadow's results files (read them with shadowctl report), or a bucket prefix")
	fs.Float64Var(&o.Sample, "shadow-sample", 1.0, "fraction of requests mirrored to --shadow, 0 to 1 (independent of --sample)")
	fs.StringVar(&o.Key, "shadow-key", "", "make --shadow-sample consistent per key: header:NAME or request:JSONPATH (a path to one value, such as $.user.id); requests without the key are sampled at random")
	fs.IntVar(&o.Concurrency, "shadow-concurrency", shadow.DefaultConcurrency, fmt.Sprintf("copies in flight to --shadow at most (1 to %d)", maxShadowConcurrency))
	fs.IntVar(&o.Queue, "shadow-queue", shadow.DefaultQueue, fmt.Sprintf("copies that may wait for a worker; past it they are dropped and counted (1 to %d)", maxQueue))
	fs.Float64Var(&o.Rate, "shadow-rate", 0, "copies this recorder sends per second at most (each replica has its own cap), whatever the traffic and the shadow's latency (0: no cap); copies over it are dropped and counted (rate_limited), so a model-v2 sized for part of the traffic is not overrun")
	fs.DurationVar(&o.Timeout, "shadow-timeout", shadow.DefaultTimeout, "bound on each copy (answer read in full), and on the copies still in flight at shutdown")
	fs.StringArrayVar(&o.Headers, "shadow-header", nil, "header added to each copy, 'Name: value' (not Host, Content-Length or a connection header); repeatable")
}

// shadowConfig is shadowOptions checked; nil without --shadow.
type shadowConfig struct {
	target *url.URL
	key    *shadow.Key
	header http.Header
}

func (o *shadowOptions) check(out, listen string) (*shadowConfig, error) {
	if o.Target == "" {
		if len(o.given) > 0 {
			return nil, usageErrorf("--%s needs --shadow URL: without it there is no live shadow", o.given[0])
		}
		return nil, nil
	}
	u, err := parseHTTPURL("shadow", o.Target, "the copies carry each client's own headers")
	if err != nil {
		return nil, err
	}
	if err := replay.CheckBase(u); err != nil {
		return nil, usageErrorf("--shadow %q: %v", u.Redacted(), err)
	}
	if record.SendsToItself(listen, u) {
		return nil, usageErrorf("--shadow %s is --listen %s: each copy would come back in as a new request, mirrored again, "+
			"without end; point --shadow at model-v2", u.Redacted(), listen)
	}
	c := &shadowConfig{target: u, header: http.Header{}}
	switch {
	case !(o.Sample >= 0 && o.Sample <= 1):
		return nil, usageErrorf("--shadow-sample %v: want a fraction between 0 and 1", o.Sample)
	case o.Concurrency < 1 || o.Concurrency > maxShadowConcurrency:
		return nil, usageErrorf("--shadow-concurrency %d: want 1 to %d", o.Concurrency, maxShadowConcurrency)
	case o.Queue < 1 || o.Queue > maxQueue:
		return nil, usageErrorf("--shadow-queue %d: want 1 to %d", o.Queue, maxQueue)
	case !(o.Rate >= 0) || math.IsInf(o.Rate, 0):
		return nil, usageErrorf("--shadow-rate %v: want 0 (no cap) or a number of copies per second", o.Rate)
	case o.Timeout <= 0:
		return nil, usageErrorf("--shadow-timeout %v: want a positive duration", o.Timeout)
	case o.Out == "":
		return nil, usageErrorf("--shadow-out: want a folder")
	case sameFolder(o.Out, out):
		return nil, usageErrorf("--shadow-out %s is --out: results files and recordings need folders of their own", o.Out)
	case within(o.Out, out) || within(out, o.Out):
		return nil, usageErrorf("--shadow-out %s and --out %s: one is inside the other, and folders are read with all below them: "+
			"give results files and recordings folders side by side", o.Out, out)
	}
	if o.Key != "" {
		if c.key, err = shadow.ParseKey(o.Key); err != nil {
			return nil, usageErrorf("--shadow-key: %v", err)
		}
	}
	if c.header, err = parseHeaderFlags("--shadow-header", "the shadow's client", o.Headers); err != nil {
		return nil, err
	}
	return c, nil
}

// liveShadow is the running shadow and its results files.
type liveShadow struct {
	sh      *shadow.Shadow
	rows    *spool.Sink[replay.Result]
	out     string
	timeout time.Duration
}

// startShadow opens the results folder (recovering what a crash left) and
// starts the shadow.
func startShadow(o *shadowOptions, c *shadowConfig, rc *recordConfig, ro *recordOptions, logger *slog.Logger) (*liveShadow, error) {
	rows, err := spool.New(spool.Options{
		Dir: rc.shadowDir(o.Out), Instance: rc.instance, Queue: ro.Queue, QueueBytes: rc.queueBytes(),
		RotateSize: rc.rotateSize, RotateInterval: ro.RotateInterval, Logger: logger,
	}, shadow.ResultsCodec())
	if err != nil {
		return nil, err
	}
	sh, err := shadow.New(shadow.Options{
		Target: c.target, Sample: o.Sample, Key: c.key, Concurrency: o.Concurrency, Queue: o.Queue, Rate: o.Rate,
		Timeout: o.Timeout, Header: c.header, MaxBody: rc.maxBody, Rows: resultRows{rows}, RedactJSON: rc.redactJSON,
		Logger: logger, TLS: rc.tls,
	})
	if err != nil {
		_ = rows.Close(context.Background())
		return nil, usageErrorf("--shadow: %v", err)
	}
	return &liveShadow{sh: sh, rows: rows, out: bucket.Redact(o.Out), timeout: o.Timeout}, nil
}

// stop lets the copies in flight finish (up to --shadow-timeout) and
// finalizes the last results file.
func (l *liveShadow) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	shErr := l.sh.Close(ctx)
	closeCtx, cancelClose := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelClose()
	return errors.Join(shErr, l.rows.Close(closeCtx))
}

// resultRows is the results spool as the shadow's RowCounter, so that
// /metrics shows the rows it lost.
type resultRows struct{ *spool.Sink[replay.Result] }

func (r resultRows) RowCounts() (int64, map[string]int64) {
	st := r.Stats()
	return st.Recorded, st.Dropped
}

// summary is the shadow's part of the closing line.
func (l *liveShadow) summary() (string, []any) {
	st, rs := l.sh.Stats(), l.rows.Stats()
	attrs := []any{"shadow_mirrored", st.Mirrored, "shadow_dropped", st.DroppedTotal(),
		"shadow_dropped_" + shadow.DropQueueFull, st.Dropped[shadow.DropQueueFull],
		"shadow_dropped_" + shadow.DropUnheld, st.Dropped[shadow.DropUnheld],
		"shadow_dropped_" + shadow.DropClosed, st.Dropped[shadow.DropClosed],
		"shadow_dropped_" + shadow.DropRate, st.Dropped[shadow.DropRate],
		"shadow_compared", st.Compared, "shadow_agreed", st.Agreed, "shadow_skipped", st.Skipped,
		"shadow_rows", rs.Recorded, "shadow_rows_lost", rs.DroppedTotal()}
	line := fmt.Sprintf("; shadow: mirrored %d, dropped %d (%s=%d, %s=%d, %s=%d, %s=%d), %d of %d agreeing, %d rows in %s",
		st.Mirrored, st.DroppedTotal(),
		shadow.DropQueueFull, st.Dropped[shadow.DropQueueFull], shadow.DropUnheld, st.Dropped[shadow.DropUnheld],
		shadow.DropClosed, st.Dropped[shadow.DropClosed], shadow.DropRate, st.Dropped[shadow.DropRate],
		st.Agreed, st.Compared, rs.Recorded, l.out)
	if st.Skipped > 0 {
		line += fmt.Sprintf(" (%d rows too large to compare live; the report compares them)", st.Skipped)
	}
	if n := rs.DroppedTotal(); n > 0 {
		line += fmt.Sprintf(" (%d rows lost: %s=%d, %s=%d, %s=%d)", n, spool.DropQueueFull, rs.Dropped[spool.DropQueueFull],
			spool.DropWriteError, rs.Dropped[spool.DropWriteError], spool.DropClosed, rs.Dropped[spool.DropClosed])
	}
	return line, attrs
}

// folderKey is how a folder or bucket prefix compares with another: an
// absolute path with its symbolic links resolved (as far as the path
// exists), or a bucket URL cleaned; it ends in a separator.
func folderKey(p string) string {
	if bucket.IsURL(p) {
		return strings.TrimSuffix(p, "/") + "/"
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p) + string(filepath.Separator)
	}
	// Resolve the longest part that exists: the folders may not yet.
	rest := ""
	for dir := abs; ; {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			abs = filepath.Join(real, rest)
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		rest = filepath.Join(filepath.Base(dir), rest)
		dir = parent
	}
	return strings.TrimSuffix(abs, string(filepath.Separator)) + string(filepath.Separator)
}

// sameFolder tells whether a and b name one folder (or bucket prefix).
func sameFolder(a, b string) bool { return folderKey(a) == folderKey(b) }

// within tells whether a is a folder below b.
func within(a, b string) bool {
	ka, kb := folderKey(a), folderKey(b)
	return ka != kb && strings.HasPrefix(ka, kb)
}
