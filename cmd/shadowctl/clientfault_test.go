package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/record"
)

// raiseFileLimit lifts the soft limit on open files to at least n (up to
// the hard limit); the recorder started afterwards inherits it.
func raiseFileLimit(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Skipf("open files hard limit %d < %d", lim.Max, n)
	}
	old := lim.Cur
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lim.Cur = old; _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) })
}

// rawGet sends one keep-alive GET on conn and reads the answer.
func rawGet(conn net.Conn, br *bufio.Reader, path string) (int, error) {
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: model\r\n\r\n", path); err != nil {
		return 0, err
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		return 0, err
	}
	return res.StatusCode, nil
}

// TestRecorderSurvivesBadClients runs the real recorder against clients
// that misbehave (slow headers, huge headers, a body cut short, 2000 idle
// keep-alive connections) and checks it keeps serving a well-behaved one
// and records what it served.
func TestRecorderSurvivesBadClients(t *testing.T) {
	const idle = 2000
	raiseFileLimit(t, 2*idle+1000)
	bin := buildBinary(t)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		io.WriteString(w, "ok")
	}))
	defer upstream.Close()
	dir := filepath.Join(t.TempDir(), "rec")
	// The header timeout is short for the slow client, yet not so short
	// that a loaded machine (race detector, two cores) cuts a client whose
	// request was sent at once: at 300ms, 2 of the 2000 idle connections'
	// first requests got EOF.
	p := startRecorder(t, bin, "--listen", "127.0.0.1:0", "--admin", "", "--upstream", upstream.URL,
		"--out", dir, "--instance", "bad", "--read-header-timeout", "2s", "--max-header-bytes", "64KiB")
	addr := strings.TrimPrefix(p.addr, "http://")
	served := 0
	good := func(what string) {
		t.Helper()
		res, err := http.Get(p.addr + "/good")
		if err != nil {
			t.Fatalf("after %s: %v", what, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("after %s: %d %q", what, res.StatusCode, body)
		}
		served++
	}
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	t.Run("slow headers", func(t *testing.T) {
		c := dial()
		defer c.Close()
		start := time.Now()
		if _, err := io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: model\r\n"); err != nil {
			t.Fatal(err)
		}
		good("a slow client started") // served while the slow one waits
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil || time.Since(start) > 8*time.Second {
			t.Errorf("slow client: %v after %v (read %q); want the connection closed after the 2s header timeout", err, time.Since(start), b)
		}
		good("a slow client was cut")
	})

	t.Run("huge headers", func(t *testing.T) {
		c := dial()
		defer c.Close()
		big := strings.Repeat("a", 200<<10)
		go fmt.Fprintf(c, "GET /huge HTTP/1.1\r\nHost: model\r\nX-Big: %s\r\n\r\n", big) // may fail once the server answers
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("huge headers: %d, want 431", res.StatusCode)
		}
		good("huge headers")
	})

	t.Run("disconnect mid-body", func(t *testing.T) {
		c := dial()
		fmt.Fprintf(c, "POST /cut HTTP/1.1\r\nHost: model\r\nContent-Length: 10000\r\n\r\n%s", strings.Repeat("b", 100))
		c.Close()
		good("a client left mid-body")
	})

	t.Run("idle keep-alive connections", func(t *testing.T) {
		conns := make([]net.Conn, idle)
		readers := make([]*bufio.Reader, idle)
		defer func() {
			for _, c := range conns {
				if c != nil {
					c.Close()
				}
			}
		}()
		// Open them with bounded concurrency; each sends one request and
		// then stays open and idle.
		var wg sync.WaitGroup
		var mu sync.Mutex
		var errs []error
		sem := make(chan struct{}, 50)
		for i := range idle {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				c, err := net.Dial("tcp", addr)
				if err == nil {
					conns[i], readers[i] = c, bufio.NewReader(c)
					var code int
					if code, err = rawGet(c, readers[i], fmt.Sprintf("/idle?i=%d", i)); err == nil && code != 200 {
						err = fmt.Errorf("status %d", code)
					}
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("connection %d: %w", i, err))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("%d of %d connections failed, first: %v", len(errs), idle, errors.Join(errs[:1]...))
		}
		served += idle
		good(fmt.Sprintf("%d idle connections", idle))
		// The idle connections still work.
		for i := 0; i < idle; i += 100 {
			if code, err := rawGet(conns[i], readers[i], "/again"); err != nil || code != 200 {
				t.Fatalf("idle connection %d: %d %v", i, code, err)
			}
			served++
		}
	})

	p.stop(t)
	seen, _ := readRecordings(t, dir)
	var rows int
	for _, n := range seen {
		rows += n
	}
	// Every answered exchange and the cut upload are recorded; the slow and
	// huge headers never reached the proxy.
	if rows != served+1 || seen["/cut"] != 1 || seen["/slow"] != 0 || seen["/huge"] != 0 {
		t.Errorf("%d rows for %d served + 1 cut; /cut %d, /slow %d, /huge %d", rows, served, seen["/cut"], seen["/slow"], seen["/huge"])
	}
	r, err := record.Open([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for {
		x, err := r.Next()
		if err != nil {
			break
		}
		if x.Path == "/cut" && (x.Error == "" || x.RequestBodySize != 100) {
			t.Errorf("cut upload recorded with error %q, %d body bytes; want an error and the 100 bytes", x.Error, x.RequestBodySize)
		}
	}
}
