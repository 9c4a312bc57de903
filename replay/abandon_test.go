package replay

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/record"
)

// After an interrupt, OnStop hears how many requests are in flight, and
// closing Abandon (a second Ctrl-C) cuts them short at once, far within
// Timeout: the rows done are written, the abandoned ones are not.
func TestAbandonCutsTheRequestsInFlightShort(t *testing.T) {
	for _, c := range []struct {
		name   string
		client *http.Client
	}{{"h1", nil}, {"net/http", NewClient(4, nil)}} {
		t.Run(c.name, func(t *testing.T) {
			var count atomic.Int64
			held := make(chan struct{})
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := count.Add(1)
				if n > 6 { // the 7th to the 10th wait for the client to go away
					if n == 10 {
						close(held)
					}
					select {
					case <-r.Context().Done():
					case <-release:
					}
					return
				}
				okHandler(w, r)
			}))
			defer srv.Close()
			defer close(release) // before Close, which waits for the handlers

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			abandon := make(chan struct{})
			stopped := make(chan int, 1)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // Ctrl-C, then Ctrl-C again once told what is in flight
				defer wg.Done()
				<-held
				cancel()
				<-stopped
				close(abandon)
			}()
			const timeout = 20 * time.Second
			start := time.Now()
			sink := &memWriter{}
			st, err := Run(ctx, Options{Target: mustURL(t, srv.URL), Client: c.client, Concurrency: 4, Timeout: timeout,
				OnStop: func(n int) { stopped <- n }, Abandon: abandon}, &sliceSource{xs: exchanges(20, "/p")}, sink)
			wg.Wait()
			if el := time.Since(start); el > timeout/2 {
				t.Errorf("Run returned after %v: the abandoned requests were waited for", el)
			}
			if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrAbandoned) {
				t.Errorf("Run: %v, want an interrupt with abandoned requests", err)
			}
			if st.Sent != 6 || st.Abandoned != 4 {
				t.Errorf("sent %d, abandoned %d; want 6 and 4", st.Sent, st.Abandoned)
			}
			// The six answered are written (which six, the order of the
			// workers decides), whole; none of the four abandoned is.
			seen := map[string]bool{}
			for _, r := range sink.rows {
				if r.CandidateErrorKind != "" || r.CandidateStatus != 200 || seen[r.ID] {
					t.Errorf("row %s: status %d, kind %q (or twice)", r.ID, r.CandidateStatus, r.CandidateErrorKind)
				}
				seen[r.ID] = true
			}
			if len(sink.rows) != 6 {
				t.Errorf("%d rows, want the 6 answered", len(sink.rows))
			}
		})
	}
}

// OnStop hears the requests in flight when ctx ends.
func TestOnStopCountsTheRequestsInFlight(t *testing.T) {
	held := make(chan struct{})
	release := make(chan struct{})
	var count atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if count.Add(1) == 3 {
			close(held)
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-held; cancel() }()
	var got atomic.Int64
	got.Store(-1)
	_, err := Run(ctx, Options{Target: mustURL(t, srv.URL), Concurrency: 3, Timeout: 200 * time.Millisecond,
		OnStop: func(n int) { got.Store(int64(n)) }}, &sliceSource{xs: exchanges(10, "/p")}, &memWriter{})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrAbandoned) {
		t.Errorf("Run: %v, want an interrupt without abandoned requests", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for got.Load() == -1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := got.Load(); n != 3 {
		t.Errorf("OnStop(%d), want 3 in flight", n)
	}
}

// hangingSource gives its exchanges, then a read that never returns (a
// bucket read that stalled: Source has no context).
type hangingSource struct {
	xs    []record.Exchange
	i     int
	stuck chan struct{} // closed when the read hangs
	never chan struct{}
}

func (s *hangingSource) Next() (*record.Exchange, error) {
	if s.i >= len(s.xs) {
		close(s.stuck)
		<-s.never
		return nil, io.EOF
	}
	s.i++
	return &s.xs[s.i-1], nil
}

// An interrupt, then an abandonment, end a run whose source read hangs:
// Run returns, and the rows done are written.
func TestAbandonEndsARunWhoseSourceHangs(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(okHandler))
	defer srv.Close()
	src := &hangingSource{xs: exchanges(3, "/p"), stuck: make(chan struct{}), never: make(chan struct{})}
	defer close(src.never)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	abandon := make(chan struct{})
	sink := &memWriter{}
	done := make(chan error, 1)
	answered := make(chan struct{})
	var once sync.Once
	o := Options{Target: mustURL(t, srv.URL), Concurrency: 1, Abandon: abandon, ProgressEvery: time.Nanosecond,
		Progress: func(p Progress) {
			if p.Done == 3 {
				once.Do(func() { close(answered) })
			}
		}}
	go func() {
		_, err := Run(ctx, o, src, sink)
		done <- err
	}()
	<-src.stuck
	<-answered
	cancel()
	close(abandon)
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v, want an interrupt", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after an interrupt and an abandonment while its source read hangs")
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if n := len(sink.rows); n != 3 {
		t.Errorf("%d rows written, want the 3 done", n)
	}
}
