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
	"syscall"

	"github.com/shadowctl/shadowctl/record"
)

// version is set by the Makefile: -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// SIGHUP (the terminal closed) stops as SIGTERM does: a recorder started
	// from a shell finalizes its files rather than dying with them open.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	err := newRootCmd(os.Stdin, os.Stdout, os.Stderr).ExecuteContext(ctx)
	stopCPUProfile()
	stop()
	if err != nil && err.Error() != "" {
		fmt.Fprintln(os.Stderr, "shadowctl:", err)
	}
	os.Exit(exitCode(err))
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
