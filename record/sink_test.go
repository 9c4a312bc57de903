package record

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/poll"
)

func row(i int, body []byte) *Exchange {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
	return &Exchange{ID: NewID(at), StartedAt: at, Method: "POST", Path: "/p", Status: 200,
		RequestBody: body, ResponseBody: []byte(`{"ok":true}`), Instance: "test"}
}

func finished(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func readDir(t *testing.T, dir string) []Exchange {
	t.Helper()
	r, err := Open([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	return readAll(t, r)
}

func checkBalanced(t *testing.T, st SinkStats) {
	t.Helper()
	if st.Recorded+st.DroppedTotal() != st.Offered || st.Pending != 0 || st.QueueDepth != 0 {
		t.Errorf("after close: offered %d, recorded %d, dropped %v, pending %d, queued %d",
			st.Offered, st.Recorded, st.Dropped, st.Pending, st.QueueDepth)
	}
}

func TestSinkRotatesBySize(t *testing.T) {
	dir := t.TempDir()
	s, err := NewSink(SinkOptions{Dir: dir, Instance: "a", RotateSize: 64 << 10, RotateInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	for i := range n {
		// one row at a time, so each lands in its own batch
		if !s.Offer(row(i, randomBytes(8<<10, uint64(i)))) {
			t.Fatal("dropped")
		}
		poll.Until(t, func() bool { return s.Stats().QueueDepth == 0 })
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	checkBalanced(t, st)
	files := finished(t, dir)
	// 800 KiB of incompressible bodies in 64 KiB files
	if len(files) < 8 || int64(len(files)) != st.FilesWritten || st.Recorded != n {
		t.Errorf("%d files (stats %d), %d recorded", len(files), st.FilesWritten, st.Recorded)
	}
	var size int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		size += fi.Size()
		if fi.Mode().Perm() != 0o600 || !strings.Contains(filepath.Base(f), "-a-") {
			t.Errorf("%s: mode %v", f, fi.Mode())
		}
	}
	if size != st.BytesWritten {
		t.Errorf("files hold %d bytes, stats say %d", size, st.BytesWritten)
	}
	if partial, _ := filepath.Glob(filepath.Join(dir, "*.partial")); len(partial) != 0 {
		t.Errorf("left %v", partial)
	}
	if rows := readDir(t, dir); len(rows) != n || rows[42].RequestBody[0] != randomBytes(1, 42)[0] {
		t.Errorf("read back %d rows", len(rows))
	}
}

func TestSinkRotatesByTime(t *testing.T) {
	dir := t.TempDir()
	var clock atomic.Int64
	clock.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Add(int64(time.Second))).UTC() }
	s, err := NewSink(SinkOptions{Dir: dir, Instance: "b", RotateInterval: 20 * time.Millisecond, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	s.Offer(row(1, []byte("one")))
	// The first file is finalized by its age alone, while the sink runs.
	poll.Until(t, func() bool { return len(finished(t, dir)) == 1 })
	s.Offer(row(2, []byte("two")))
	poll.Until(t, func() bool { return len(finished(t, dir)) == 2 })
	files := finished(t, dir)
	if !strings.HasPrefix(filepath.Base(files[0]), "rec-20260301T120001.000000000Z-b-000000") ||
		!strings.HasPrefix(filepath.Base(files[1]), "rec-20260301T120002.000000000Z-b-000001") {
		t.Errorf("names %v", files)
	}
	if rows := readDir(t, dir); len(rows) != 2 || string(rows[1].RequestBody) != "two" {
		t.Errorf("rows %v", rows)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkBalanced(t, s.Stats())
}

// gatedCreate blocks the writer in create until gate opens. entered (if
// not nil) is told each time the writer gets there: its batch is taken by
// then, so what is offered afterwards waits in the queue.
func gatedCreate(gate <-chan struct{}, entered chan<- struct{}) func(string) (rowFile, error) {
	return func(path string) (rowFile, error) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-gate
		return CreateFile(path)
	}
}

func TestSinkDropsWhenQueueFull(t *testing.T) {
	dir := t.TempDir()
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	s, err := NewSink(SinkOptions{Dir: dir, Instance: "c", Queue: 10, create: gatedCreate(gate, entered)})
	if err != nil {
		t.Fatal(err)
	}
	// The writer takes the first row and sticks on the disk; Offer must
	// still return at once. (Waiting only for an empty queue raced: the
	// writer could still take more rows into its batch before it stuck.)
	s.Offer(row(0, []byte("x")))
	<-entered
	accepted := make(chan int)
	go func() {
		n := 1
		for i := 1; i < 1000; i++ {
			if s.Offer(row(i, []byte("x"))) {
				n++
			}
		}
		accepted <- n
	}()
	var n int
	select {
	case n = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("Offer blocked on a full queue")
	}
	close(gate)
	if n != 11 { // the queue, plus the row the writer holds
		t.Errorf("%d accepted, want 11", n)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	checkBalanced(t, st)
	if st.Recorded != int64(n) || st.Dropped[DropQueueFull] != int64(1000-n) {
		t.Errorf("recorded %d, dropped %v", st.Recorded, st.Dropped)
	}
	if s.Offer(row(0, nil)) || s.Stats().Dropped[DropClosed] != 1 {
		t.Error("offer after close must drop and count")
	}
}

func TestSinkBoundsQueuedBytes(t *testing.T) {
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	s, err := NewSink(SinkOptions{Dir: t.TempDir(), Instance: "d", QueueBytes: 100 << 10, create: gatedCreate(gate, entered)})
	if err != nil {
		t.Fatal(err)
	}
	// The first row is held by the writer, stuck on the disk; its bytes
	// still count until written.
	s.Offer(row(0, make([]byte, 10<<10)))
	<-entered
	n := 1
	for i := 1; i < 50; i++ {
		if s.Offer(row(i, make([]byte, 10<<10))) {
			n++
		}
	}
	close(gate)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n < 8 || n > 11 || s.Stats().Dropped[DropQueueFull] != int64(50-n) {
		t.Errorf("%d accepted of 10 KiB rows under 100 KiB, stats %+v", n, s.Stats())
	}
}

// faultyDisk fails the chosen file operation while broken is set.
type faultyDisk struct {
	broken atomic.Bool
	op     string // "create", "write", "flush" or "close"
}

var errDiskFull = &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}

func (d *faultyDisk) create(path string) (rowFile, error) {
	if d.op == "create" && d.broken.Load() {
		return nil, errDiskFull
	}
	f, err := CreateFile(path)
	if err != nil {
		return nil, err
	}
	return &faultyFile{FileWriter: f, d: d}, nil
}

type faultyFile struct {
	*FileWriter
	d *faultyDisk
}

func (f *faultyFile) fails(op string) bool { return f.d.op == op && f.d.broken.Load() }

func (f *faultyFile) Write(xs []Exchange) error {
	if f.fails("write") {
		return errDiskFull
	}
	return f.FileWriter.Write(xs)
}

func (f *faultyFile) Flush() error {
	if f.fails("flush") {
		return errDiskFull
	}
	return f.FileWriter.Flush()
}

func (f *faultyFile) Close() error {
	if f.fails("close") {
		f.FileWriter.Abort()
		return errDiskFull
	}
	return f.FileWriter.Close()
}

func TestDiskFailureDropsAndRecovers(t *testing.T) {
	for _, op := range []string{"create", "write", "close"} {
		t.Run(op, func(t *testing.T) {
			disk := &faultyDisk{op: op}
			upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
			rg := newRig(t, upstream, ProxyOptions{}, SinkOptions{RotateInterval: 10 * time.Millisecond, create: disk.create})
			get := func() {
				t.Helper()
				if res := do(t, http.DefaultClient, mustRequest(t, "GET", rg.front.URL+"/x")); res.status != 200 || string(res.body) != "ok" {
					t.Fatalf("proxy answered %d %q while the disk failed", res.status, res.body)
				}
			}
			disk.broken.Store(true)
			for range 5 {
				get()
			}
			// close fails only when the file rotates: wait until it did
			poll.Until(t, func() bool { return rg.sink.Stats().Dropped[DropWriteError] == 5 })
			disk.broken.Store(false)
			for range 3 {
				get()
			}
			rows := rg.rows(8)
			st := rg.sink.Stats()
			checkBalanced(t, st)
			if len(rows) != 3 || st.Recorded != 3 || st.Dropped[DropWriteError] != 5 {
				t.Errorf("%d rows, stats %+v", len(rows), st)
			}
			if partial, _ := filepath.Glob(filepath.Join(rg.dir, "*.partial")); len(partial) != 0 {
				t.Errorf("left %v", partial)
			}
		})
	}
}

func TestSinkCloseHonorsContext(t *testing.T) {
	gate := make(chan struct{})
	s, err := NewSink(SinkOptions{Dir: t.TempDir(), Instance: "e", create: gatedCreate(gate, nil)})
	if err != nil {
		t.Fatal(err)
	}
	s.Offer(row(0, nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("close: %v", err)
	}
	close(gate)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkBalanced(t, s.Stats())
}

func TestMetricsAndAdmin(t *testing.T) {
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("ok"))
	})
	m := NewMetrics()
	rg := newRig(t, upstream, ProxyOptions{Metrics: m}, SinkOptions{})
	m.WatchSink(rg.sink)
	var ready atomic.Bool
	admin := AdminHandler(m, ready.Load)
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		admin.ServeHTTP(rec, mustRequest(t, "GET", "http://admin"+path))
		return rec.Code, rec.Body.String()
	}
	if code, _ := get("/readyz"); code != 503 {
		t.Errorf("readyz before ready: %d", code)
	}
	ready.Store(true)
	if code, body := get("/readyz"); code != 200 || body != "ok\n" {
		t.Errorf("readyz: %d %q", code, body)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", code, body)
	}
	for _, p := range []string{"/a", "/b", "/missing"} {
		do(t, http.DefaultClient, mustRequest(t, "GET", rg.front.URL+p))
	}
	rg.rows(3)
	code, body := get("/metrics")
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	for _, want := range []string{
		`shadowctl_record_requests_total{code="200"} 2`,
		`shadowctl_record_requests_total{code="404"} 1`,
		`shadowctl_record_exchanges_recorded_total 3`,
		`shadowctl_record_exchanges_dropped_total{reason="queue_full"} 0`,
		`shadowctl_record_exchanges_dropped_total{reason="write_error"} 0`,
		`shadowctl_record_files_written_total 1`,
		`shadowctl_record_queue_depth 0`,
		`shadowctl_record_upstream_latency_seconds_count 3`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want+"\n") && !strings.Contains(body, want+" ") {
			t.Errorf("metrics lack %q", want)
		}
	}
	if !strings.Contains(body, "shadowctl_record_bytes_written_total ") {
		t.Error("metrics lack bytes written")
	}
}

func TestProxyAnswersWhileTheQueueIsFull(t *testing.T) {
	gate := make(chan struct{})
	defer close(gate)
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	rg := newRig(t, upstream, ProxyOptions{}, SinkOptions{Queue: 2, create: gatedCreate(gate, nil)})
	// The writer is stuck on the disk: every request must still be answered
	// (a blocked Offer would hang this loop), and the overflow counted.
	for range 20 {
		if res := do(t, http.DefaultClient, mustRequest(t, "GET", rg.front.URL+"/x")); res.status != 200 || string(res.body) != "ok" {
			t.Fatalf("got %d %q", res.status, res.body)
		}
	}
	st := rg.sink.Stats()
	if st.Offered != 20 || st.Dropped[DropQueueFull] < 17 {
		t.Errorf("stats %+v, want 20 offered and at least 17 dropped", st)
	}
}

// A folder the process cannot write is refused at start, naming the folder
// and the OS error, instead of dropping every row while the recorder looks
// ready. The cases are ones root cannot write either (tests run as root).
func TestNewSinkRefusesAFolderItCannotWrite(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	type sinkCase struct {
		name, dir, want string
		notWritable     bool
	}
	cases := []sinkCase{
		{"under a regular file", filepath.Join(file, "rec"), "not a directory", false},
		{"under /dev/null", "/dev/null/rec", "not a directory", false},
	}
	if runtime.GOOS == "linux" {
		// procfs and sysfs have no way to create a file, for anyone.
		cases = append(cases, sinkCase{"procfs", "/proc", "not writable", true}, sinkCase{"sysfs", "/sys/kernel", "", false})
	}
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o500)
		cases = append(cases, sinkCase{"read-only folder", ro, "permission denied", true})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSink(SinkOptions{Dir: tc.dir, Instance: "pod-a"})
			if err == nil {
				s.Close(context.Background())
				t.Fatalf("NewSink(%s) started", tc.dir)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.dir) || !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("NewSink(%s) = %q, want one line naming the folder and %q", tc.dir, msg, tc.want)
			}
			if tc.notWritable && !errors.Is(err, ErrNotWritable) {
				t.Errorf("NewSink(%s) = %v, want ErrNotWritable", tc.dir, err)
			}
			if strings.Contains(msg, ".shadowctl-probe") {
				t.Errorf("NewSink(%s) = %q names its probe file", tc.dir, msg)
			}
		})
	}
	// The probe leaves nothing behind in a folder it can write.
	ok := filepath.Join(dir, "new", "rec")
	s, err := NewSink(SinkOptions{Dir: ok, Instance: "pod-a"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close(context.Background())
	if info, err := os.Stat(ok); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("created folder: %v, %v; want mode 0700", info, err)
	}
	if left, _ := os.ReadDir(ok); len(left) != 0 {
		t.Errorf("folder holds %v after an empty run, want nothing", left)
	}
}
