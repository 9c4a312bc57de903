package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/record"
)

// Bounds of TestRecorderMemoryUnderLargeUploads, for the default
// --body-memory of 128MiB and --max-body of 4MiB: at most 128MiB of bodies
// in flight and 128MiB of rows queued, written a few MiB at a time, under
// the soft memory limit the recorder sets from them (384MiB: without it the
// collector let garbage reach twice the live heap, and the peak went past
// 512MiB in two runs of three), leave the peak under 512MiB, with headroom under the 768Mi limit of the
// README's Pod spec. With nothing in flight and the queue drained, what the
// recorder still holds (an open file's buffers, idle connections) is a few
// tens of MiB.
const (
	peakRSSBound  = 512 << 20
	idleHeapBound = 64 << 20
)

// TestRecorderMemoryUnderLargeUploads sends 100 concurrent 4MiB chunked
// uploads through the real recorder and bounds its resident memory: the
// peak (VmHWM, which also covers the sink writing the rows afterwards), and
// the live heap once the load is over and the sink idle, after two forced
// collections (the second empties sync.Pools), so only what something
// still references counts.
func TestRecorderMemoryUnderLargeUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("drives 400MiB through the recorder")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads the recorder's memory from /proc")
	}
	const (
		clients  = 100
		bodySize = 4 << 20
	)
	bin := buildBinary(t)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil || n != bodySize {
			http.Error(w, fmt.Sprintf("read %d bytes: %v", n, err), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	defer upstream.Close()
	dir := filepath.Join(t.TempDir(), "rec")
	p := startRecorder(t, bin, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--pprof",
		"--upstream", upstream.URL, "--out", dir, "--instance", "mem")
	admin := p.admin(t)
	pid := p.cmd.Process.Pid
	_, startHWM := procMemory(t, pid)

	// Text that compresses about as well as JSON does, so the file stays
	// open (under --rotate-size) after the load, as it would in production.
	block := make([]byte, 64<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = `abcdefghijklmnopqrstuvwxyz0123456789 ,:"{}[]`
	for i := range block {
		block[i] = alphabet[rng.IntN(len(alphabet))]
	}

	tr := &http.Transport{MaxIdleConnsPerHost: clients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for i := range clients {
		wg.Go(func() {
			req, err := http.NewRequest("POST", fmt.Sprintf("%s/v1/models/m:predict?i=%d", p.addr, i),
				&repeatReader{block: block, left: bodySize})
			if err != nil {
				panic(err)
			}
			req.ContentLength = -1 // chunked
			req.Header.Set("Content-Type", "application/json")
			res, err := client.Do(req)
			if err == nil {
				var b []byte
				b, err = io.ReadAll(res.Body)
				res.Body.Close()
				if err == nil && (res.StatusCode != 200 || string(b) != `{"ok":true}`) {
					err = fmt.Errorf("got %d %q", res.StatusCode, b)
				}
			}
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
		})
	}
	wg.Wait()
	loaded := time.Since(start)
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d uploads failed, first: %v", n, clients, firstErr.Load())
	}
	doneRSS, _ := procMemory(t, pid)

	// The sink goes on writing after the last answer: wait until every row
	// is accounted for and the recorder has stopped spending CPU, and at
	// least 5 s after the load.
	settled := time.Now().Add(5 * time.Second)
	deadline := time.Now().Add(20 * time.Second)
	lastCPU := procCPU(t, pid)
	for {
		time.Sleep(250 * time.Millisecond)
		m := metricValues(t, admin+"/metrics")
		cpu := procCPU(t, pid)
		accounted := m["shadowctl_record_exchanges_recorded_total"]+m["shadowctl_record_pending_exchanges"]+
			m[`shadowctl_record_exchanges_dropped_total{reason="queue_full"}`]+
			m[`shadowctl_record_exchanges_dropped_total{reason="write_error"}`] == clients
		idle := accounted && m["shadowctl_record_queue_depth"] == 0 && cpu-lastCPU < 20*time.Millisecond
		lastCPU = cpu
		if idle && time.Now().After(settled) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("recorder still busy 20s after the load: %v", m)
		}
	}
	afterRSS, peak := procMemory(t, pid)
	// The recorder set Go's soft memory limit from its own bounds:
	// --body-memory, the sink's queue, and the headroom.
	if got, want := metricValues(t, admin+"/metrics")["go_gc_gomemlimit_bytes"], float64(128<<20+record.DefaultQueueBytes+memoryHeadroom); got != want {
		t.Errorf("go_gc_gomemlimit_bytes %v, want %v", got, want)
	}
	heapBefore := metricValues(t, admin+"/metrics")["go_memstats_heap_alloc_bytes"]
	forceGC(t, admin)
	forceGC(t, admin)
	live := metricValues(t, admin+"/metrics")["go_memstats_heap_alloc_bytes"]
	gcRSS, _ := procMemory(t, pid)

	t.Logf("%d x %d MiB chunked uploads in %v; RSS %d MiB at start (VmHWM), %d MiB when the last answer came, "+
		"peak (VmHWM) %d MiB; once idle: RSS %d MiB, heap %d MiB, live heap after 2 GCs %d MiB (RSS then %d MiB)",
		clients, bodySize>>20, loaded.Round(time.Millisecond), startHWM>>20, doneRSS>>20, peak>>20,
		afterRSS>>20, int64(heapBefore)>>20, int64(live)>>20, gcRSS>>20)
	if peak > peakRSSBound {
		t.Errorf("peak RSS %d MiB, want at most %d MiB (%.1fx over)", peak>>20, peakRSSBound>>20,
			float64(peak)/peakRSSBound)
	}
	if live > idleHeapBound {
		t.Errorf("with nothing in flight and the queue drained, live heap %d MiB, want at most %d MiB (%.1fx over)",
			int64(live)>>20, idleHeapBound>>20, live/idleHeapBound)
	}

	// Whatever was stored of each body, the row keeps its real size.
	p.stop(t)
	r, err := record.Open([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var rows int
	for {
		x, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows++
		stored := int64(len(x.RequestBody))
		if x.RequestBodySize != bodySize || (stored != bodySize && !x.RequestBodyTruncated) || stored > bodySize {
			t.Errorf("row %s: request body size %d, %d bytes stored, truncated %v; want size %d, and all of it or flagged",
				x.Path, x.RequestBodySize, stored, x.RequestBodyTruncated, bodySize)
		}
	}
	if rows == 0 || rows > clients {
		t.Errorf("%d rows recorded of %d uploads", rows, clients)
	}
}

// repeatReader yields left bytes of block over and over, in reads of at
// most 32KiB, as a client streaming an upload would.
type repeatReader struct {
	block []byte
	off   int
	left  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.left, 32<<10)], r.block[r.off:])
	r.off = (r.off + n) % len(r.block)
	r.left -= n
	return n, nil
}

// procMemory reads the resident set and its peak (VmRSS, VmHWM) of process
// pid, in bytes.
func procMemory(t *testing.T, pid int) (rss, hwm int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(l, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err != nil {
			t.Fatalf("/proc/%d/status: %q: %v", pid, l, err)
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	if rss == 0 || hwm == 0 {
		t.Fatalf("/proc/%d/status has no VmRSS or VmHWM", pid)
	}
	return rss, hwm
}

// procCPU is the CPU time process pid has used (user and system).
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command name (in parentheses, may hold spaces):
	// state is the first, utime and stime the 12th and 13th, in clock ticks
	// (100 a second on Linux).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		t.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// metricValues reads every sample of a Prometheus text page, by name with
// its labels as written.
func metricValues(t *testing.T, url string) map[string]float64 {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatalf("%s: %q: %v", url, l, err)
		}
		m[l[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// forceGC makes the recorder collect garbage: its heap profile with gc=1
// runs runtime.GC first.
func forceGC(t *testing.T, admin string) {
	t.Helper()
	res, err := http.Get(admin + "/debug/pprof/heap?gc=1")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("heap profile: %d", res.StatusCode)
	}
}
