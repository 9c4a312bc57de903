package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
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
		{[]string{"completion", "tcsh"}, `completion "tcsh": unknown shell; want bash, fish, powershell, zsh`},
		{[]string{"completion"}, "completion: name a shell: bash, fish, powershell, zsh"},
		{[]string{"completion", "fish", "extra"}, `unknown command "extra" for "shadowctl completion fish"`},
		{[]string{"help", "bogus"}, `help: unknown topic "bogus"`},
		{[]string{"help", "record", "extra"}, `help: unknown topic "record extra"`},
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
	if out, _, code := runCLI(t, "completion", "bash"); code != exitOK || !strings.Contains(out, "bash completion") {
		t.Errorf("completion bash: exit %d, want 0 and the script", code)
	}
	if out, _, code := runCLI(t, "help", "replay"); code != exitOK || !strings.Contains(out, "--target") {
		t.Errorf("help replay: exit %d, want 0 and replay's help", code)
	}
}

// --cpuprofile writes a profile pprof reads (gzipped protobuf) whatever
// the command; a path it cannot create is a usage error.
func TestCPUProfileFlag(t *testing.T) {
	dir := t.TempDir()
	writeInspectFixture(t, dir)
	prof := filepath.Join(dir, "cpu.prof")
	_, stderr, code := runCLI(t, "--cpuprofile", prof, "inspect", dir)
	stopCPUProfile()
	if code != exitOK {
		t.Fatalf("inspect --cpuprofile: exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(prof)
	if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("profile %q: %d bytes (%v), want a gzipped profile", prof, len(b), err)
	}
	_, stderr, code = runCLI(t, "--cpuprofile", filepath.Join(dir, "missing", "cpu.prof"), "inspect", dir)
	stopCPUProfile()
	if code != exitUsage || !strings.Contains(stderr, "--cpuprofile") {
		t.Errorf("unwritable --cpuprofile: exit %d, %q; want exit 2 naming the flag", code, stderr)
	}
}

// The recorder sets Go's soft memory limit from its bounds, unless
// GOMEMLIMIT is set.
func TestSetMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	t.Setenv("GOMEMLIMIT", "")
	if limit, set := setMemoryLimit(128<<20, 256<<20); !set || limit != 512<<20 || debug.SetMemoryLimit(-1) != 512<<20 {
		t.Errorf("setMemoryLimit = %d, %v; limit now %d; want 512 MiB set", limit, set, debug.SetMemoryLimit(-1))
	}
	debug.SetMemoryLimit(old)
	t.Setenv("GOMEMLIMIT", "600MiB")
	if _, set := setMemoryLimit(128<<20, 256<<20); set || debug.SetMemoryLimit(-1) != old {
		t.Errorf("with GOMEMLIMIT set, the limit changed to %d", debug.SetMemoryLimit(-1))
	}
}
