package record

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/poll"
)

func newTestRecorder(t *testing.T, upstream string, listen string, drained func() error) (*Recorder, string) {
	t.Helper()
	u, _ := url.Parse(upstream)
	dir := t.TempDir()
	rec, err := NewRecorder(RecorderOptions{
		Listen:            listen,
		Admin:             "127.0.0.1:0",
		ReadHeaderTimeout: 5 * time.Second,
		MaxHeaderBytes:    1 << 20,
		DrainTimeout:      5 * time.Second,
		Proxy:             ProxyOptions{Upstream: u, MaxBody: 1 << 20, Sample: 1, Redact: RedactSet(DefaultRedact), Instance: "t"},
		Sink:              SinkOptions{Dir: dir, Instance: "t"},
		Drained:           drained,
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec, dir
}

// stopRun cancels a Recorder's Run and waits for it to return, without
// error, within 10 s.
func stopRun(t *testing.T, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// The recorder's whole lifecycle in process: it serves and records, is
// ready while it runs, and on cancel drains, finalizes and reports.
func TestRecorderRunsAndDrains(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.URL.Path, b)
	}))
	defer up.Close()
	var rec *Recorder
	drainedAt := int64(-1) // files written when Drained ran
	rec, dir := newTestRecorder(t, up.URL, "127.0.0.1:0", func() error {
		drainedAt = rec.Stats().FilesWritten
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rec.Run(ctx) }()

	admin := "http://" + rec.AdminAddr().String()
	poll.Until(t, func() bool {
		res, err := http.Get(admin + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
	const n = 20
	for i := range n {
		res, err := http.Post(fmt.Sprintf("http://%s/p/%d", rec.Addr(), i), "text/plain", strings.NewReader("b"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if want := fmt.Sprintf("/p/%d b", i); string(b) != want {
			t.Fatalf("request %d: got %q, want %q", i, b, want)
		}
	}
	stopRun(t, cancel, done)
	if st := rec.Stats(); st.Recorded != n || st.FilesWritten != 1 {
		t.Fatalf("stats %+v, want %d recorded in 1 file", st, n)
	}
	if drainedAt != 0 {
		t.Errorf("Drained ran with %d files finalized, want it to run once, before the last file", drainedAt)
	}
	rd, err := Open([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	got := 0
	for {
		_, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got++
	}
	if got != n {
		t.Fatalf("read back %d rows, want %d", got, n)
	}
}

// A taken port is a ListenError naming the address, and nothing stays open.
func TestNewRecorderReportsATakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	u, _ := url.Parse("http://127.0.0.1:1")
	_, err = NewRecorder(RecorderOptions{
		Listen: ln.Addr().String(), DrainTimeout: time.Second,
		Proxy: ProxyOptions{Upstream: u, Sample: 1},
		Sink:  SinkOptions{Dir: t.TempDir(), Instance: "t"},
	})
	var le *ListenError
	if !errors.As(err, &le) || le.Admin || le.Addr != ln.Addr().String() {
		t.Fatalf("got %v, want a ListenError for %s", err, ln.Addr())
	}
}

// Exchanges still in flight at the drain timeout are cut, and each is
// recorded with its error before the last file is finalized: they used to
// end after the sink had closed, neither recorded nor counted as dropped,
// so the summary missed them (recorded 0, dropped 0 in three runs of four).
func TestRecorderRecordsRequestsCutAtTheDrainTimeout(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select { // an upstream slower than the drain
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer func() {
		close(release)
		up.Close()
	}()
	u, _ := url.Parse(up.URL)
	logs := &lockedBuffer{}
	rec, err := NewRecorder(RecorderOptions{
		Listen: "127.0.0.1:0", ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 1 << 20,
		DrainTimeout: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Proxy: ProxyOptions{Upstream: u, MaxBody: 1 << 20, Sample: 1, Instance: "t"},
		Sink:  SinkOptions{Dir: t.TempDir(), Instance: "t"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rec.Run(ctx) }()
	const n = 3
	for i := range n {
		go func() {
			res, err := http.Post(fmt.Sprintf("http://%s/slow/%d", rec.Addr(), i), "text/plain", strings.NewReader("b"))
			if err == nil {
				res.Body.Close()
			}
		}()
	}
	poll.Until(t, func() bool { return rec.proxy.Active() == n })
	stopRun(t, cancel, done)
	if st := rec.Stats(); st.Recorded+st.DroppedTotal() != n || st.Recorded != n {
		t.Fatalf("stats %+v: want the %d cut exchanges recorded", st, n)
	}
	// The warning says how many were cut, and that they all ended.
	if got := logs.String(); !strings.Contains(got, "in-flight requests cut at the drain timeout") ||
		!strings.Contains(got, fmt.Sprintf("requests=%d all_ended=true", n)) {
		t.Errorf("log = %q, want the count of requests cut", got)
	}
}
