package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/shadowctl/shadowctl/internal/parquetfile"
	"github.com/shadowctl/shadowctl/internal/poll"
	"github.com/shadowctl/shadowctl/internal/s3test"
	"github.com/shadowctl/shadowctl/record"
)

// stallingProxy stands between the recorder and the S3 server: while
// stalled, it holds every upload (PUT) until released, so a test can kill
// the recorder in the middle of one.
type stallingProxy struct {
	*httptest.Server
	mu      sync.Mutex
	stalled bool
	release chan struct{}
	held    chan struct{} // gets a value for each upload held
}

func newStallingProxy(t *testing.T, endpoint string) *stallingProxy {
	u, _ := url.Parse(endpoint)
	p := &stallingProxy{stalled: true, release: make(chan struct{}), held: make(chan struct{}, 100)}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		stalled := p.stalled
		p.mu.Unlock()
		if stalled && r.Method == http.MethodPut {
			p.held <- struct{}{}
			select {
			case <-p.release:
			case <-r.Context().Done():
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *stallingProxy) unstall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled {
		p.stalled = false
		close(p.release)
	}
}

// spoolRows counts the rows of the finished files in the spool folders of
// what (recordings, shadow), one per destination, from their footers.
func spoolRows(spool, what string) int64 {
	files, _ := filepath.Glob(filepath.Join(spool, what, "*", "*.parquet"))
	var n int64
	for _, f := range files {
		r, err := parquetfile.Open[record.Exchange](f, record.Schema)
		if err != nil {
			continue
		}
		n += r.NumRows()
		r.Close()
	}
	return n
}

// TestRecordToBucketSurvivesSIGKILLMidUpload records to a real S3 server
// (versitygw) through a proxy that holds the uploads, SIGKILLs the recorder
// while an upload is held, restarts it on the same spool folder, records
// more, stops it, then replays and reports from the bucket: every exchange
// answered is there exactly once, and the spool folder is empty.
func TestRecordToBucketSurvivesSIGKILLMidUpload(t *testing.T) {
	s := s3test.Start(t)
	bin := buildBinary(t)
	s.Bucket(t, "rec", "")
	proxy := newStallingProxy(t, s.Endpoint)
	out := fmt.Sprintf("s3://rec/day1?endpoint=%s&region=%s&use_path_style=true", proxy.URL, s3test.Region)
	direct := s.URL("rec", "day1")
	model := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, `{"predictions":["%s"]}`, r.URL.RawQuery)
	}))
	defer model.Close()
	spool := t.TempDir()
	args := []string{"--upstream", model.URL, "--listen", "127.0.0.1:0", "--admin", "", "--out", out, "--spool", spool,
		"--rotate-interval", "200ms", "--instance", "r1"}
	send := func(addr string, from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			resp, err := http.Post(fmt.Sprintf("%s/v1/predict?i=%d", addr, i), "application/json", strings.NewReader(`{"x":1}`))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("request %d: status %d", i, resp.StatusCode)
			}
		}
	}

	p := startRecorder(t, bin, args...)
	const first, second = 150, 100
	send(p.addr, 0, first)
	// Every answered exchange in finished files of the spool, and an upload
	// held in flight: then the kill lands mid-upload, with nothing else
	// at stake.
	poll.Until(t, func() bool { return spoolRows(spool, "recordings") == first })
	select {
	case <-proxy.held:
	case <-t.Context().Done():
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	if m, _ := filepath.Glob(filepath.Join(s.Root, "rec", "day1", "*.parquet")); len(m) != 0 {
		t.Fatalf("objects in the bucket before any upload completed: %v", m)
	}

	proxy.unstall()
	p = startRecorder(t, bin, args...)
	send(p.addr, first, first+second)
	p.stop(t)
	if !strings.Contains(p.stderr(), "left in") || !strings.Contains(p.stderr(), ", 0 left in") {
		t.Errorf("summary does not say every file was uploaded:\n%s", p.stderr())
	}
	if left, _ := filepath.Glob(filepath.Join(spool, "recordings", "*", "*.parquet*")); len(left) != 0 {
		t.Errorf("files left in the spool folder: %v", left)
	}
	if strings.Contains(p.stderr(), s3test.SecretKey) {
		t.Errorf("the secret key is in the recorder's log")
	}

	seen, skipped := readRecordings(t, direct)
	if len(skipped) != 0 {
		t.Errorf("in-progress objects in the bucket: %v", skipped)
	}
	for i := range first + second {
		if n := seen[fmt.Sprintf("/v1/predict?i=%d", i)]; n != 1 {
			t.Errorf("exchange %d is %d times in the bucket, want once", i, n)
		}
	}
	if len(seen) != first+second {
		t.Errorf("%d distinct exchanges in the bucket, want %d", len(seen), first+second)
	}

	// Replay from the bucket to the bucket, report from the bucket.
	results := s.URL("rec", "results/r.parquet")
	runBin(t, bin, s, "replay", "--target", model.URL, "--out", results, direct)
	rep := runBin(t, bin, s, "report", "--format", "json", s.URL("rec", "results/"))
	if !strings.Contains(rep, fmt.Sprintf(`"exchanges": %d`, first+second)) {
		t.Errorf("report from the bucket:\n%s", rep)
	}
	if !strings.Contains(rep, `"agreed": 250`) {
		t.Errorf("report: want all 250 agreeing (the model answers the same):\n%s", rep)
	}
}

func runBin(t *testing.T, bin string, s *s3test.Server, args ...string) string {
	t.Helper()
	out, stderr, err := runWithEnv(bin, s.Env(), args...)
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, stderr)
	}
	return out
}

func runWithEnv(bin string, env []string, args ...string) (string, string, error) {
	var stdout, stderr strings.Builder
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}
