package h1

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"
)

// BenchmarkExchange is one GET and its 1 KiB answer on a reused connection,
// with every limit on as the recorder runs it (header and read timeouts, the
// head cap): what the client costs per request beyond the two system calls
// of the exchange itself.
func BenchmarkExchange(b *testing.B) {
	body := strings.Repeat("b", 1<<10)
	p := newPeer(b, func(int) string { return head(128, len(body)) + body })
	c, err := NewClient(p.url, Options{HeaderTimeout: time.Minute, ReadTimeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	exchange(b, c) // dial
	b.ReportAllocs()
	for b.Loop() {
		if pc, status, got := exchange(b, c); status != 200 || len(got) != len(body) || !pc.Reused() {
			b.Fatalf("got %d, %d bytes, reused %v; want 200, %d bytes on the same connection", status, len(got), pc.Reused(), len(body))
		}
	}
}

// BenchmarkReuse is what taking an idle connection and putting it back
// costs: the idle check (one system call) and the pool's bookkeeping.
func BenchmarkReuse(b *testing.B) {
	p := newPeer(b, func(int) string { return "HTTP/1.1 204 No Content\r\n\r\n" })
	c, err := NewClient(p.url, Options{HeaderTimeout: time.Minute, ReadTimeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	exchange(b, c) // dial
	b.ReportAllocs()
	for b.Loop() {
		pc, err := c.Get(b.Context())
		if err != nil || !pc.Reused() {
			b.Fatalf("Get: %v, reused %v; want the idle connection", err, pc.Reused())
		}
		c.Put(pc)
	}
}

// BenchmarkReadHead reads the head of a model server's answer (Go's
// server: Content-Type, Date, Content-Length) from a buffer, on readHead's
// fast path and on http.ReadResponse, the path every other head takes.
func BenchmarkReadHead(b *testing.B) {
	raw := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Fri, 04 Dec 2026 01:00:00 GMT\r\nContent-Length: 1021\r\n\r\n" +
		strings.Repeat("b", 1021)
	for _, path := range []string{"readHead", "http.ReadResponse"} {
		b.Run(path, func(b *testing.B) {
			r := strings.NewReader(raw)
			br := bufio.NewReaderSize(r, 4096)
			req := &http.Request{Method: http.MethodPost}
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(raw)
				br.Reset(r)
				_, _ = br.Peek(1)
				var res *http.Response
				if path == "readHead" {
					res = readHead(br, req)
				} else {
					res, _ = http.ReadResponse(br, req)
				}
				if res == nil || res.ContentLength != 1021 {
					b.Fatalf("%s: %+v", path, res)
				}
			}
		})
	}
}
