package replay

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/record"
)

const benchConcurrency = 8

var benchBody = []byte(`{"instances":[[5.1,3.5,1.4,0.2]]}`)

// fastServer answers a small JSON at once.
func fastServer() *httptest.Server {
	answer := []byte(`{"predictions":[[0.97,0.02,0.01]]}`)
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	}))
}

// genSource makes n exchanges on the fly, as a recording reader would.
type genSource struct {
	n, i int
	t    time.Time
}

func (g *genSource) Next() (*record.Exchange, error) {
	if g.i >= g.n {
		return nil, io.EOF
	}
	g.i++
	return &record.Exchange{
		ID: strconv.Itoa(g.i), StartedAt: g.t.Add(time.Duration(g.i)), Method: "POST", Path: "/v1/models/m:predict",
		RequestHeaders: []record.Header{{Name: "Content-Type", Value: "application/json"}},
		RequestBody:    benchBody, Status: 200, ResponseBody: benchBody,
	}, nil
}

func (g *genSource) Total() int64 { return int64(g.n) }

// goLoop is the baseline: the least a Go program can do to send n requests
// with the same client at the same concurrency.
func goLoop(b *testing.B, c *http.Client, url string, n int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range benchConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				req, _ := http.NewRequest("POST", url, bytes.NewReader(benchBody))
				req.Header.Set("Content-Type", "application/json")
				res, err := c.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.ReadAll(res.Body)
				res.Body.Close()
			}
		}()
	}
	wg.Wait()
}

type discardWriter struct{}

func (discardWriter) Write([]Result) error { return nil }
func (discardWriter) Close() error         { return nil }

// replayN replays n exchanges into the results file out, or nowhere when
// out is empty (to tell the client side's cost from the file's).
func replayN(b *testing.B, c *http.Client, target string, n int, out string) {
	var w interface {
		RowWriter
		Close() error
	} = discardWriter{}
	if out != "" {
		f, err := CreateResults(out)
		if err != nil {
			b.Fatal(err)
		}
		w = f
	}
	sum, err := Run(context.Background(), Options{Target: mustURL(b, target), Client: c, Concurrency: benchConcurrency},
		&genSource{n: n, t: time.Now()}, w)
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	if sum.OK != int64(n) {
		b.Fatalf("%d ok of %d: %v", sum.OK, n, sum.Errors)
	}
	if out != "" {
		os.Remove(out)
	}
}

// BenchmarkGoLoop is the minimal client loop; allocs/op are per request.
func BenchmarkGoLoop(b *testing.B) {
	srv := fastServer()
	defer srv.Close()
	c := NewClient(benchConcurrency, nil)
	b.ReportAllocs()
	b.ResetTimer()
	goLoop(b, c, srv.URL+"/v1/models/m:predict", b.N)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkReplay replays b.N exchanges into a results file through the
// default client (internal/h1); allocs/op are per request, results file
// included.
func BenchmarkReplay(b *testing.B) {
	srv := fastServer()
	defer srv.Close()
	out := filepath.Join(b.TempDir(), "results.parquet")
	b.ReportAllocs()
	b.ResetTimer()
	replayN(b, nil, srv.URL, b.N, out)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkReplayVsGoLoop runs both against the same server, one after the
// other, and reports replay's throughput (default client) as a fraction of
// the loop's (net/http).
func BenchmarkReplayVsGoLoop(b *testing.B) {
	for _, sink := range []string{"results-file", "no-sink"} {
		b.Run(sink, func(b *testing.B) {
			srv := fastServer()
			defer srv.Close()
			c := NewClient(benchConcurrency, nil)
			out := ""
			if sink == "results-file" {
				out = filepath.Join(b.TempDir(), "results.parquet")
			}
			const rounds = 5 // interleaved, so drift in the machine's load hits both alike
			per := max(b.N/rounds, 1000)
			n := per * rounds
			goLoop(b, c, srv.URL+"/v1/models/m:predict", 500) // warm the connections
			b.ResetTimer()
			var loop, rep time.Duration
			for range rounds {
				t0 := time.Now()
				goLoop(b, c, srv.URL+"/v1/models/m:predict", per)
				loop += time.Since(t0)
				t0 = time.Now()
				replayN(b, nil, srv.URL, per, out)
				rep += time.Since(t0)
			}
			b.ReportMetric(float64(n)/loop.Seconds(), "loop-req/s")
			b.ReportMetric(float64(n)/rep.Seconds(), "replay-req/s")
			b.ReportMetric(loop.Seconds()/rep.Seconds(), "replay/loop")
		})
	}
}

// BenchmarkReplayMemory replays a large recording (1,000,000 exchanges, or
// SHADOWCTL_BENCH_EXCHANGES) made in a temporary folder and reports the peak
// Go heap and the peak resident size during the replay: they must stay flat
// whatever the number of exchanges.
func BenchmarkReplayMemory(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("SHADOWCTL_BENCH_EXCHANGES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	dir := b.TempDir()
	writeLargeRecording(b, dir, n)
	srv := fastServer()
	defer srv.Close()
	for i := 0; i < b.N; i++ {
		runtime.GC()
		debug.FreeOSMemory()
		resetPeakRSS()
		stop := make(chan struct{})
		peak := make(chan uint64)
		go samplePeakHeap(stop, peak)
		src, err := record.Open([]string{dir})
		if err != nil {
			b.Fatal(err)
		}
		out := filepath.Join(dir, "results.parquet")
		os.Remove(out)
		w, err := CreateResults(out)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		sum, err := Run(context.Background(), Options{Target: mustURL(b, srv.URL), Concurrency: benchConcurrency}, src, w)
		if err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		src.Close()
		close(stop)
		heap := <-peak
		if sum.OK != int64(n) {
			b.Fatalf("%d ok of %d", sum.OK, n)
		}
		b.ReportMetric(float64(heap)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(peakRSS())/(1<<20), "peak-rss-MiB")
		b.ReportMetric(float64(n)/time.Since(t0).Seconds(), "req/s")
		b.ReportMetric(float64(n), "exchanges")
	}
}

// writeLargeRecording writes n exchanges as a recorder would: files of
// 100,000 rows, one after the other in time.
func writeLargeRecording(b *testing.B, dir string, n int) {
	const perFile = 100_000
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	batch := make([]record.Exchange, 0, 1024)
	for f := 0; f*perFile < n; f++ {
		w, err := record.CreateFile(filepath.Join(dir, fmt.Sprintf("rec-%04d.parquet", f)))
		if err != nil {
			b.Fatal(err)
		}
		for i := f * perFile; i < min(n, (f+1)*perFile); i++ {
			at := t.Add(time.Duration(i) * time.Millisecond)
			batch = append(batch, record.Exchange{ID: record.NewID(at), StartedAt: at, Method: "POST", Host: "model",
				Path:           "/v1/models/m:predict",
				RequestHeaders: []record.Header{{Name: "Content-Type", Value: "application/json"}},
				RequestBody:    []byte(fmt.Sprintf(`{"instances":[[%d.1,3.5,1.4,0.2]]}`, i%97)), Status: 200,
				ResponseBody: []byte(`{"predictions":[[0.97,0.02,0.01]]}`), LatencyNs: 1e6})
			if len(batch) == cap(batch) {
				if err := w.Write(batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		if err := w.Write(batch); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func samplePeakHeap(stop <-chan struct{}, peak chan<- uint64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	var max uint64
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		metrics.Read(s)
		if v := s[0].Value.Uint64() + s[1].Value.Uint64(); v > max {
			max = v
		}
		select {
		case <-stop:
			peak <- max
			return
		case <-tick.C:
		}
	}
}

// resetPeakRSS resets the kernel's high-water mark of this process (Linux).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
