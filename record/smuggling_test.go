package record

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// framingUpstream answers every request it can read whole with 200 "ok",
// and keeps the raw bytes it received and the requests it read to their
// end: what a model behind the recorder would act on.
type framingUpstream struct {
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	raw  bytes.Buffer
	done []string // "METHOD target body" of each complete request
}

func newFramingUpstream(t *testing.T) *framingUpstream {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := &framingUpstream{ln: ln}
	up.wg.Add(1)
	go func() {
		defer up.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up.wg.Add(1)
			go func() {
				defer up.wg.Done()
				defer c.Close()
				up.serve(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); up.wg.Wait() })
	return up
}

type teeConn struct {
	net.Conn
	up *framingUpstream
}

func (c teeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.up.mu.Lock()
	c.up.raw.Write(p[:n])
	c.up.mu.Unlock()
	return n, err
}

func (up *framingUpstream) serve(c net.Conn) {
	br := bufio.NewReader(teeConn{c, up})
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return // an incomplete request is never acted on
		}
		up.mu.Lock()
		up.done = append(up.done, fmt.Sprintf("%s %s %q", req.Method, req.RequestURI, body))
		up.mu.Unlock()
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
			return
		}
	}
}

func (up *framingUpstream) seen() (raw string, done []string) {
	up.mu.Lock()
	defer up.mu.Unlock()
	return up.raw.String(), append([]string(nil), up.done...)
}

// Request smuggling on the path that serves production (NewRecorder's
// server, the proxy and its upstream client): every message whose framing
// is ambiguous or broken is refused as Go's server refuses it, and what the
// upstream receives has one framing only, so that it can never read a
// request the recorder did not see as one (or a part of one as a whole).
// Where Go's server accepts a message (both Content-Length and
// Transfer-Encoding: the latter wins; obs-fold: unfolded; bare LF ends a
// header line), the upstream gets it in the one unambiguous form.
func TestRecorderKeepsOneFramingUpstream(t *testing.T) {
	cases := []struct {
		name, raw string
		statuses  []int    // the client's answers, in order
		upstream  []string // the requests the upstream read whole
		notInRaw  []string // never on the upstream's wire
	}{
		{name: "Content-Length and Transfer-Encoding",
			raw:      "POST /a HTTP/1.1\r\nHost: m\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: m\r\n\r\n",
			statuses: []int{200, 200}, upstream: []string{`POST /a ""`, `GET /b ""`}, notInRaw: []string{"Content-Length: 4"}},
		{name: "Transfer-Encoding and Content-Length",
			raw:      "POST /a HTTP/1.1\r\nHost: m\r\nTransfer-Encoding: chunked\r\nContent-Length: 41\r\n\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: m\r\n\r\n",
			statuses: []int{200, 200}, upstream: []string{`POST /a ""`, `GET /b ""`}, notInRaw: []string{"Content-Length: 41"}},
		{name: "duplicate Content-Length",
			raw:      "POST /a HTTP/1.1\r\nHost: m\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcdGET /b HTTP/1.1\r\nHost: m\r\n\r\n",
			statuses: []int{400}},
		{name: "Content-Length list",
			raw: "POST /a HTTP/1.1\r\nHost: m\r\nContent-Length: 4, 40\r\n\r\nabcd", statuses: []int{400}},
		{name: "signed Content-Length",
			raw: "POST /a HTTP/1.1\r\nHost: m\r\nContent-Length: +4\r\n\r\nabcd", statuses: []int{400}},
		{name: "space before the colon",
			raw: "POST /a HTTP/1.1\r\nHost: m\r\nTransfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\nabcd", statuses: []int{400}},
		{name: "unknown transfer coding",
			raw: "POST /a HTTP/1.1\r\nHost: m\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", statuses: []int{501}},
		{name: "obs-fold",
			raw:      "POST /a HTTP/1.1\r\nHost: m\r\nX-A: 1\r\n  folded\r\nContent-Length: 4\r\n\r\nabcd",
			statuses: []int{200}, upstream: []string{`POST /a "abcd"`}, notInRaw: []string{"\r\n  folded", "\r\n folded"}},
		{name: "obs-fold Transfer-Encoding with a Content-Length",
			raw:      "POST /a HTTP/1.1\r\nHost: m\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 4\r\n\r\nzzzz\r\n",
			statuses: []int{400}, notInRaw: []string{"Content-Length: 4"}},
		{name: "bare LF",
			raw:      "POST /a HTTP/1.1\nHost: m\nX-B: 1\nContent-Length: 4\n\nabcd",
			statuses: []int{200}, upstream: []string{`POST /a "abcd"`}},
		{name: "invalid chunk size",
			raw: "POST /a HTTP/1.1\r\nHost: m\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabcd\r\n0\r\n\r\n", statuses: []int{400}},
		{name: "chunk size overflow",
			raw: "POST /a HTTP/1.1\r\nHost: m\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nabcd\r\n0\r\n\r\n", statuses: []int{400}},
		{name: "negative-looking chunk size",
			raw: "POST /a HTTP/1.1\r\nHost: m\r\nTransfer-Encoding: chunked\r\n\r\n-4\r\nabcd\r\n0\r\n\r\n", statuses: []int{400}},
		{name: "chunk line ends with bare LF",
			raw: "POST /a HTTP/1.1\r\nHost: m\r\nTransfer-Encoding: chunked\r\n\r\n4\nabcd\r\n0\r\n\r\n", statuses: []int{400}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			up := newFramingUpstream(t)
			rec, _ := newTestRecorder(t, "http://"+up.ln.Addr().String(), "127.0.0.1:0", nil)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- rec.Run(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Error(err)
				}
			}()

			conn, err := net.Dial("tcp", rec.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, c.raw); err != nil {
				t.Fatal(err)
			}
			// Read the answers expected, then, when the last one closed the
			// connection, that nothing follows it.
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(conn)
			var statuses []int
			closed := false
			for len(statuses) < len(c.statuses) && !closed {
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Errorf("after %v: %v", statuses, err)
					break
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				statuses, closed = append(statuses, res.StatusCode), res.Close
			}
			if closed {
				if n, err := br.Read(make([]byte, 1)); n > 0 || err != io.EOF {
					t.Errorf("bytes after the closing answer: %d, %v", n, err)
				}
			}
			if fmt.Sprint(statuses) != fmt.Sprint(c.statuses) {
				t.Errorf("client got %v, want %v", statuses, c.statuses)
			}
			raw, got := up.seen()
			if fmt.Sprint(got) != fmt.Sprint(c.upstream) {
				t.Errorf("upstream read %q whole, want %q", got, c.upstream)
			}
			for _, s := range c.notInRaw {
				if strings.Contains(raw, s) {
					t.Errorf("upstream wire holds %q:\n%q", s, raw)
				}
			}
			if strings.Contains(raw, "Content-Length") && strings.Contains(raw, "Transfer-Encoding") {
				t.Errorf("upstream wire holds both framings:\n%q", raw)
			}
			if strings.Count(raw, "\n") != strings.Count(raw, "\r\n") {
				t.Errorf("upstream wire holds a bare LF:\n%q", raw)
			}
		})
	}
}
