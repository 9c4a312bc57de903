package shadow

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/record"
	"github.com/shadowctl/shadowctl/replay"
)

// rawShadow answers every request on loopback with the bytes of answer,
// after delay, then closes the connection when closeAfter is set. It
// frames requests by Content-Length only, on a goroutine per connection:
// the least a server does, so that a benchmark's CPU is the client's.
func rawShadow(tb testing.TB, answer string, closeAfter bool, delay time.Duration) *url.URL {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	ans := []byte(answer)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					n := 0 // no Content-Length: no body
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(bytes.TrimSpace(line)) == 0 {
							break
						}
						if name, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(name, []byte("Content-Length")) {
							n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
						}
					}
					if _, err := br.Discard(n); err != nil {
						return
					}
					time.Sleep(delay)
					if _, err := c.Write(ans); err != nil || closeAfter {
						return
					}
				}
			}()
		}
	}()
	return &url.URL{Scheme: "http", Host: ln.Addr().String()}
}

// The shadow's answer body is kept whole when its framing says where it
// ends, refused past MaxBody, and an error when the connection ends
// before it: a length given or chunked, a HEAD's length with no body.
func TestShadowReadsAnswerBodies(t *testing.T) {
	const max = 16
	cases := []struct {
		name, method, answer string
		closeAfter           bool
		body                 string
		kind                 string
	}{
		{"length", "POST", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, "hello", ""},
		{"length 0", "POST", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, "", ""},
		{"length max", "POST", "HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n0123456789abcdef", false, "0123456789abcdef", ""},
		{"length past max", "POST", "HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n0123456789abcdefg", false, "", replay.KindTooLarge},
		{"shorter than its length", "POST", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", true, "", replay.KindReset},
		{"chunked", "POST", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n", false, "hello", ""},
		{"chunked past max", "POST", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n11\r\n0123456789abcdefg\r\n0\r\n\r\n", false, "", replay.KindTooLarge},
		{"until close", "POST", "HTTP/1.1 200 OK\r\n\r\nhello", true, "hello", ""},
		{"HEAD", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rows := &memRows{}
			s, err := New(Options{Target: rawShadow(t, tc.answer, tc.closeAfter, 0), Sample: 1, Rows: rows, MaxBody: max, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			const n = 3 // in a row: a kept connection carries the next
			for i := range n {
				m := s.Offer(&record.MirrorRequest{ID: strconv.Itoa(i), Method: tc.method, Target: "/p", Header: http.Header{}, Body: []byte("{}")})
				if m == nil {
					t.Fatal("copy dropped")
				}
				m.Primary(&record.MirrorAnswer{Status: 200, Body: []byte("x")})
			}
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(rows.rows) != n {
				t.Fatalf("%d rows, want %d", len(rows.rows), n)
			}
			for _, r := range rows.rows {
				if r.CandidateErrorKind != tc.kind || string(r.CandidateBody) != tc.body {
					t.Errorf("row %s: kind %q (%s), body %q; want kind %q, body %q", r.ID, r.CandidateErrorKind, r.CandidateError, r.CandidateBody, tc.kind, tc.body)
				}
				if tc.kind == "" && r.CandidateStatus != 200 {
					t.Errorf("row %s: status %d", r.ID, r.CandidateStatus)
				}
			}
		})
	}
}
