package record

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/poll"
)

// TestProxyUpstreamResetsMidResponse: the upstream promises 1000 bytes, sends
// 100 and closes the connection. Through the proxy the client sees what it
// sees directly (the status, the 100 bytes, then an unexpected EOF), and the
// exchange is recorded with the part that came and the error.
func TestProxyUpstreamResetsMidResponse(t *testing.T) {
	part := bytes.Repeat([]byte("x"), 100)
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n%s", part)
		buf.Flush()
	})
	rg := newRig(t, upstream, ProxyOptions{}, SinkOptions{})
	get := func(base string) (int, []byte, error) {
		res, err := http.Get(base + "/reset")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		return res.StatusCode, body, err
	}
	dStatus, dBody, dErr := get(rg.upstream.URL)
	pStatus, pBody, pErr := get(rg.front.URL)
	if dStatus != 200 || !bytes.Equal(dBody, part) || !errors.Is(dErr, io.ErrUnexpectedEOF) {
		t.Fatalf("direct: %d, %d bytes, %v", dStatus, len(dBody), dErr)
	}
	if pStatus != dStatus || !bytes.Equal(pBody, dBody) || !errors.Is(pErr, io.ErrUnexpectedEOF) {
		t.Errorf("proxied: %d, %d bytes, %v; direct: %d, %d bytes, %v", pStatus, len(pBody), pErr, dStatus, len(dBody), dErr)
	}
	x := rg.rows(1)[0]
	if x.Status != 200 || !bytes.Equal(x.ResponseBody, part) || x.ResponseBodySize != 100 ||
		!strings.HasPrefix(x.Error, "upstream body: ") || !strings.Contains(x.Error, "unexpected EOF") {
		t.Errorf("row: status %d, body %d bytes (size %d), error %q", x.Status, len(x.ResponseBody), x.ResponseBodySize, x.Error)
	}
}

// lockedBuffer is a log destination shared by the sink and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// mountTinyDisk mounts a 1 MiB tmpfs, or skips the test where the machine
// does not allow it (not root, no mount privilege).
func mountTinyDisk(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		t.Skip("a real full disk needs a tmpfs mount (root); the injected failures are tested in TestDiskFailureDropsAndRecovers")
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("mount tmpfs: %v (the injected failures are tested in TestDiskFailureDropsAndRecovers)", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestRecordingOnARealFullDisk fills a real (tmpfs) disk: the proxy keeps
// answering, the rows are dropped and counted, the failure is logged once,
// and recording resumes by itself once space is freed.
func TestRecordingOnARealFullDisk(t *testing.T) {
	disk := mountTinyDisk(t)
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(bytes.Repeat([]byte("y"), 2000)) })
	rg := newRigIn(t, filepath.Join(disk, "rec"), upstream, SinkOptions{RotateInterval: 50 * time.Millisecond, Logger: logger})

	// Fill the disk, leaving less than one row's worth.
	filler := filepath.Join(disk, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := f.Write(make([]byte, 512)); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()

	get := func() {
		t.Helper()
		res := do(t, http.DefaultClient, mustRequest(t, "GET", rg.front.URL+"/full"))
		if res.status != 200 || len(res.body) != 2000 {
			t.Fatalf("proxy answered %d, %d bytes while the disk was full", res.status, len(res.body))
		}
	}
	const full, after = 20, 5
	for range full {
		get()
	}
	poll.Until(t, func() bool {
		st := rg.sink.Stats()
		return st.Dropped[DropWriteError] == full && st.Pending == 0
	})
	if n := strings.Count(logs.String(), "recording failed"); n != 1 {
		t.Errorf("disk error logged %d times, want once per interval:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "no space left on device") {
		t.Errorf("log does not say why:\n%s", logs.String())
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for range after {
		get()
	}
	poll.Until(t, func() bool { return rg.sink.Stats().Recorded == after })
	// logged right after the count: wait for it (fails after poll.Deadline)
	poll.Until(t, func() bool { return strings.Contains(logs.String(), "recording resumed") })
	rows := rg.rows(full + after)
	st := rg.sink.Stats()
	checkBalanced(t, st)
	if len(rows) != after || st.Dropped[DropWriteError] != full {
		t.Errorf("%d rows read back, stats %+v", len(rows), st)
	}
	if left, _ := filepath.Glob(filepath.Join(rg.dir, "*.partial")); len(left) != 0 {
		t.Errorf("left %v", left)
	}
}

// newRigIn is newRig with the recordings in dir.
func newRigIn(t *testing.T, dir string, upstream http.Handler, sopts SinkOptions) *rig {
	t.Helper()
	r := &rig{t: t, dir: dir}
	r.upstream = httptest.NewServer(upstream)
	t.Cleanup(r.upstream.Close)
	sopts.Dir, sopts.Instance = dir, "test"
	sink, err := NewSink(sopts)
	if err != nil {
		t.Fatal(err)
	}
	r.sink = sink
	t.Cleanup(func() { _ = sink.Close(context.Background()) })
	u, _ := url.Parse(r.upstream.URL)
	p, err := NewProxy(ProxyOptions{Upstream: u, Sample: 1, MaxBody: 4 << 20, Redact: RedactSet(DefaultRedact), Instance: "test", Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	r.proxy = p
	r.front = httptest.NewServer(p)
	t.Cleanup(r.front.Close)
	t.Cleanup(p.Close)
	return r
}
