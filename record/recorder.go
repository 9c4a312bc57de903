package record

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// RecorderOptions configure a Recorder: where it listens, and the options
// of its proxy and sink (their Sink, Metrics and Logger fields are set by the
// Recorder).
type RecorderOptions struct {
	// Listen is where clients connect (host:port; port 0 picks one).
	Listen string
	// Admin serves /healthz, /readyz and /metrics; empty disables it.
	Admin string
	// WrapAdmin, when set, wraps the admin handler (to add the profiler,
	// say).
	WrapAdmin func(http.Handler) http.Handler
	// ReadHeaderTimeout and MaxHeaderBytes protect the listener from slow
	// or oversized client headers.
	ReadHeaderTimeout time.Duration
	MaxHeaderBytes    int
	// IdleTimeout closes idle client connections; 0 means 120 s.
	IdleTimeout time.Duration
	// DrainTimeout bounds how long in-flight requests may take to finish
	// once Run's context ends; then they are cut.
	DrainTimeout time.Duration
	Proxy        ProxyOptions
	Sink         SinkOptions
	Logger       *slog.Logger
	// Drained, when set, runs once the clients' exchanges have ended (or
	// were cut), before the last recording is finalized: what hangs off
	// the proxy (the live shadow) finishes there. Its error is Run's.
	Drained func() error
}

// Recorder is the recording sidecar: a listener serving the proxy, the sink
// its rows go to, and the admin endpoints, with one lifecycle. NewRecorder
// opens everything (so a taken port or an unwritable folder shows before
// anything is served); Run serves until its context ends, then drains and
// finalizes the last file.
type Recorder struct {
	opts    RecorderOptions
	sink    *Sink
	proxy   *Proxy
	metrics *Metrics
	ln      net.Listener
	adminLn net.Listener
	srv     *http.Server
	admin   *http.Server
	ready   atomic.Bool
}

// ListenError is NewRecorder's error when an address cannot be listened on
// (the port is taken, say).
type ListenError struct {
	Admin bool // the admin address, not the clients'
	Addr  string
	Err   error
}

func (e *ListenError) Error() string {
	what := "listen"
	if e.Admin {
		what = "listen (admin)"
	}
	return fmt.Sprintf("%s on %s: %v", what, e.Addr, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }

// ErrOptions is wrapped by NewRecorder's error for options the proxy
// refuses.
var ErrOptions = errors.New("bad options")

// NewRecorder opens the sink, builds the proxy and listens.
func NewRecorder(opts RecorderOptions) (*Recorder, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 120 * time.Second
	}
	if opts.DrainTimeout <= 0 {
		return nil, fmt.Errorf("drain timeout %v: want a positive duration", opts.DrainTimeout)
	}
	r := &Recorder{opts: opts, metrics: NewMetrics()}
	opened := false
	defer func() {
		if !opened {
			r.closeAll()
		}
	}()
	var err error
	opts.Sink.Logger = opts.Logger
	if r.sink, err = NewSink(opts.Sink); err != nil {
		return nil, err
	}
	r.metrics.WatchSink(r.sink)
	opts.Proxy.Sink, opts.Proxy.Metrics, opts.Proxy.Logger = r.sink, r.metrics, opts.Logger
	if r.proxy, err = NewProxy(opts.Proxy); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	if r.ln, err = net.Listen("tcp", opts.Listen); err != nil {
		return nil, &ListenError{Addr: opts.Listen, Err: err}
	}
	if opts.Admin != "" {
		if r.adminLn, err = net.Listen("tcp", opts.Admin); err != nil {
			return nil, &ListenError{Admin: true, Addr: opts.Admin, Err: err}
		}
	}
	errLog := slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug)
	r.srv = &http.Server{
		Handler:           r.proxy,
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		MaxHeaderBytes:    opts.MaxHeaderBytes,
		IdleTimeout:       opts.IdleTimeout,
		ErrorLog:          errLog,
		// OPTIONS * is the upstream's to answer (and a row), not Go's.
		DisableGeneralOptionsHandler: true,
	}
	var admin http.Handler = AdminHandler(r.metrics, func() bool { return r.ready.Load() && r.sink.Running() })
	if opts.WrapAdmin != nil {
		admin = opts.WrapAdmin(admin)
	}
	r.admin = &http.Server{Handler: admin, ReadHeaderTimeout: 5 * time.Second, ErrorLog: errLog}
	opened = true
	return r, nil
}

// closeAll releases what NewRecorder opened before it failed.
func (r *Recorder) closeAll() {
	if r.ln != nil {
		_ = r.ln.Close()
	}
	if r.adminLn != nil {
		_ = r.adminLn.Close()
	}
	if r.proxy != nil {
		r.proxy.Close()
	}
	if r.sink != nil {
		_ = r.sink.Close(context.Background())
	}
}

// Addr is where clients connect.
func (r *Recorder) Addr() net.Addr { return r.ln.Addr() }

// AdminAddr is where the admin endpoints listen, nil without them.
func (r *Recorder) AdminAddr() net.Addr {
	if r.adminLn == nil {
		return nil
	}
	return r.adminLn.Addr()
}

// Stats are the sink's counters.
func (r *Recorder) Stats() SinkStats { return r.sink.Stats() }

// Metrics are the recorder's Prometheus metrics.
func (r *Recorder) Metrics() *Metrics { return r.metrics }

// cutWait bounds the wait for exchanges cut at the drain timeout to end:
// their connections are closed, so it is short, except for an upgraded
// connection, which Close does not touch.
const cutWait = 2 * time.Second

// Run serves until ctx ends or serving fails, then stops accepting, lets
// in-flight exchanges finish (up to DrainTimeout, then cuts them), and
// flushes and finalizes the last file. Its error is serving's or the last
// file's; a Recorder runs once.
func (r *Recorder) Run(ctx context.Context) error {
	served := make(chan error, 2)
	go func() { served <- r.srv.Serve(r.ln) }()
	if r.adminLn != nil {
		go func() { served <- r.admin.Serve(r.adminLn) }()
	}
	r.ready.Store(true)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-served:
		runErr = fmt.Errorf("serve: %w", err)
	}
	r.ready.Store(false)

	drainCtx, cancel := context.WithTimeout(context.Background(), r.opts.DrainTimeout)
	defer cancel()
	if err := r.srv.Shutdown(drainCtx); err != nil {
		cut := r.proxy.Active()
		_ = r.srv.Close()
		// Closing their connections ends the exchanges still in flight
		// (each is recorded with its error): wait for that before the
		// sink closes, or their rows would be neither recorded nor
		// counted in the summary.
		ended := r.proxy.WaitIdle(cutWait)
		r.opts.Logger.Warn("in-flight requests cut at the drain timeout", "timeout", r.opts.DrainTimeout,
			"requests", cut, "all_ended", ended)
	}
	var drainedErr error
	if r.opts.Drained != nil {
		drainedErr = r.opts.Drained()
	}
	r.proxy.Close()
	closeCtx, cancelClose := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelClose()
	sinkErr := r.sink.Close(closeCtx)
	if r.adminLn != nil {
		_ = r.admin.Close()
	}
	if sinkErr != nil {
		return sinkErr
	}
	if drainedErr != nil {
		return drainedErr
	}
	if runErr != nil && !errors.Is(runErr, http.ErrServerClosed) {
		return runErr
	}
	return nil
}
