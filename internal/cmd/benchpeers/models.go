package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The model stand-ins (the upstream and the shadows) each run in a process
// of their own, this binary started again with modelEnv set: a model-v2
// next to production is another service, and in this process they would
// share one Go runtime with each other and with the measuring (a 50 ms
// shadow's timers and goroutines slowed the upstream sharing it).
const modelEnv = "BENCHPEERS_MODEL" // "REPLY_BYTES DELAY"

var (
	modelsMu  sync.Mutex
	modelPIDs []int
)

// modelsCPU is the CPU time the model processes have used so far.
func modelsCPU() time.Duration {
	modelsMu.Lock()
	defer modelsMu.Unlock()
	var d time.Duration
	for _, pid := range modelPIDs {
		d += processTreeCPU(pid)
	}
	return d
}

// serveModel starts a model stand-in on loopback, in its own process, that
// reads the request, waits delay, and answers reply (a JSON body of that
// length, as jsonBody makes it); it returns its URL and how to stop it.
func serveModel(reply []byte, delay time.Duration) (string, func(), error) {
	addr, pid, stop, err := startSelf(fmt.Sprintf("%s=%d %s", modelEnv, len(reply), delay))
	if err != nil {
		return "", nil, err
	}
	modelsMu.Lock()
	modelPIDs = append(modelPIDs, pid)
	modelsMu.Unlock()
	return "http://" + addr, stop, nil
}

// startSelf starts this binary again with env set (a model stand-in or the
// floor proxy), which prints its address on its first line and serves
// until its stdin closes; it returns that address, the process's pid and
// how to stop it.
func startSelf(env string) (addr string, pid int, stop func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return "", 0, nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), env)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", 0, nil, err
	}
	stdin, err := cmd.StdinPipe() // closed when this process ends: the child then exits
	if err != nil {
		return "", 0, nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", 0, nil, fmt.Errorf("start a helper process: %w", err)
	}
	addr, err = bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return "", 0, nil, fmt.Errorf("helper process: no address: %w", err)
	}
	stop = func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	return strings.TrimSpace(addr), cmd.Process.Pid, stop, nil
}

// runModel is the model process: it serves until its stdin closes.
func runModel(spec string) error {
	n, d, _ := strings.Cut(spec, " ")
	replyBytes, err := strconv.Atoi(n)
	if err != nil {
		return fmt.Errorf("%s %q: %w", modelEnv, spec, err)
	}
	delay, err := time.ParseDuration(d)
	if err != nil {
		return fmt.Errorf("%s %q: %w", modelEnv, spec, err)
	}
	reply := jsonBody(replyBytes, 7)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// The fast models answer on net/http, like a real model server; the
	// slow shadow on serveSlow. Either serves until stdin closes.
	serve := func() error { return serveSlow(ln, reply, delay) }
	stop := func() { _ = ln.Close() }
	if delay == 0 {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(reply)
		})}
		serve = func() error {
			if err := srv.Serve(ln); err != http.ErrServerClosed {
				return err
			}
			return nil
		}
		stop = func() { _ = srv.Close() }
	}
	fmt.Println(ln.Addr().String())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	return serve()
}

// serveSlow is the slow shadow until ln is closed: each request is read,
// and answered reply after delay, on a lean HTTP/1.1 loop of its own (one
// goroutine per connection, keep-alive, Content-Length bodies only). The
// shadow it stands for is another service, on other cores in production;
// here it shares the recorder's two, and net/http's server spent about
// 95 µs of CPU on each 50 ms request under the benchmark's load (a
// background read armed and aborted around each handler, and the wake-ups
// of a mostly idle runtime), against 28 µs for the fast one. This loop
// spends about 20 µs per request against wrk -c64 (net/http 45).
func serveSlow(ln net.Listener, reply []byte, delay time.Duration) error {
	head := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(reply))
	answer := append([]byte(head), reply...)
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go func() {
			defer c.Close()
			br := bufio.NewReaderSize(c, 4096)
			for {
				keep, err := readRequest(br)
				if err != nil {
					return
				}
				time.Sleep(delay)
				if _, err := c.Write(answer); err != nil || !keep {
					return
				}
			}
		}()
	}
}

// readRequest reads one request, its body discarded; keep says the
// connection stays open after the answer. A request it cannot frame
// (chunked, say) is an error: the connection is closed.
func readRequest(br *bufio.Reader) (keep bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return false, err
	}
	keep = !bytes.Contains(line, []byte("HTTP/1.0"))
	n := int64(0)
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return false, err
		}
		h := bytes.TrimSpace(line)
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return false, errors.New("bad header")
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if n, err = strconv.ParseInt(string(value), 10, 64); err != nil || n < 0 {
				return false, errors.New("bad Content-Length")
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return false, errors.New("chunked body")
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				keep = false
			} else if bytes.EqualFold(value, []byte("keep-alive")) {
				keep = true
			}
		}
	}
	_, err = br.Discard(int(n))
	return keep, err
}
