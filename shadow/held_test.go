package shadow

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// MaxHeld bounds the bodies pending copies hold: past it new copies are
// dropped, and everything reserved is given back once the rows are made.
func TestShadowBoundsTheBodiesItHolds(t *testing.T) {
	release := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Write([]byte(`{}`))
	})
	body := strings.Repeat("x", 40<<10) // 40 KiB, preloaded
	rg := newRig(t, model(func(string) string { return "cat" }), slow, Options{Concurrency: 8, MaxHeld: 100 << 10, Timeout: 30 * time.Second})
	for i := range 6 {
		if code, _ := rg.post(t, fmt.Sprintf("/p/%d", i), body); code != 200 {
			t.Fatalf("client got %d", code)
		}
	}
	close(release)
	st := rg.close(t)
	// 100 KiB holds two 40 KiB requests with their small answers; the rest are dropped.
	if st.Mirrored != 2 || st.Dropped[DropQueueFull] != 4 {
		t.Errorf("mirrored %d, dropped %v; want 2 and 4 queue_full", st.Mirrored, st.Dropped)
	}
	if h := rg.shadow.held.Load(); h != 0 {
		t.Errorf("%d bytes still held after the rows were made", h)
	}
}

// The shadow's answers count against the bytes held too, while they are
// read and while they wait for their primary's: concurrency × --max-body
// of them would pass the recorder's memory limit. Past the bound the copy
// is dropped (queue_full), for both framings of an answer.
func TestShadowBoundsTheAnswersItHolds(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			big := strings.Repeat("y", 40<<10)
			var got atomic.Int64
			cand := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got.Add(1)
				if chunked {
					w.Write([]byte(big[:1]))
					w.(http.Flusher).Flush()
					w.Write([]byte(big[1:]))
					return
				}
				w.Header().Set("Content-Length", fmt.Sprint(len(big)))
				w.Write([]byte(big))
			})
			release := make(chan struct{})
			primary := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				<-release // the copies' answers wait for it, held
				w.Write([]byte(`{}`))
			})
			rg := newRig(t, primary, cand, Options{Concurrency: 8, MaxHeld: 100 << 10, Timeout: 30 * time.Second})
			var wg sync.WaitGroup
			codes := make([]int, 6)
			for i := range codes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := http.Post(fmt.Sprintf("%s/p/%d", rg.front.URL, i), "application/json", strings.NewReader(`{}`))
					if err != nil {
						return
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					codes[i] = res.StatusCode
				}()
			}
			// Every copy's answer has come (kept or not) before any primary's.
			deadline := time.Now().Add(10 * time.Second)
			for (got.Load() < 6 || testutil.ToFloat64(rg.shadow.m.inFlight) > 0) && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			held := rg.shadow.held.Load()
			close(release)
			wg.Wait()
			st := rg.close(t)
			for i, c := range codes {
				if c != 200 {
					t.Errorf("client %d got %d", i, c)
				}
			}
			if held > 100<<10 {
				t.Errorf("%d bytes held with every answer in, past the bound of %d", held, 100<<10)
			}
			// 100 KiB keeps two 40 KiB answers of known length, reserved
			// whole as their heads come; the other four are dropped. A
			// chunked one is reserved as its buffer grows (to 64 KiB for
			// 40), so while several are read at once fewer may be kept,
			// never more.
			want := int64(2)
			if chunked {
				want = min(st.Mirrored, 2)
			}
			if st.Mirrored != want || st.Dropped[DropQueueFull] != 6-want || int64(len(rg.rows.byID())) != want {
				t.Errorf("mirrored %d, dropped %v, %d rows; want %d, %d queue_full and as many rows", st.Mirrored, st.Dropped, len(rg.rows.byID()), want, 6-want)
			}
			for _, r := range rg.rows.byID() {
				if string(r.CandidateBody) != big {
					t.Errorf("row %s keeps %d bytes of the shadow's answer, want all %d", r.ID, len(r.CandidateBody), len(big))
				}
			}
			if h := rg.shadow.held.Load(); h != 0 {
				t.Errorf("%d bytes still held after the rows were made", h)
			}
		})
	}
}

// Comparing live decodes both answers, which takes many times their size:
// a row whose decoding would pass the bound on memory held is written but
// not compared live, and counted, so 64 workers decoding 4 MB answers at
// once cannot take the recorder past its memory limit.
func TestShadowSkipsComparingAnswersTooLargeToDecode(t *testing.T) {
	big := `{"predictions":[` + strings.Repeat(`1.5,`, 25<<10) + `1.5]}` // 100 KiB: 1.6 MB to decode
	cand := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Write([]byte(big))
			return
		}
		w.Write([]byte(`{"predictions":["cat"]}`))
	})
	rg := newRig(t, model(func(string) string { return "cat" }), cand, Options{MaxHeld: 1 << 20})
	reg := prometheus.NewRegistry()
	if err := rg.shadow.Register(reg); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/small", "/big"} {
		if code, _ := rg.post(t, path, `{}`); code != 200 {
			t.Fatalf("client got %d", code)
		}
	}
	st := rg.close(t)
	if st.Mirrored != 2 || st.Compared != 1 || st.Agreed != 1 || st.Skipped != 1 {
		t.Errorf("mirrored %d, compared %d, agreed %d, skipped %d; want 2, 1, 1, 1", st.Mirrored, st.Compared, st.Agreed, st.Skipped)
	}
	if n := len(rg.rows.byID()); n != 2 {
		t.Errorf("%d rows, want both written", n)
	}
	if got := counters(t, reg)["shadowctl_shadow_compare_skipped_total"]; got != 1 {
		t.Errorf("shadowctl_shadow_compare_skipped_total = %v, want 1", got)
	}
}

// counters gathers reg's counters by name (and label values, after "/").
func counters(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "/" + l.GetValue()
			}
			got[name] = m.GetCounter().GetValue()
		}
	}
	return got
}
