// Command demomodel serves a small breast cancer classifier over the KServe
// V1 and Open Inference Protocol V2 REST APIs, for make demo and the
// end-to-end tests. Run one server per model version:
//
//	demomodel --version v1 --latency 2ms
//	demomodel --version v2 --latency 5ms --jitter 3ms --fail-rate 0.01
//
// Once listening it prints exactly one line, "listening on http://ADDR", to
// stdout so that an orchestrator can read the port; logs go to stderr. It
// shuts down gracefully on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/shadowctl/shadowctl/internal/demomodel"
)

// shutdownGrace bounds how long in-flight requests may take to finish
// after a signal.
const shutdownGrace = 5 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2) // the flag package has printed the problem and usage
	default:
		fmt.Fprintln(os.Stderr, "demomodel:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

type options struct {
	listen, name, version string
	latency, jitter       time.Duration
	failRate              float64
	seed                  uint64
}

func (o *options) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "address to listen on; port 0 lets the OS choose")
	fs.StringVar(&o.name, "name", "breast-cancer", "model name in request paths")
	fs.StringVar(&o.version, "version", "v1", "model version to train and serve: v1 or v2")
	fs.DurationVar(&o.latency, "latency", 2*time.Millisecond, "latency added to every inference request")
	fs.DurationVar(&o.jitter, "jitter", 0, "further uniform random latency in [0, jitter)")
	fs.Float64Var(&o.failRate, "fail-rate", 0, "probability in [0, 1] that an inference request fails with HTTP 500")
	fs.Uint64Var(&o.seed, "seed", 1, "seed for the fail-rate and jitter draws")
}

// run serves until ctx is done, then shuts down gracefully.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demomodel", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts options
	opts.addFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	start := time.Now()
	model, err := demomodel.Train(opts.version)
	if err != nil {
		return err
	}
	h, err := demomodel.NewHandler(demomodel.Options{
		Name:     opts.name,
		Model:    model,
		Latency:  opts.latency,
		Jitter:   opts.jitter,
		FailRate: opts.failRate,
		Seed:     opts.seed,
	})
	if err != nil {
		return err
	}
	log.Info("trained model", "name", opts.name, "version", opts.version, "took", time.Since(start).Round(time.Millisecond))

	ln, err := net.Listen("tcp", opts.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	if _, err := fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr()); err != nil {
		srv.Close()
		<-served
		return fmt.Errorf("announce address: %w", err)
	}
	log.Info("serving", "addr", ln.Addr().String(), "latency", opts.latency, "jitter", opts.jitter, "fail_rate", opts.failRate, "seed", opts.seed)

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
		<-served
		return fmt.Errorf("shut down: %w", err)
	}
	<-served // http.ErrServerClosed
	log.Info("stopped")
	return nil
}
