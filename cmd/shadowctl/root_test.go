package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Exit codes are decided in one place, exitCode, from the kind of error.
func TestExitCodeByKind(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"none", nil, exitOK},
		{"usage", usageErrorf("--x: bad"), exitUsage},
		{"bad input, wrapped", fmt.Errorf("read: %w", badInput(errors.New("not parquet"))), exitUsage},
		{"interrupted", fmt.Errorf("replay: %w", context.Canceled), exitInterrupted},
		{"interrupted while reading input", badInput(context.Canceled), exitInterrupted},
		{"gates failed", fmt.Errorf("%w: a > 1", errGatesFailed), exitFailed},
		{"run time", errors.New("disk full"), exitFailed},
	}
	for _, tc := range cases {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("%s: exitCode(%v) = %d, want %d", tc.name, tc.err, got, tc.want)
		}
	}
	if badInput(nil) != nil {
		t.Error("badInput(nil) is not nil")
	}
}

// An unknown command is a usage error from the root's own check, with a
// suggestion when one is close, not cobra's untyped error.
func TestUnknownCommandIsAUsageError(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"replya"}, `unknown command "replya"; did you mean "replay"?`},
		{[]string{"frobnicate"}, `unknown command "frobnicate" (see 'shadowctl --help')`},
		{[]string{"--bogus"}, "unknown flag: --bogus"},
	}
	for _, tc := range cases {
		_, stderr, code := runCLI(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	if out, _, code := runCLI(t); code != exitOK || !strings.Contains(out, "Usage:") {
		t.Errorf("no arguments: exit %d, want 0 and the help", code)
	}
}
