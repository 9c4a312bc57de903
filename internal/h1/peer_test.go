package h1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// peer is a raw HTTP/1.1 upstream on loopback: it answers every request
// head on a connection with respond's bytes, as they are, so that a test
// can send what no well-behaved server would.
type peer struct {
	url      *url.URL
	accepted chan net.Conn // the server's end of each connection, in order
}

func newPeer(t testing.TB, respond func(n int) string) *peer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{url: &url.URL{Scheme: "http", Host: ln.Addr().String()}, accepted: make(chan net.Conn, 16)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			p.accepted <- conn
			wg.Go(func() { serve(conn, respond) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return p
}

// serve answers the n-th request head of conn (from 0) with respond(n).
func serve(conn net.Conn, respond func(n int) string) {
	br := bufio.NewReader(conn)
	for n := 0; ; n++ {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\r\n" {
				break
			}
		}
		if _, err := io.WriteString(conn, respond(n)); err != nil {
			return
		}
	}
}

// exchange sends a GET on a connection from c and reads its answer whole,
// as a caller of the package does; the connection goes back to the pool.
func exchange(t testing.TB, c *Client) (pc *Conn, status int, body string) {
	t.Helper()
	pc, err := c.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, "http://upstream/", nil)
	if err != nil {
		t.Fatal(err)
	}
	WriteRequestHead(pc.Writer(), req, c.Target("/"), "upstream", NewEndToEnd(req.Header), false)
	if err := pc.Writer().Flush(); err != nil {
		t.Fatal(err)
	}
	pc.ArmHeaderTimeout()
	res, err := ReadResponse(pc.Reader(), req, nil)
	pc.EndHead()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if _, err := io.Copy(&b, res.Body); err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	c.Put(pc)
	return pc, res.StatusCode, b.String()
}
