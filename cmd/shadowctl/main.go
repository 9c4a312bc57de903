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
	"strings"

	"github.com/shadowctl/shadowctl/internal/parquetfile"
	"syscall"
)

// version is set by the Makefile: -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRootCmd(os.Stdin, os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	os.Exit(exitCode(err))
}

// Exit codes, documented in the README.
const (
	exitOK          = 0
	exitFailed      = 1 // a gate failed, or the work failed at run time
	exitUsage       = 2 // wrong flags or arguments, unreadable or foreign input
	exitInterrupted = 130
)

// exitError carries the exit code of an error up to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withCode marks err with an exit code.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// usageErrorf is a usage error: exit 2.
func usageErrorf(format string, args ...any) error {
	return withCode(exitUsage, fmt.Errorf(format, args...))
}

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(os.Stderr, "shadowctl:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "shadowctl:", err)
	// cobra reports an unknown subcommand before any of ours runs.
	if strings.HasPrefix(err.Error(), "unknown command") {
		return exitUsage
	}
	if errors.Is(err, context.Canceled) {
		return exitInterrupted
	}
	return exitFailed
}

// isPathError tells whether err is about input files that could not be
// opened or that do not exist: the user's input, not a failure at run time.
func isPathError(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) || errors.Is(err, parquetfile.ErrNoFiles)
}
