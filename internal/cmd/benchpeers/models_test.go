package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// The slow stand-in answers each request on a kept-alive connection after
// its delay, closes after one that asks it to, and closes a connection
// whose body it cannot frame without answering it.
func TestServeSlow(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serveSlow(ln, []byte(`{"p":[1]}`), 20*time.Millisecond) }()
	defer func() {
		_ = ln.Close()
		if err := <-done; err != nil {
			t.Errorf("serveSlow: %v", err)
		}
	}()
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		return c, bufio.NewReader(c)
	}
	c, br := dial()
	defer c.Close()
	for i, req := range []string{
		"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /c HTTP/1.1\r\nHost: x\r\nconnection: Close\r\ncontent-length: 2\r\n\r\nhi",
	} {
		start := time.Now()
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || string(body) != `{"p":[1]}` || res.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("request %d: %d %q %v", i, res.StatusCode, body, res.Header)
		}
		if d := time.Since(start); d < 20*time.Millisecond {
			t.Errorf("request %d answered after %v, before the delay", i, d)
		}
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after Connection: close, read %v, want EOF", err)
	}

	c2, br2 := dial()
	defer c2.Close()
	if _, err := io.WriteString(c2, "POST /d HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if b, err := br2.ReadString('\n'); err != io.EOF || b != "" {
		t.Errorf("chunked request: read %q, %v; want the connection closed unanswered", b, err)
	}
}
