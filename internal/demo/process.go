package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Runner starts and runs the commands of the flow. It echoes each command
// as a shell line before running it, so a user can repeat any step by hand.
type Runner struct {
	// Echo receives "$ command args" lines; nil echoes nothing.
	Echo io.Writer
	// Logs is the folder where background processes write their output,
	// one NAME.log each (created if missing).
	Logs string
	// StartTimeout bounds how long a background process may take to say it
	// is ready (default 30s); StopTimeout how long it may take to exit after
	// SIGTERM before it is killed (default 15s).
	StartTimeout, StopTimeout time.Duration
}

func (r *Runner) startTimeout() time.Duration {
	if r.StartTimeout > 0 {
		return r.StartTimeout
	}
	return 30 * time.Second
}

func (r *Runner) stopTimeout() time.Duration {
	if r.StopTimeout > 0 {
		return r.StopTimeout
	}
	return 15 * time.Second
}

func (r *Runner) echo(background bool, bin string, args []string) {
	if r.Echo == nil {
		return
	}
	line := "$ " + ShellQuote(append([]string{bin}, args...))
	if background {
		line += " &"
	}
	fmt.Fprintln(r.Echo, line)
}

// ShellQuote joins args into one POSIX shell line, quoting where needed.
func ShellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.IndexFunc(a, func(c rune) bool {
			return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./:=,+@%", c))
		}) < 0 {
			q[i] = a
			continue
		}
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// Process is a background process of the flow (a model server, the
// recorder). Its owner must call Stop, also on error paths.
type Process struct {
	// Name names the process in messages and its log file.
	Name string
	// URL is what the process announced, e.g. "http://127.0.0.1:41234".
	URL string

	cmd     *exec.Cmd
	out     *watcher
	log     *os.File
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done
	stopT   time.Duration
	stop    sync.Once
}

// Start starts bin in the background, its output going to Logs/NAME.log,
// and waits until a line of its stdout or stderr matches ready, whose first
// submatch becomes p.URL. If the process exits first, or does not get ready
// within StartTimeout, or ctx is done, it is stopped and an error returned
// with the end of its output.
func (r *Runner) Start(ctx context.Context, name string, ready *regexp.Regexp, bin string, args ...string) (*Process, error) {
	if err := os.MkdirAll(r.Logs, 0o755); err != nil {
		return nil, fmt.Errorf("start %s: logs folder: %w", name, err)
	}
	logPath := filepath.Join(r.Logs, name+".log")
	log, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	r.echo(true, bin, args)
	p := &Process{
		Name:  name,
		cmd:   exec.Command(bin, args...),
		out:   newWatcher(log, ready),
		log:   log,
		done:  make(chan struct{}),
		stopT: r.stopTimeout(),
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// A process of its own group does not get the terminal's Ctrl-C: the
	// flow stops it in order, with SIGTERM.
	ownGroup(p.cmd)
	p.cmd.WaitDelay = p.stopT
	if err := p.cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		p.log.Close()
		close(p.done)
	}()

	timer := time.NewTimer(r.startTimeout())
	defer timer.Stop()
	select {
	case url := <-p.out.found:
		p.URL = url
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("start %s: exited before it was ready (%v); see %s:\n%s", name, p.waitErr, logPath, p.Tail())
	case <-timer.C:
		_ = p.Stop()
		return nil, fmt.Errorf("start %s: not ready after %v; see %s:\n%s", name, r.startTimeout(), logPath, p.Tail())
	case <-ctx.Done():
		_ = p.Stop()
		return nil, fmt.Errorf("start %s: %w", name, ctx.Err())
	}
}

// Stop asks the process to stop with SIGTERM, kills it (and its group) if
// it has not exited within StopTimeout, and waits for it. It returns nil
// when the process exited with status 0. Calling Stop again returns the
// same outcome.
func (p *Process) Stop() error {
	p.stop.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = terminate(p.cmd)
		t := time.NewTimer(p.stopT)
		defer t.Stop()
		select {
		case <-p.done:
		case <-t.C:
			_ = kill(p.cmd)
			<-p.done
		}
	})
	<-p.done
	if p.waitErr != nil {
		return fmt.Errorf("%s: %w", p.Name, p.waitErr)
	}
	return nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Tail is the end of the process's output.
func (p *Process) Tail() string { return strings.Join(p.out.lines(), "\n") }

// LastLine is the last line of output matching re, or "".
func (p *Process) LastLine(re *regexp.Regexp) string {
	lines := p.out.lines()
	for i := len(lines) - 1; i >= 0; i-- {
		if re.MatchString(lines[i]) {
			return lines[i]
		}
	}
	return ""
}

// Run runs bin in the foreground with the given stdout and stderr (pass
// os.Stderr itself for a child to see the terminal and draw progress bars)
// and waits for it. When ctx is done the process gets SIGTERM, and is
// killed after StopTimeout. ExitCode tells the status of the error.
func (r *Runner) Run(ctx context.Context, stdout, stderr io.Writer, bin string, args ...string) error {
	r.echo(false, bin, args)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	ownGroup(cmd)
	cmd.Cancel = func() error { return terminate(cmd) }
	cmd.WaitDelay = r.stopTimeout()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", ShellQuote(append([]string{filepath.Base(bin)}, args[:min(1, len(args))]...)), err)
	}
	return nil
}

// RunToFile is Run with stdout written to the file at path, echoed as a
// shell redirection.
func (r *Runner) RunToFile(ctx context.Context, path string, stderr io.Writer, bin string, args ...string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	quiet := *r
	quiet.Echo = nil
	if r.Echo != nil {
		fmt.Fprintf(r.Echo, "$ %s > %s\n", ShellQuote(append([]string{bin}, args...)), ShellQuote([]string{path}))
	}
	err = quiet.Run(ctx, f, stderr, bin, args...)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write %s: %w", path, cerr)
	}
	return err
}

// ExitCode is the exit status carried by err: 0 for nil, -1 when the
// process did not exit normally (or err is not about a process).
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return ee.ExitCode()
	}
	return -1
}

// tailLines is how many last lines of output a watcher keeps.
const tailLines = 40

// watcher copies a process's output to its log, keeps the last lines, and
// reports the first submatch of the first line matching ready.
type watcher struct {
	mu      sync.Mutex
	w       io.Writer
	ready   *regexp.Regexp
	found   chan string // buffered: gets at most one value
	sent    bool
	partial []byte
	tail    []string
}

func newWatcher(w io.Writer, ready *regexp.Regexp) *watcher {
	return &watcher{w: w, ready: ready, found: make(chan string, 1)}
}

func (w *watcher) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// A log that cannot be written must not stop the process: its lines
	// are still watched.
	_, _ = w.w.Write(b)
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(w.partial[:i]), "\r")
		w.partial = w.partial[i+1:]
		if len(w.tail) == tailLines {
			w.tail = w.tail[1:]
		}
		w.tail = append(w.tail, line)
		if !w.sent && w.ready != nil {
			if m := w.ready.FindStringSubmatch(line); m != nil {
				w.sent = true
				w.found <- m[len(m)-1]
			}
		}
	}
	return len(b), nil
}

func (w *watcher) lines() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := append([]string(nil), w.tail...)
	if len(w.partial) > 0 {
		out = append(out, string(w.partial))
	}
	return out
}
