package h1

import (
	"bufio"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The header timeout bounds the wait for the head only: a body whose pieces
// come further apart than it is read whole, each read bounded by the read
// timeout alone.
func TestBodyReadsOutlastTheHeaderTimeout(t *testing.T) {
	const gap = 200 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	defer func() { _ = ln.Close(); <-done }()
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		for {
			line, err := br.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\na")
		time.Sleep(gap) // the upstream's pace: longer than the header timeout
		_, _ = io.WriteString(conn, "b")
	}()
	c, err := NewClient(&url.URL{Scheme: "http", Host: ln.Addr().String()}, Options{HeaderTimeout: gap / 4, ReadTimeout: 10 * gap})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, status, body := exchange(t, c); status != 200 || body != "ab" {
		t.Fatalf("got %d %q, want 200 \"ab\"", status, body)
	}
}

// A connection goes back to the pool without the deadlines of its last
// exchange: idle for longer than they were, it is still reused, and the
// next exchange is not cut by them.
func TestPutClearsTheDeadlines(t *testing.T) {
	const d = 50 * time.Millisecond
	body := strings.Repeat("b", 64<<10) // more than the buffer: read through the deadline
	cases := []struct {
		name string
		opts Options
	}{
		{"both timeouts", Options{HeaderTimeout: d, ReadTimeout: d}},
		{"header timeout only", Options{HeaderTimeout: d}},
		{"read timeout only", Options{ReadTimeout: d}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeer(t, func(int) string { return head(128, len(body)) + body })
			c, err := NewClient(p.url, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			first, status, got := exchange(t, c)
			if status != 200 || got != body {
				t.Fatalf("first exchange: %d, %d bytes; want 200, %d", status, len(got), len(body))
			}
			time.Sleep(3 * d) // idle past every deadline the exchange set, within maxIdleAge
			second, status, got := exchange(t, c)
			if status != 200 || got != body {
				t.Fatalf("second exchange: %d, %d bytes; want 200, %d", status, len(got), len(body))
			}
			if second != first || !second.Reused() {
				t.Errorf("second exchange on a new connection: the idle one looked unclean (a deadline left on it?)")
			}
		})
	}
}
