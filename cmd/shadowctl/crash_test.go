package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/poll"
	"github.com/shadowctl/shadowctl/record"
)

// recorderProc is a running `shadowctl record` and its stderr lines.
type recorderProc struct {
	cmd   *exec.Cmd
	addr  string
	lines chan string // stderr, closed at EOF
	mu    sync.Mutex
	all   []string // every stderr line so far
}

var listeningLine = regexp.MustCompile(`^recording (http://127\.0\.0\.1:\d+) -> `)

// startRecorder runs the binary with args and waits for its listening line.
func startRecorder(t *testing.T, bin string, args ...string) *recorderProc {
	t.Helper()
	p := &recorderProc{cmd: exec.Command(bin, append([]string{"record"}, args...)...), lines: make(chan string, 1024)}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() })
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.all = append(p.all, sc.Text())
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default: // nobody waits for lines any more; all keeps them
			}
		}
	}()
	deadline := time.After(30 * time.Second)
	for p.addr == "" {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("recorder exited before listening: %s", p.stderr())
			}
			if m := listeningLine.FindStringSubmatch(l); m != nil {
				p.addr = m[1]
			}
		case <-deadline:
			t.Fatalf("recorder did not listen within 30s: %s", p.stderr())
		}
	}
	return p
}

var adminLine = regexp.MustCompile(`admin endpoints"? addr=(http://127\.0\.0\.1:\d+)`)

// admin waits for the admin endpoints' line (--admin 127.0.0.1:0) and
// returns their base URL.
func (p *recorderProc) admin(t *testing.T) string {
	t.Helper()
	var admin string
	poll.Until(t, func() bool {
		m := adminLine.FindStringSubmatch(p.stderr())
		if m != nil {
			admin = m[1]
		}
		return m != nil
	})
	return admin
}

func (p *recorderProc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.all, "\n")
}

// stop sends SIGTERM and waits for the process to exit.
func (p *recorderProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range p.lines {
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("recorder exit: %v\n%s", err, p.stderr())
	}
}

// readRecordings reads every row of dir with record.Open, by path.
func readRecordings(t *testing.T, dir string) (map[string]int, []string) {
	t.Helper()
	r, err := record.Open([]string{dir})
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	defer r.Close()
	seen := map[string]int{}
	for {
		x, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read %s: %v", dir, err)
		}
		seen[x.Path]++
	}
	return seen, r.Skipped()
}

// TestRecorderSurvivesSIGKILL kills the real recorder under load and counts
// what the recording kept against what the clients were answered: every
// exchange answered more than 1.5 s before the kill survives (the log is
// synced every second), once, and nothing the clients never sent appears.
func TestRecorderSurvivesSIGKILL(t *testing.T) {
	bin := buildBinary(t)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"echo":%q}`, b)
	}))
	defer upstream.Close()
	dir := filepath.Join(t.TempDir(), "rec")
	// A small rotation size, so the kill finds finished files, a file being
	// written and its log.
	p := startRecorder(t, bin, "--listen", "127.0.0.1:0", "--admin", "", "--upstream", upstream.URL,
		"--out", dir, "--instance", "crash", "--rotate-size", "256KiB")

	const clients, perClient = 4, 20000
	type answer struct {
		path string
		at   time.Time
	}
	var (
		mu       sync.Mutex
		sent     = map[string]bool{}
		answered []answer
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer client.CloseIdleConnections()
	for c := range clients {
		wg.Go(func() {
			for i := range perClient {
				select {
				case <-stop:
					return
				default:
				}
				path := fmt.Sprintf("/predict?id=%d-%d", c, i)
				mu.Lock()
				sent[path] = true
				mu.Unlock()
				res, err := client.Post(p.addr+path, "application/json", strings.NewReader(fmt.Sprintf(`{"c":%d,"i":%d}`, c, i)))
				if err != nil {
					return // the recorder is gone
				}
				_, err = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if err != nil || res.StatusCode != 200 {
					return
				}
				mu.Lock()
				answered = append(answered, answer{path, time.Now()})
				mu.Unlock()
			}
		})
	}
	// Load for a while, then kill while the clients keep sending, at a
	// moment a log is there: a rotation closes the file's log, and the
	// next file's opens with its first batch, a few ms later.
	<-time.After(3 * time.Second)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if logs, _ := filepath.Glob(filepath.Join(dir, "*"+record.WALSuffix)); len(logs) > 0 {
			break
		}
		time.Sleep(100 * time.Microsecond)
	}
	killedAt := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(answered) < 100 {
		t.Fatalf("only %d exchanges answered before the kill: load too light to test anything", len(answered))
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "*"+record.WALSuffix))
	if len(leftovers) == 0 {
		t.Fatalf("no write-ahead log left by the kill; files: %v", listDir(t, dir))
	}

	check := func(stage string, seen map[string]int, wantAll bool) {
		t.Helper()
		for path, n := range seen {
			if n != 1 {
				t.Errorf("%s: %s recorded %d times", stage, path, n)
			}
			if !sent[path] {
				t.Errorf("%s: %s recorded but never sent", stage, path)
			}
		}
		if !wantAll {
			t.Logf("%s: %d recorded", stage, len(seen))
			return
		}
		var missing, safe int
		for _, a := range answered {
			if killedAt.Sub(a.at) > 1500*time.Millisecond {
				safe++
				if seen[a.path] == 0 {
					missing++
					if missing <= 5 {
						t.Errorf("%s: %s answered %v before the kill but not recorded", stage, a.path, killedAt.Sub(a.at))
					}
				}
			}
		}
		if missing > 0 {
			t.Errorf("%s: %d of %d exchanges answered more than 1.5s before the kill are missing", stage, missing, safe)
		}
		t.Logf("%s: %d sent, %d answered (%d more than 1.5s before the kill), %d recorded",
			stage, len(sent), len(answered), safe, len(seen))
	}

	// Before recovery a reader sees the finished files only: it skips the
	// partial file and ignores the log.
	// (The kill may also fall between a file's rename into place and the
	// removal of its log: then there is no partial file, and recovery
	// only removes the log.)
	partials, _ := filepath.Glob(filepath.Join(dir, "*.partial"))
	before, skipped := readRecordings(t, dir)
	check("before recovery", before, false)
	if len(skipped) != len(partials) {
		t.Errorf("reader before recovery skipped %v, want the partial files %v; files: %v", skipped, partials, listDir(t, dir))
	}

	// A second recorder on the same folder recovers the leftovers before it
	// serves, and says so.
	p2 := startRecorder(t, bin, "--listen", "127.0.0.1:0", "--admin", "", "--upstream", upstream.URL,
		"--out", dir, "--instance", "crash2", "--log-level", "info")
	p2.stop(t)
	if !strings.Contains(p2.stderr(), "recovered recording") {
		t.Errorf("second recorder did not report the recovery:\n%s", p2.stderr())
	}
	after, skipped := readRecordings(t, dir)
	if len(skipped) != 0 {
		t.Errorf("after recovery, partial files remain: %v", skipped)
	}
	check("after recovery", after, true)
	if rest, _ := filepath.Glob(filepath.Join(dir, "*"+record.WALSuffix)); len(rest) != 0 {
		t.Errorf("logs left after recovery: %v", rest)
	}
	if len(after) < len(before) {
		t.Errorf("recovery lost rows: %d before, %d after", len(before), len(after))
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		return []string{err.Error()}
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
