package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/shadowctl/shadowctl/internal/bucket"
	"github.com/shadowctl/shadowctl/internal/spool"
	"github.com/shadowctl/shadowctl/record"
	"github.com/shadowctl/shadowctl/shadow"
)

// recordOptions are the flags of `shadowctl record`.
type recordOptions struct {
	Upstream        string
	Listen          string
	Out             string
	Spool           string
	spoolGiven      bool // --spool set on the command line
	Admin           string
	RotateSize      string
	RotateInterval  time.Duration
	MaxBody         string
	Sample          float64
	Redact          []string
	Queue           int
	UpstreamTimeout time.Duration
	Instance        string
	DrainTimeout    time.Duration
	// ReadHeaderTimeout and MaxHeaderBytes protect the listener from slow
	// or oversized client headers.
	ReadHeaderTimeout  time.Duration
	MaxHeaderBytes     string
	RedactJSON         []string
	CAFile             string
	InsecureSkipVerify bool
	Pprof              bool
	Shadow             shadowOptions
	// ClientBodyTimeout, UpstreamReadTimeout, MaxUpstreamHeaderBytes and
	// BodyMemory bound what a slow or oversized peer can hold.
	ClientBodyTimeout      time.Duration
	UpstreamReadTimeout    time.Duration
	MaxUpstreamHeaderBytes string
	BodyMemory             string
}

func (o *recordOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Upstream, "upstream", "", "URL of the server to proxy to, e.g. http://127.0.0.1:8080 (required)")
	fs.StringVar(&o.Listen, "listen", ":8081", "address to serve clients on")
	fs.StringVar(&o.Out, "out", "./recordings", "folder for recording files (created 0700 if missing), or a bucket prefix (s3://, gs://, azblob://, file://)")
	fs.StringVar(&o.Spool, "spool", defaultSpool(), "with a bucket --out or --shadow-out: local folder the files are written in until uploaded (on Kubernetes an emptyDir)")
	fs.StringVar(&o.Admin, "admin", "127.0.0.1:9091", "address for /healthz, /readyz and /metrics; empty disables")
	fs.StringVar(&o.RotateSize, "rotate-size", "128MiB", "start a new file once the current one reaches this size")
	fs.DurationVar(&o.RotateInterval, "rotate-interval", 5*time.Minute, "finalize the current file once it is this old")
	fs.StringVar(&o.MaxBody, "max-body", "4MiB", "bytes of each body stored (bodies pass through whole; longer ones are stored cut and flagged)")
	fs.Float64Var(&o.Sample, "sample", 1.0, "fraction of exchanges recorded, 0 to 1")
	fs.StringArrayVar(&o.Redact, "redact-header", nil, "header whose values are stored as REDACTED, repeatable; always added to "+
		strings.Join(record.DefaultRedact, ", "))
	fs.IntVar(&o.Queue, "queue", record.DefaultQueue, fmt.Sprintf("exchanges that may wait for the disk before new ones are dropped (1 to %d)", maxQueue))
	fs.DurationVar(&o.UpstreamTimeout, "upstream-timeout", 60*time.Second, "wait this long for the upstream's response headers (then 504); 0 waits forever")
	fs.StringVar(&o.Instance, "instance", "", "name of this recorder in file names and rows (default: host name and a random suffix)")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", 20*time.Second, "on SIGTERM, how long in-flight requests may take to finish")
	fs.DurationVar(&o.ReadHeaderTimeout, "read-header-timeout", 10*time.Second, "close a client connection whose request headers take longer than this")
	fs.StringArrayVar(&o.RedactJSON, "redact-json", nil, "JSONPath of a field masked inside JSON bodies before they are stored, e.g. '$.user.email' or '$.instances[*].ssn'; repeatable")
	fs.StringVar(&o.CAFile, "ca-file", "", "PEM file of CA certificates to trust for an https:// upstream, besides the system's")
	fs.BoolVar(&o.InsecureSkipVerify, "insecure-skip-verify", false, "do not verify the upstream's HTTPS certificate (logs a warning)")
	fs.StringVar(&o.MaxHeaderBytes, "max-header-bytes", "1MiB", "largest request header block accepted from a client (larger: 431)")
	fs.BoolVar(&o.Pprof, "pprof", false, "also serve Go's profiler (/debug/pprof/) on --admin, to see where the recorder spends its CPU")
	o.Shadow.AddFlags(fs)
	fs.DurationVar(&o.ClientBodyTimeout, "client-body-timeout", 60*time.Second, "wait this long for each further read of a client's request body, then 408; 0 waits forever")
	fs.DurationVar(&o.UpstreamReadTimeout, "upstream-read-timeout", 60*time.Second, "wait this long for each further read of the upstream's response body, then the response is cut; 0 waits forever")
	fs.StringVar(&o.MaxUpstreamHeaderBytes, "max-upstream-header-bytes", "1MiB", "largest response header block accepted from the upstream (larger: 502)")
	fs.StringVar(&o.BodyMemory, "body-memory", "128MiB", "bytes of bodies held in memory at once by requests in flight, for recording; past it bodies stream through whole but are stored cut, flagged truncated with their real size")
}

func newRecordCmd(g *globalOptions) *cobra.Command {
	opts := &recordOptions{}
	cmd := &cobra.Command{
		Use:   "record --upstream URL [flags]",
		Short: "Proxy traffic to a model and record every exchange to Parquet files",
		Long: `record is a reverse proxy in front of a model server: clients get exactly what
the upstream sent, streamed as it arrives, while a copy of each exchange is
written to rotating Parquet files in --out. Recording never slows or fails a
request: when the queue is full or the disk fails, the row is dropped and
counted. SIGTERM, SIGINT or SIGHUP stops it cleanly: in-flight requests finish, the
last file is finalized, and one summary line is printed.

With --shadow URL it is also the live shadow: each sampled request goes to
that candidate too, never delaying the client (a bounded queue; copies that
do not fit are dropped and counted), and both answers are written as results
files in --shadow-out that shadowctl report reads, compared live on /metrics.`,
		Example: `  shadowctl record --upstream http://127.0.0.1:8080 --listen :8081 --out ./recordings
  shadowctl record --upstream http://127.0.0.1:8080 --shadow http://127.0.0.1:9000 --shadow-sample 0.2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.Flags().Visit(func(f *pflag.Flag) {
				if strings.HasPrefix(f.Name, "shadow-") {
					opts.Shadow.given = append(opts.Shadow.given, f.Name)
				}
				opts.spoolGiven = opts.spoolGiven || f.Name == "spool"
			})
			return runRecord(cmd.Context(), g, opts)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

// hostPort tells whether addr is host:port with a port a listener takes:
// 0 to 65535, a service name such as http, or none (any free port, as 0).
func hostPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if port == "" {
		return true
	}
	if n, err := strconv.Atoi(port); err == nil {
		return n >= 0 && n <= 65535
	}
	_, err = net.LookupPort("tcp", port)
	return err == nil
}

// recordConfig is recordOptions checked and parsed.
type recordConfig struct {
	upstream    *url.URL
	rotateSize  int64
	maxBody     int64
	maxHeader   int64
	maxUpHeader int64
	bodyMemory  int64
	redact      map[string]bool
	redactJSON  *record.JSONRedactor
	tls         *tls.Config
	instance    string
	shadow      *shadowConfig // nil without --shadow
	// out and shadowOut are the bucket prefixes of --out and --shadow-out
	// (nil: a folder).
	out, shadowOut *bucketOut
}

// maxQueue bounds --queue and --shadow-queue, and maxShadowConcurrency
// --shadow-concurrency: each is sized up front (a channel, a worker and its
// comparator each), so a typo of a few digits would take the memory at
// start, or panic. Past these the bound is the bytes held (--max-body) or
// the shadow's own capacity, not the count.
const (
	maxQueue             = 1 << 20
	maxShadowConcurrency = 10000
)

var instanceName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

func (o *recordOptions) check() (*recordConfig, error) {
	c := &recordConfig{}
	if o.Upstream == "" {
		return nil, usageErrorf("--upstream is required (e.g. --upstream http://127.0.0.1:8080)")
	}
	u, err := parseHTTPURL("upstream", o.Upstream,
		"the proxy forwards each client's own Authorization header (and credentials on the command line show in the process list)")
	if err != nil {
		return nil, err
	}
	switch {
	case u.RawQuery != "" || u.ForceQuery:
		// It was merged into every client's query: the upstream saw
		// requests the clients did not send, and the recording with them.
		return nil, usageErrorf("--upstream %s: a query would be added to every client's request; the proxy forwards each client's own query: remove it from the URL", u.Redacted())
	case u.Fragment != "":
		return nil, usageErrorf("--upstream %s: a fragment (#…) is never sent: remove it from the URL", u.Redacted())
	}
	c.upstream = u
	if !hostPort(o.Listen) {
		return nil, usageErrorf("--listen %q: want host:port or :port, the port 0 to 65535", o.Listen)
	}
	if record.SendsToItself(o.Listen, u) {
		return nil, usageErrorf("--upstream %s is --listen %s: the recorder would proxy to itself, every request coming back in "+
			"until it runs out of file descriptors; point --upstream at the model server", u.Redacted(), o.Listen)
	}
	if o.Admin != "" {
		if !hostPort(o.Admin) {
			return nil, usageErrorf("--admin %q: want host:port (the port 0 to 65535), or empty to disable", o.Admin)
		}
	}
	if o.Pprof && o.Admin == "" {
		return nil, usageErrorf("--pprof serves on --admin: give --admin an address")
	}
	if o.Out == "" {
		return nil, usageErrorf("--out: want a folder")
	}
	if c.out, err = checkBucketOut("out", o.Out, o.Spool, "recordings"); err != nil {
		return nil, err
	}
	if c.rotateSize, err = parseSize(o.RotateSize); err != nil {
		return nil, usageErrorf("--rotate-size: %v", err)
	}
	if c.rotateSize < 1<<10 {
		return nil, usageErrorf("--rotate-size %s: want at least 1KiB", o.RotateSize)
	}
	if o.RotateInterval <= 0 {
		return nil, usageErrorf("--rotate-interval %v: want a positive duration such as 5m", o.RotateInterval)
	}
	if c.maxBody, err = parseSize(o.MaxBody); err != nil {
		return nil, usageErrorf("--max-body: %v", err)
	}
	if o.ReadHeaderTimeout <= 0 {
		return nil, usageErrorf("--read-header-timeout %v: want a positive duration", o.ReadHeaderTimeout)
	}
	if c.maxHeader, err = parseSize(o.MaxHeaderBytes); err != nil {
		return nil, usageErrorf("--max-header-bytes: %v", err)
	}
	if c.maxHeader < 1<<10 || c.maxHeader > 1<<30 {
		return nil, usageErrorf("--max-header-bytes %s: want between 1KiB and 1GiB", o.MaxHeaderBytes)
	}
	if c.maxUpHeader, err = parseSize(o.MaxUpstreamHeaderBytes); err != nil {
		return nil, usageErrorf("--max-upstream-header-bytes: %v", err)
	}
	if c.maxUpHeader < 1<<10 || c.maxUpHeader > 1<<30 {
		return nil, usageErrorf("--max-upstream-header-bytes %s: want between 1KiB and 1GiB", o.MaxUpstreamHeaderBytes)
	}
	if c.bodyMemory, err = parseSize(o.BodyMemory); err != nil {
		return nil, usageErrorf("--body-memory: %v", err)
	}
	if c.bodyMemory < 64<<10 {
		return nil, usageErrorf("--body-memory %s: want at least 64KiB", o.BodyMemory)
	}
	if o.ClientBodyTimeout < 0 {
		return nil, usageErrorf("--client-body-timeout %v: want 0 (no limit) or a positive duration", o.ClientBodyTimeout)
	}
	if o.UpstreamReadTimeout < 0 {
		return nil, usageErrorf("--upstream-read-timeout %v: want 0 (no limit) or a positive duration", o.UpstreamReadTimeout)
	}
	if !(o.Sample >= 0 && o.Sample <= 1) {
		return nil, usageErrorf("--sample %v: want a fraction between 0 and 1", o.Sample)
	}
	if o.Queue < 1 || o.Queue > maxQueue {
		return nil, usageErrorf("--queue %d: want 1 to %d", o.Queue, maxQueue)
	}
	if o.UpstreamTimeout < 0 {
		return nil, usageErrorf("--upstream-timeout %v: want 0 (no limit) or a positive duration", o.UpstreamTimeout)
	}
	if o.DrainTimeout <= 0 {
		return nil, usageErrorf("--drain-timeout %v: want a positive duration", o.DrainTimeout)
	}
	for _, h := range o.Redact {
		if strings.TrimSpace(h) == "" || strings.ContainsAny(h, " :\t") {
			return nil, usageErrorf("--redact-header %q: want a header name", h)
		}
	}
	if c.redactJSON, err = record.NewJSONRedactor(o.RedactJSON); err != nil {
		return nil, usageErrorf("--redact-json: %v", err)
	}
	c.tls = &tls.Config{InsecureSkipVerify: o.InsecureSkipVerify}
	if o.CAFile != "" {
		if c.tls.RootCAs, err = loadCAFile(o.CAFile); err != nil {
			return nil, err
		}
	}
	c.redact = record.RedactSet(append(append([]string{}, record.DefaultRedact...), o.Redact...))
	c.instance = o.Instance
	if c.instance == "" {
		c.instance = defaultInstance()
	}
	if !instanceName.MatchString(c.instance) {
		return nil, usageErrorf("--instance %q: want letters, digits, '.', '_' or '-' (it goes into file names)", c.instance)
	}
	if c.shadow, err = o.Shadow.check(o.Out, o.Listen); err != nil {
		return nil, err
	}
	if c.shadow != nil {
		if c.shadowOut, err = checkBucketOut("shadow-out", o.Shadow.Out, o.Spool, "shadow"); err != nil {
			return nil, err
		}
	}
	if o.spoolGiven && c.out == nil && c.shadowOut == nil {
		// Files for a folder are written in it: a --spool given for them
		// would be ignored, and the operator think the disk was another.
		return nil, usageErrorf("--spool %s is for a bucket --out or --shadow-out; with folders the files are written in them: leave --spool out", o.Spool)
	}
	return c, nil
}

// defaultInstance is the host name (the pod name in Kubernetes) and a short
// random suffix, so two recorders on one host never share file names.
func defaultInstance() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '-'
	}, host)
	if i := strings.IndexByte(host, '.'); i > 0 {
		host = host[:i]
	}
	host = strings.Trim(host, "-")
	if len(host) > 40 {
		host = host[:40]
	}
	if host == "" {
		host = "rec"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

func runRecord(ctx context.Context, g *globalOptions, opts *recordOptions) error {
	cfg, err := opts.check()
	if err != nil {
		return err
	}
	logger := g.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.InsecureSkipVerify {
		logger.Warn("--insecure-skip-verify: the upstream's HTTPS certificate is not verified")
	}
	ro := record.RecorderOptions{
		Listen:            opts.Listen,
		Admin:             opts.Admin,
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		MaxHeaderBytes:    int(cfg.maxHeader),
		DrainTimeout:      opts.DrainTimeout,
		Logger:            logger,
		Sink: record.SinkOptions{
			Dir:            cfg.dir(opts.Out),
			Instance:       cfg.instance,
			Queue:          opts.Queue,
			QueueBytes:     cfg.queueBytes(),
			RotateSize:     cfg.rotateSize,
			RotateInterval: opts.RotateInterval,
			RedactJSON:     cfg.redactJSON,
		},
		Proxy: record.ProxyOptions{
			Upstream:               cfg.upstream,
			MaxBody:                cfg.maxBody,
			Sample:                 opts.Sample,
			Redact:                 cfg.redact,
			Instance:               cfg.instance,
			UpstreamTimeout:        opts.UpstreamTimeout,
			TLSConfig:              cfg.tls,
			ClientBodyTimeout:      opts.ClientBodyTimeout,
			UpstreamReadTimeout:    opts.UpstreamReadTimeout,
			MaxResponseHeaderBytes: cfg.maxUpHeader,
			BodyMemory:             cfg.bodyMemory,
		},
	}
	if opts.Pprof {
		ro.WrapAdmin = withPprof
	}
	queueBytes := cfg.queueBytes()
	if cfg.shadow != nil {
		// The copies' bodies (shadow.DefaultMaxHeld) and the results queue.
		queueBytes += shadow.DefaultMaxHeld + cfg.queueBytes()
	}
	if limit, set := setMemoryLimit(cfg.bodyMemory, queueBytes); set {
		logger.Debug("Go memory limit set from the recorder's bounds (GOMEMLIMIT overrides it)", "bytes", limit)
	}
	var live *liveShadow
	if cfg.shadow != nil {
		if live, err = startShadow(&opts.Shadow, cfg.shadow, cfg, opts, logger); err != nil {
			return err
		}
		ro.Proxy.Mirror = live.sh
		ro.Drained = live.stop // after the clients' exchanges, before the last recording
	}
	rec, err := record.NewRecorder(ro)
	if err != nil && live != nil {
		_ = live.stop()
	}
	var le *record.ListenError
	switch {
	case errors.As(err, &le) && le.Admin:
		return fmt.Errorf("listen on --admin %s: %w", le.Addr, le.Err)
	case errors.As(err, &le):
		return fmt.Errorf("listen on --listen %s: %w", le.Addr, le.Err)
	case errors.Is(err, record.ErrOptions):
		return usageErrorf("%v", err)
	case err != nil:
		return err
	}
	if live != nil {
		if err := live.sh.Register(rec.Metrics().Registry()); err != nil {
			return err
		}
	}
	ship, err := startShippers(logger, rec.Metrics().Registry(), cfg.out, cfg.shadowOut)
	if err != nil {
		return err
	}
	g.status(fmt.Sprintf("recording http://%s -> %s, files in %s", rec.Addr(), cfg.upstream.Redacted(), bucket.Redact(opts.Out)),
		"addr", "http://"+rec.Addr().String(), "upstream", cfg.upstream.Redacted(), "out", bucket.Redact(opts.Out))
	if live != nil {
		g.status(fmt.Sprintf("shadowing to %s, results in %s", cfg.shadow.target.Redacted(), live.out),
			"shadow", cfg.shadow.target.Redacted(), "shadow_out", live.out)
	}
	if a := rec.AdminAddr(); a != nil {
		paths := "/healthz /readyz /metrics"
		if opts.Pprof {
			paths += " /debug/pprof/"
		}
		logger.Info("admin endpoints", "addr", "http://"+a.String(), "paths", paths)
	}
	runErr := rec.Run(ctx)
	st := rec.Stats()
	line := fmt.Sprintf("recorded %d exchanges, dropped %d (%s=%d, %s=%d, %s=%d), %d files in %s",
		st.Recorded, st.DroppedTotal(),
		record.DropQueueFull, st.Dropped[record.DropQueueFull],
		record.DropWriteError, st.Dropped[record.DropWriteError],
		record.DropClosed, st.Dropped[record.DropClosed],
		st.FilesWritten, cfg.dir(opts.Out))
	attrs := []any{"recorded", st.Recorded, "dropped", st.DroppedTotal(),
		"dropped_" + record.DropQueueFull, st.Dropped[record.DropQueueFull],
		"dropped_" + record.DropWriteError, st.Dropped[record.DropWriteError],
		"dropped_" + record.DropClosed, st.Dropped[record.DropClosed],
		"files", st.FilesWritten}
	if live != nil {
		more, a := live.summary()
		line, attrs = line+more, append(attrs, a...)
	}
	more, a := ship.stop(opts.DrainTimeout)
	g.status(line+more, append(attrs, a...)...)
	return runErr
}

// withPprof adds Go's profiler under /debug/pprof/ to the admin handler h.
func withPprof(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// queueBytes bounds the bytes of the rows waiting for the disk, in the
// recording's sink and in the live shadow's: 128 MiB, or room for 4 rows
// of the largest bodies stored.
func (c *recordConfig) queueBytes() int64 {
	return max(spool.DefaultQueueBytes, 4*c.maxBody)
}

// memoryHeadroom is what the soft memory limit allows beyond the bodies
// the recorder may hold: the open files' buffers, connections, the runtime.
const memoryHeadroom = 128 << 20

// setMemoryLimit gives Go's collector a soft limit of the bytes the
// recorder may hold by its own bounds (bodies in flight, rows and copies
// queued) plus memoryHeadroom, unless GOMEMLIMIT sets one. Without it the
// collector lets garbage grow to twice the live heap, and a burst of large
// bodies (bounded while live) could take the pod past its memory limit;
// with it the collector works harder near the limit instead. It returns
// the limit and whether it set it.
func setMemoryLimit(bodyMemory, queueBytes int64) (int64, bool) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	limit := bodyMemory + queueBytes + memoryHeadroom
	debug.SetMemoryLimit(limit)
	return limit, true
}
