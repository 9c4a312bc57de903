package shadow

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shadowctl/shadowctl/internal/spool"
	"github.com/shadowctl/shadowctl/record"
	"github.com/shadowctl/shadowctl/replay"
)

// gated passes rows on to a sink and frees a slot of the benchmark's
// window for each, so that the benchmark keeps a bounded number of copies
// outstanding (none is dropped) and every copy's work is counted.
type gated struct {
	next  RowSink
	slots chan struct{}
	n     atomic.Int64
}

func (g *gated) Offer(r *replay.Result) bool {
	ok := g.next.Offer(r)
	g.n.Add(1)
	<-g.slots
	return ok
}

type discard struct{}

func (discard) Offer(*replay.Result) bool { return true }

// BenchmarkCopy is the whole cost of one mirrored request past the proxy:
// Offer, the copy sent to a fast in-process shadow and its answer read, the
// primary's answer, the live comparison, and the results row logged and
// written (or discarded). cpu-µs/copy is the process's CPU (the shadow
// server's included) per copy: steadier than ns/op on a loaded machine.
//
//	go test ./shadow -run '^$' -bench Copy -benchmem -benchtime 20000x -count 5
func BenchmarkCopy(b *testing.B) {
	reply := jsonReply(1024)
	differs := append([]byte(nil), reply...)
	differs[len(`{"predictions":[`)] = '9' // one score of many changed
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 2048)
		for {
			if _, err := r.Body.Read(buf); err != nil {
				break
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("X-Differ") != "" {
			_, _ = w.Write(differs)
			return
		}
		_, _ = w.Write(reply)
	}))
	defer srv.Close()
	target, _ := url.Parse(srv.URL)
	body := jsonReply(1024)
	// differs: the shadow's answer is not the primary's bytes, so the
	// live comparison decodes both (the same bytes need no decoding).
	// slow: a shadow that answers each copy 5 ms late, with 64 copies in
	// flight (the live shadow's default concurrency), on a lean server
	// whose own CPU per copy is small and the same for every build: each
	// worker parks on every copy and the rows reach the spool a few at a
	// time, as with the 50 ms shadow of benchpeers.
	slow := rawShadow(b, fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(reply), reply), false, 5*time.Millisecond)
	for _, bc := range []struct {
		name           string
		spool, differs bool
		target         *url.URL
		window         int
	}{{"spool", true, false, target, 32}, {"spool-differs", true, true, target, 32}, {"no-sink", false, false, target, 32},
		{"slow-spool", true, false, slow, 64}} {
		b.Run(bc.name, func(b *testing.B) {
			var next RowSink = discard{}
			var sp *spool.Sink[replay.Result]
			if bc.spool {
				var err error
				sp, err = spool.New(spool.Options{Dir: b.TempDir(), Instance: "bench"}, ResultsCodec())
				if err != nil {
					b.Fatal(err)
				}
				next = sp
			}
			g := &gated{next: next, slots: make(chan struct{}, bc.window)}
			opts := Options{Target: bc.target, Sample: 1, Rows: g, Concurrency: bc.window}
			if bc.differs {
				opts.Header = http.Header{"X-Differ": {"1"}}
			}
			s, err := New(opts)
			if err != nil {
				b.Fatal(err)
			}
			hdr := http.Header{"Content-Type": {"application/json"}, "User-Agent": {"bench"}}
			ans := &record.MirrorAnswer{Status: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: reply, BodySize: int64(len(reply)), Latency: time.Millisecond}
			cpu0 := cpuTime()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				g.slots <- struct{}{}
				m := s.Offer(&record.MirrorRequest{ID: "id", StartedAt: time.Now(), Method: "POST", Target: "/v1/models/m:predict", Host: "front", Header: hdr, Body: body})
				if m == nil {
					b.Fatalf("copy %d dropped", i)
				}
				m.Primary(ans)
			}
			if err := s.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
			if sp != nil {
				if err := sp.Close(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if n := g.n.Load(); n != int64(b.N) {
				b.Fatalf("%d rows, want %d", n, b.N)
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/copy")
		})
	}
}

// jsonReply is a model answer of about n bytes.
func jsonReply(n int) []byte {
	b := []byte(`{"predictions":[`)
	for i := 0; len(b) < n-8; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, []byte("0.1234")...)
	}
	return append(b, "]}"...)
}

// BenchmarkOfferDropped is what a copy costs the request's path when the
// queue is full (with a 50 ms shadow, most copies): it must be nearly
// free.
func BenchmarkOfferDropped(b *testing.B) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	target, _ := url.Parse(srv.URL)
	s, err := New(Options{Target: target, Sample: 1, Concurrency: 1, Queue: 1, Timeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = s.Close(ctx)
	}()
	req := &record.MirrorRequest{ID: "id", Method: "POST", Target: "/p", Body: []byte(`{"instances":[1]}`)}
	// The worker busy with one copy, the queue full with another.
	for deadline := time.Now().Add(10 * time.Second); testutil.ToFloat64(s.m.inFlight) < 1 || len(s.queue) < cap(s.queue); {
		if time.Now().After(deadline) {
			b.Fatal("the worker took no copy")
		}
		s.Offer(req)
		time.Sleep(time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if s.Offer(req) != nil {
			b.Fatal("a copy was taken")
		}
	}
}
