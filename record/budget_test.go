package record

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// Bodies in flight past --body-memory pass through whole but are not kept:
// stored cut and flagged with their real size, and every reservation is
// given back once the exchanges end.
func TestProxyBodyMemoryBudget(t *testing.T) {
	const size = 200 << 10
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	cases := []struct {
		name    string
		budget  int64
		chunked bool
		kept    bool
	}{
		{"fits, known length", 4 << 20, false, true},
		{"fits, chunked", 4 << 20, true, true},
		{"refused, known length", 64 << 10, false, false},
		{"refused, chunked", 64 << 10, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rg := newRig(t, upstream, ProxyOptions{BodyMemory: tc.budget, MaxBody: 1 << 20}, SinkOptions{})
			const clients = 4
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			for i := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					body := randomBytes(size, uint64(i+1))
					var rd io.Reader = bytes.NewReader(body)
					if tc.chunked {
						rd = io.MultiReader(rd) // no length: sent chunked
					}
					req, _ := http.NewRequest("POST", rg.front.URL+fmt.Sprintf("/up/%d", i), rd)
					got := do(t, http.DefaultClient, req)
					if got.status != 200 || !bytes.Equal(got.body, body) {
						errs <- fmt.Errorf("client %d: got %d and %d bytes, want 200 and its own %d bytes", i, got.status, len(got.body), size)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			rows := rg.rows(clients)
			for _, x := range rows {
				if x.RequestBodySize != size || x.ResponseBodySize != size {
					t.Errorf("%s: sizes %d/%d, want %d", x.Path, x.RequestBodySize, x.ResponseBodySize, size)
				}
				keptWhole := !x.RequestBodyTruncated && len(x.RequestBody) == size && !x.ResponseBodyTruncated && len(x.ResponseBody) == size
				if tc.kept && !keptWhole {
					t.Errorf("%s: bodies not kept whole within the budget (request %d bytes cut %v)", x.Path, len(x.RequestBody), x.RequestBodyTruncated)
				}
				if !tc.kept && (!x.RequestBodyTruncated || !x.ResponseBodyTruncated || len(x.RequestBody) > int(tc.budget)) {
					t.Errorf("%s: over the budget but stored %d bytes, truncated %v/%v", x.Path, len(x.RequestBody), x.RequestBodyTruncated, x.ResponseBodyTruncated)
				}
			}
			if left := rg.proxy.budget.left.Load(); left != tc.budget {
				t.Errorf("budget left after the exchanges: %d, want all %d back", left, tc.budget)
			}
			if refused := rg.proxy.budget.refused.Load(); (refused > 0) == tc.kept {
				t.Errorf("bodies refused: %d", refused)
			}
		})
	}
}

func TestKeptGrowsWithinMaxAndBudget(t *testing.T) {
	b := newBudget(100 << 10)
	var k kept
	k.init(b, 80<<10, -1)
	chunk := []byte(strings.Repeat("x", 10<<10))
	for range 10 {
		k.add(chunk)
	}
	if len(k.buf) != 80<<10 || k.held > 80<<10 || k.held < int64(len(k.buf)) {
		t.Fatalf("kept %d bytes holding %d, want 80KiB within max", len(k.buf), k.held)
	}
	var k2 kept
	k2.init(b, 80<<10, -1)
	for range 10 {
		k2.add(chunk)
	}
	if got := b.left.Load() + k.held + k2.held; got != 100<<10 {
		t.Fatalf("reserved %d + %d with %d left: does not add up to the budget", k.held, k2.held, b.left.Load())
	}
	if int64(len(k2.buf)) > 100<<10-k.held {
		t.Fatalf("second body kept %d bytes past the budget", len(k2.buf))
	}
	k.release()
	k2.release()
	if b.left.Load() != 100<<10 {
		t.Fatalf("left %d after release, want the whole budget", b.left.Load())
	}
}
