package record

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// jsonBody is a model request of about n bytes: an instances array of
// numbers, as KServe V1 clients send.
func jsonBody(n int, seed int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"instances":[[`)
	for i := 0; b.Len() < n-4; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%.4f", float64((seed*7919+i*104729)%100000)/1000)
	}
	b.WriteString(`]]}`)
	return b.Bytes()
}

// BenchmarkSink measures the sink from Offer to Close: rows/s and bytes on
// disk per row for rows with a 1 KiB JSON request and a small JSON response,
// offered faster than the writer takes them, so it takes them in batches of
// 512 as under load. The queue holds every row: none is dropped.
func BenchmarkSink(b *testing.B) {
	rows := make([]Exchange, 1024)
	for i := range rows {
		x := row(i, jsonBody(1024, i))
		x.RequestHeaders = []Header{{"Accept", "*/*"}, {"Content-Type", "application/json"}, {"User-Agent", "bench/1.0"}}
		x.ResponseHeaders = []Header{{"Content-Length", "64"}, {"Content-Type", "application/json"}}
		x.ResponseBody = []byte(fmt.Sprintf(`{"predictions":[[%d.0,0.%d]]}`, i%2, i))
		x.LatencyNs = int64(i) * 1000
		rows[i] = *x
	}
	s, err := NewSink(SinkOptions{Dir: b.TempDir(), Instance: "bench", RotateInterval: time.Hour,
		Queue: b.N, QueueBytes: 1 << 62})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for i := range b.N {
		if !s.Offer(&rows[i%len(rows)]) {
			b.Fatal("the sink dropped a row")
		}
	}
	if err := s.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	st := s.Stats()
	if st.Recorded != int64(b.N) {
		b.Fatalf("recorded %d of %d", st.Recorded, b.N)
	}
	b.ReportMetric(float64(st.Recorded)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(float64(st.BytesWritten)/float64(st.Recorded), "disk-B/row")
	b.ReportMetric(float64(cpu.Microseconds())/float64(st.Recorded), "cpu-µs/row")
}

// BenchmarkSinkPaced offers the sink one row per tick of a 500 µs ticker
// (at most 2,000 rows/s, fewer where the timer is coarser: about what a
// 50 ms live shadow at 64 workers makes, or a recorder under moderate load): the writer then takes a few rows per wake-up, and what
// it costs per row is mostly per batch (a wake-up, a log write, a page).
// cpu-µs/row is the process's CPU per row, the pacing's own wake-ups
// included (the same for every build).
//
//	go test ./record -run '^$' -bench SinkPaced -benchtime 4000x -count 5
func BenchmarkSinkPaced(b *testing.B) {
	rows := make([]Exchange, 256)
	for i := range rows {
		x := row(i, jsonBody(1024, i))
		x.ResponseBody = jsonBody(1024, i+1)
		rows[i] = *x
	}
	s, err := NewSink(SinkOptions{Dir: b.TempDir(), Instance: "bench", RotateInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	tick := time.NewTicker(500 * time.Microsecond)
	defer tick.Stop()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := range b.N {
		<-tick.C
		if !s.Offer(&rows[i%len(rows)]) {
			b.Fatal("the sink dropped a row")
		}
	}
	if err := s.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	cpu := cpuTime() - cpu0
	b.StopTimer()
	if st := s.Stats(); st.Recorded != int64(b.N) {
		b.Fatalf("recorded %d of %d", st.Recorded, b.N)
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/row")
}

// BenchmarkProxy sends the same load (32 concurrent clients, 1 KiB JSON
// bodies, loopback) straight to an upstream and through the recording proxy,
// in one run, and reports the proxy's throughput as a fraction of direct and
// the latency it adds at p50 and p99. Each b.N is one request per phase.
func BenchmarkProxy(b *testing.B) {
	const concurrency = 32
	reply := jsonBody(1024, 1)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(reply)
	}))
	defer upstream.Close()
	sink, err := NewSink(SinkOptions{Dir: b.TempDir(), Instance: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	u, _ := url.Parse(upstream.URL)
	p, err := NewProxy(ProxyOptions{Upstream: u, MaxBody: 4 << 20, Sample: 1, Redact: RedactSet(DefaultRedact),
		Instance: "bench", Sink: sink, Metrics: NewMetrics(),
		// The timeouts as `shadowctl record` sets them by default: each is
		// a deadline set per request.
		UpstreamTimeout: time.Minute, UpstreamReadTimeout: time.Minute, ClientBodyTimeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	front := httptest.NewServer(p)
	defer front.Close()
	bodies := make([][]byte, 64)
	for i := range bodies {
		bodies[i] = jsonBody(1024, i)
	}

	run := func(target string, n int) (rps float64, lat []time.Duration) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency * 2, DisableCompression: true}}
		defer client.CloseIdleConnections()
		lat = make([]time.Duration, n)
		var next atomic.Int64
		var failed atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range concurrency {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= n {
						return
					}
					t0 := time.Now()
					res, err := client.Post(target+"/v1/models/m:predict", "application/json", bytes.NewReader(bodies[i%len(bodies)]))
					if err != nil {
						failed.Add(1)
						continue
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					lat[i] = time.Since(t0)
				}
			})
		}
		wg.Wait()
		if failed.Load() > 0 {
			b.Fatalf("%d requests failed", failed.Load())
		}
		return float64(n) / time.Since(start).Seconds(), lat
	}
	// Warm both paths (connections, pools) before measuring.
	run(upstream.URL, 512)
	run(front.URL, 512)
	b.ResetTimer()
	directRPS, directLat := run(upstream.URL, b.N)
	proxiedRPS, proxiedLat := run(front.URL, b.N)
	b.StopTimer()
	if err := sink.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	st := sink.Stats()
	pct := func(l []time.Duration, q float64) float64 {
		slices.Sort(l)
		return float64(l[min(len(l)-1, int(q*float64(len(l))))]) / 1e6
	}
	b.ReportMetric(directRPS, "direct-req/s")
	b.ReportMetric(proxiedRPS, "proxied-req/s")
	b.ReportMetric(proxiedRPS/directRPS, "throughput-ratio")
	b.ReportMetric(pct(directLat, .5), "direct-p50-ms")
	b.ReportMetric(pct(proxiedLat, .5)-pct(directLat, .5), "added-p50-ms")
	b.ReportMetric(pct(proxiedLat, .99)-pct(directLat, .99), "added-p99-ms")
	b.ReportMetric(float64(st.DroppedTotal()), "dropped")
}

// BenchmarkReader reads a recording of 20,000 exchanges as replay reads it
// (1 KiB JSON requests and answers, a few headers, rows slightly out of
// start order as the sink writes them): exchanges/s and CPU per exchange.
func BenchmarkReader(b *testing.B) {
	const n = 20000
	path := filepath.Join(b.TempDir(), "rec.parquet")
	w, err := CreateFile(path)
	if err != nil {
		b.Fatal(err)
	}
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		// Every 7th exchange completes after the next few that started later.
		at := base.Add(time.Duration(i) * 50 * time.Microsecond)
		if i%7 == 0 {
			at = at.Add(-200 * time.Microsecond)
		}
		x := Exchange{ID: NewID(at), StartedAt: at, Method: "POST", Host: "model", Path: "/v1/models/m:predict",
			RequestHeaders: []Header{{"Accept", "*/*"}, {"Content-Length", "1024"}, {"Content-Type", "application/json"},
				{"User-Agent", "bench/1.0"}},
			RequestBody: jsonBody(1024, i), RequestBodySize: 1024, Status: 200,
			ResponseHeaders: []Header{{"Content-Length", "1024"}, {"Content-Type", "application/json"}},
			ResponseBody:    jsonBody(1024, i+1), ResponseBodySize: 1024, LatencyNs: 300_000, Instance: "bench",
			ResponseFirstByteNs: 290_000}
		if err := w.Write([]Exchange{x}); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		r, err := Open([]string{path})
		if err != nil {
			b.Fatal(err)
		}
		got := 0
		for {
			_, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			got++
		}
		r.Close()
		if got != n {
			b.Fatalf("read %d of %d exchanges", got, n)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*n), "cpu-ns/exchange")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/exchange")
}
