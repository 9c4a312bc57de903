// Command shadowctl records production traffic in front of a model, replays it
// against a candidate model and reports how the two compare.
package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/shadowctl/shadowctl/record"
)

// version is set by the Makefile: -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// SIGHUP (the terminal closed) stops as SIGTERM does: a recorder started
	// from a shell finalizes its files rather than dying with them open.
	ctx, stop := interrupts(os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	err := newRootCmd(os.Stdin, os.Stdout, os.Stderr).ExecuteContext(ctx)
	stopCPUProfile()
	stop()
	if err != nil && err.Error() != "" {
		fmt.Fprintln(os.Stderr, "shadowctl:", err)
	}
	os.Exit(exitCode(err))
}

// interrupts is signal.NotifyContext that also hears a second signal: the
// context ends at the first one, and againInterrupt(ctx) closes at the
// second, for a command that waits after the first (replay, for the
// requests in flight) to stop waiting. Later signals are ignored, as they
// were. stop restores the default handling.
func interrupts(sigs ...os.Signal) (context.Context, func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	again, done := make(chan struct{}), make(chan struct{})
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), againKey{}, (<-chan struct{})(again)))
	go func() {
		for _, f := range []func(){cancel, func() { close(again) }} {
			select {
			case <-ch:
				f()
			case <-done:
				return
			}
		}
	}()
	return ctx, sync.OnceFunc(func() { signal.Stop(ch); close(done); cancel() })
}

type againKey struct{}

// againInterrupt is the channel that closes at a second interrupt, nil
// (never closes) for a context that did not come from interrupts.
func againInterrupt(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(againKey{}).(<-chan struct{})
	return ch
}

// Exit codes, documented in the README.
const (
	exitOK          = 0
	exitFailed      = 1 // a gate failed, or the work failed at run time
	exitUsage       = 2 // wrong flags or arguments, unreadable or foreign input
	exitInterrupted = 130
)

// usageError is a mistake the user must fix in the command line or its
// input files, rather than run again: exit 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf is a usage error.
func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// badInput marks err as the user's input (a usage error); nil stays nil.
func badInput(err error) error {
	if err == nil {
		return nil
	}
	return &usageError{err}
}

// exitCode is the one place that maps what went wrong to the exit code.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, errGatesFailed):
		return exitFailed
	default:
		return exitFailed
	}
}

// isPathError tells whether err is about input files that could not be
// opened or that do not exist: the user's input, not a failure at run time.
func isPathError(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) || errors.Is(err, record.ErrNoFiles)
}
