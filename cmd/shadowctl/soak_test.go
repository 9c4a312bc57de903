package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/record"
)

// soakDuration is how long TestRecorderSoak drives the recorder: 15 s in
// make test, longer with SHADOWCTL_SOAK=60s (any Go duration).
func soakDuration(t *testing.T) time.Duration {
	if s := os.Getenv("SHADOWCTL_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("SHADOWCTL_SOAK=%q: want a duration such as 60s", s)
		}
		return d
	}
	return 15 * time.Second
}

// scrape reads go_goroutines and process_resident_memory_bytes from the
// recorder's /metrics.
func scrape(c *http.Client, url string) (goroutines, rss float64, err error) {
	res, err := c.Get(url)
	if err != nil {
		return 0, 0, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		switch name {
		case "go_goroutines":
			goroutines, err = strconv.ParseFloat(value, 64)
		case "process_resident_memory_bytes":
			rss, err = strconv.ParseFloat(value, 64)
		}
		if err != nil {
			return 0, 0, err
		}
	}
	if goroutines == 0 || rss == 0 {
		return 0, 0, fmt.Errorf("metrics lack go_goroutines or process_resident_memory_bytes")
	}
	return goroutines, rss, sc.Err()
}

var summaryRE = regexp.MustCompile(`^recorded (\d+) exchanges, dropped (\d+) `)

// TestRecorderSoak drives the real recorder at high concurrency for a
// bounded time and samples its goroutines and resident memory through
// /metrics: both stay flat (the last third of the run peaks no higher than
// the first third allows), nothing is dropped while the disk keeps up, and
// recorded + dropped == served.
func TestRecorderSoak(t *testing.T) {
	const clients = 64
	d := soakDuration(t)
	bin := buildBinary(t)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"predictions":[%d],"echo":%q}`, len(b), b)
	}))
	defer upstream.Close()
	dir := filepath.Join(t.TempDir(), "rec")
	p := startRecorder(t, bin, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--upstream", upstream.URL,
		"--out", dir, "--instance", "soak", "--rotate-size", "8MiB")
	admin := p.admin(t) + "/metrics"

	var served, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Timeout: 10 * time.Second, Transport: tr}
	for c := range clients {
		wg.Go(func() {
			body := strings.Repeat("f", 200+c*10)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				res, err := client.Post(fmt.Sprintf("%s/v1/models/m:predict?c=%d&i=%d", p.addr, c, i), "application/json",
					strings.NewReader(`{"instances":["`+body+`"]}`))
				if err == nil {
					_, err = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if err == nil && res.StatusCode != 200 {
						err = fmt.Errorf("status %d", res.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				served.Add(1)
			}
		})
	}

	type sample struct{ goroutines, rss float64 }
	var samples []sample
	metrics := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(500 * time.Millisecond)
	end := time.After(d)
sampling:
	for {
		select {
		case <-tick.C:
			g, rss, err := scrape(metrics, admin)
			if err != nil {
				t.Errorf("scrape: %v", err)
				continue
			}
			samples = append(samples, sample{g, rss})
		case <-end:
			break sampling
		}
	}
	tick.Stop()
	close(stop)
	wg.Wait()
	p.stop(t)

	if n := failed.Load(); n > 0 {
		t.Errorf("%d requests failed, first: %v", n, firstErr.Load())
	}
	if len(samples) < 6 {
		t.Fatalf("only %d samples", len(samples))
	}
	third := len(samples) / 3
	peak := func(s []sample) sample {
		var m sample
		for _, x := range s {
			m.goroutines, m.rss = max(m.goroutines, x.goroutines), max(m.rss, x.rss)
		}
		return m
	}
	early, late := peak(samples[:third]), peak(samples[len(samples)-third:])
	t.Logf("%s at %d clients: %d served (%.0f/s); goroutines peak %.0f early, %.0f late; RSS peak %.1f MiB early, %.1f MiB late",
		d, clients, served.Load(), float64(served.Load())/d.Seconds(), early.goroutines, late.goroutines, early.rss/(1<<20), late.rss/(1<<20))
	if late.goroutines > early.goroutines+clients {
		t.Errorf("goroutines grew: peak %.0f in the first third, %.0f in the last", early.goroutines, late.goroutines)
	}
	if late.rss > early.rss*1.5+32<<20 {
		t.Errorf("memory grew: RSS peak %.1f MiB in the first third, %.1f MiB in the last", early.rss/(1<<20), late.rss/(1<<20))
	}

	var summary string
	for _, l := range strings.Split(p.stderr(), "\n") {
		if summaryRE.MatchString(l) {
			summary = l
		}
	}
	m := summaryRE.FindStringSubmatch(summary)
	if m == nil {
		t.Fatalf("no summary line:\n%s", p.stderr())
	}
	recorded, _ := strconv.ParseInt(m[1], 10, 64)
	dropped, _ := strconv.ParseInt(m[2], 10, 64)
	if dropped != 0 || recorded+dropped != served.Load() {
		t.Errorf("summary %q; %d served: want all recorded, none dropped", summary, served.Load())
	}
	r, err := record.Open([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Total() != served.Load() {
		t.Errorf("%d rows in the files, %d served", r.Total(), served.Load())
	}
}
