package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// pacedResult is one fixed-rate run.
type pacedResult struct {
	rate     float64 // asked, req/s
	sent     float64 // answered, req/s
	p50, p99 float64 // ms
	failed   int64   // transport errors and non-2xx answers
	late     int64   // requests not sent: every connection busy when due
}

// runPaced posts body to url at rate requests a second for d, from conns
// connections, wrk2-style (an open loop): a request falls due every 1/rate,
// whether or not the earlier ones were answered, and one that finds every
// connection busy is counted late rather than queued without bound.
func runPaced(ctx context.Context, url string, body []byte, rate float64, d time.Duration, conns int) (pacedResult, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
		DisableCompression: true,
	}}
	defer client.CloseIdleConnections()
	res := pacedResult{rate: rate}
	due := make(chan struct{}, conns)
	hists := make([]latencyHist, conns)
	failed := make([]int64, conns)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range due {
				start := time.Now()
				if postOnce(ctx, client, url, body) {
					hists[i].add(time.Since(start))
				} else {
					failed[i]++
				}
			}
		}()
	}

	// The producer owns the ticker and closes the queue; the workers only
	// take from it.
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	var offered int64
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case now := <-tick.C:
			el := now.Sub(start)
			if el >= d {
				break loop
			}
			for n := int64(el.Seconds() * rate); offered < n; offered++ {
				select {
				case due <- struct{}{}:
				default:
					res.late++
				}
			}
		}
	}
	tick.Stop()
	close(due)
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	var all latencyHist
	for i := range hists {
		all.merge(&hists[i])
		res.failed += failed[i]
	}
	res.sent = float64(all.n) / elapsed.Seconds()
	res.p50, res.p99 = all.quantile(0.50), all.quantile(0.99)
	if all.n == 0 {
		return res, fmt.Errorf("POST %s at %.0f req/s: no answer", url, rate)
	}
	return res, nil
}

// postOnce posts body and reads the answer; false on an error or a
// non-2xx status.
func postOnce(ctx context.Context, c *http.Client, url string, body []byte) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		return false
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return err == nil && res.StatusCode/100 == 2
}

// latencyHist counts latencies in 10 µs buckets up to 100 ms (later ones
// in the last), so a run's quantiles cost a fixed size, however long it is.
type latencyHist struct {
	n       int64
	buckets [10000]int64
}

const histBucket = 10 * time.Microsecond

func (h *latencyHist) add(d time.Duration) {
	i := min(int(d/histBucket), len(h.buckets)-1)
	h.buckets[i]++
	h.n++
}

func (h *latencyHist) merge(o *latencyHist) {
	for i, c := range o.buckets {
		h.buckets[i] += c
	}
	h.n += o.n
}

// quantile is the upper edge, in ms, of the bucket holding quantile q.
func (h *latencyHist) quantile(q float64) float64 {
	want := int64(q * float64(h.n))
	var seen int64
	for i, c := range h.buckets {
		seen += c
		if seen > want {
			return float64(time.Duration(i+1)*histBucket) / float64(time.Millisecond)
		}
	}
	return 0
}
