package replay

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/record"
)

// rawTarget serves every connection accepted on loopback with serve, until
// the test ends.
func rawTarget(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// A recording is untrusted input: a header value holding CR LF would add a
// header (or a whole request) of the file's choosing. It is a row with an
// error, and nothing of it reaches the target.
func TestRecordedHeaderWithCRLFIsNotSent(t *testing.T) {
	var injected, requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Header.Get("X-Injected") != "" {
			injected.Add(1)
		}
		okHandler(w, r)
	}))
	defer srv.Close()
	xs := exchanges(3, "/p")
	xs[1].RequestHeaders = append(xs[1].RequestHeaders, record.Header{Name: "X-A", Value: "v\r\nX-Injected: 1"})
	sink := &memWriter{}
	sum, err := Run(context.Background(), Options{Target: mustURL(t, srv.URL), Concurrency: 1, EarlyStop: -1},
		&sliceSource{xs: xs}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 3 || sum.OK != 2 || sum.Errors[KindOther] != 1 {
		t.Errorf("summary %+v, want 2 ok and 1 %s", sum, KindOther)
	}
	r := sink.byID()[xs[1].ID]
	if r.CandidateErrorKind != KindOther || !strings.Contains(r.CandidateError, "control character") {
		t.Errorf("row of the bad header: kind %q error %q", r.CandidateErrorKind, r.CandidateError)
	}
	if requests.Load() != 2 || injected.Load() != 0 {
		t.Errorf("target got %d requests, %d with the injected header; want 2 and 0", requests.Load(), injected.Load())
	}
}

// A target that sends more than its answer's framing says (a second answer
// nobody asked for) must not have those bytes read as the next request's
// answer: each row gets the answer to its own request.
func TestExtraBytesAreNeverTheNextAnswer(t *testing.T) {
	url := rawTarget(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			id := req.Header.Get("X-Id")
			// One write: the extra answer arrives with the real one
			// (bytes that come after a connection went back out can be
			// told from an answer by no client).
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%sHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil", len(id), id)
		}
	})
	xs := exchanges(20, "/p")
	for i := range xs {
		xs[i].RequestHeaders = append(xs[i].RequestHeaders, record.Header{Name: "X-Id", Value: xs[i].ID})
	}
	sink := &memWriter{}
	if _, err := Run(context.Background(), Options{Target: mustURL(t, url), Concurrency: 2, EarlyStop: -1},
		&sliceSource{xs: xs}, sink); err != nil {
		t.Fatal(err)
	}
	if len(sink.rows) != len(xs) {
		t.Fatalf("%d rows, want %d", len(sink.rows), len(xs))
	}
	for _, r := range sink.rows {
		if r.CandidateErrorKind != "" || string(r.CandidateBody) != r.ID {
			t.Errorf("row %s: kind %q error %q body %q, want its own id", r.ID, r.CandidateErrorKind, r.CandidateError, r.CandidateBody)
		}
	}
}

// A target that closes every kept-alive connection after its answer,
// without saying so: a request safe to repeat that meets the closed
// connection goes again on a new one, and every row is an answer.
func TestClosedKeepAliveConnectionIsRetriedWhenSafe(t *testing.T) {
	var conns atomic.Int64
	url := rawTarget(t, func(c net.Conn, br *bufio.Reader) {
		conns.Add(1)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	xs := exchanges(10, "/p")
	for i := range xs {
		xs[i].Method, xs[i].RequestBody = http.MethodGet, nil
	}
	sink := &memWriter{}
	sum, err := Run(context.Background(), Options{Target: mustURL(t, url), Concurrency: 1, EarlyStop: -1},
		&sliceSource{xs: xs}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if sum.OK != 10 {
		t.Errorf("summary %+v, want 10 ok", sum)
	}
	for _, r := range sink.rows {
		if string(r.CandidateBody) != "ok" {
			t.Errorf("row %s: %q %q", r.ID, r.CandidateError, r.CandidateBody)
		}
	}
	if conns.Load() < 10 {
		t.Errorf("%d connections for 10 requests on a target closing each", conns.Load())
	}
}

// An https:// target is trusted through Options.TLS (record's --ca-file).
func TestHTTPSTargetWithItsCA(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(okHandler))
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	sink := &memWriter{}
	sum, err := Run(context.Background(), Options{Target: mustURL(t, srv.URL), Concurrency: 2, TLS: &tls.Config{RootCAs: pool}},
		&sliceSource{xs: exchanges(5, "/p")}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if sum.OK != 5 {
		t.Errorf("summary %+v, want 5 ok", sum)
	}
	for _, r := range sink.rows {
		if r.CandidateStatus != 200 || string(r.CandidateBody) != `{"ok":true}` {
			t.Errorf("row %s: %d %q %q", r.ID, r.CandidateStatus, r.CandidateError, r.CandidateBody)
		}
	}
}

// An answer longer than MaxBody that goes on and on (streamed chunked, to
// the close, or with a Content-Length it takes its time to honor) is read
// no further than MaxBody: its row is body_too_large at that moment, the
// connection is dropped rather than drained until Timeout (net/http's
// Close of a response body reads the rest) and never carries the next
// request.
func TestEndlessAnswerStopsAtMaxBody(t *testing.T) {
	const timeout = 30 * time.Second
	heads := map[string]string{
		"/chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"/close":   "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
		"/length":  "HTTP/1.1 200 OK\r\nContent-Length: 1099511627776\r\n\r\n",
	}
	url := rawTarget(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			head, endless := heads[req.URL.Path]
			if !endless {
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				continue
			}
			c.Write([]byte(head))
			piece := bytes.Repeat([]byte("x"), 16<<10)
			if req.URL.Path == "/chunked" {
				piece = append([]byte(fmt.Sprintf("%x\r\n", len(piece))), append(piece, "\r\n"...)...)
			}
			// Until the client goes away.
			for {
				if _, err := c.Write(piece); err != nil {
					return
				}
			}
		}
	})
	for _, client := range []string{"h1", "net/http"} {
		for path := range heads {
			t.Run(client+path, func(t *testing.T) {
				opts := Options{Target: mustURL(t, url), Concurrency: 1, MaxBody: 1 << 20, Timeout: timeout, EarlyStop: -1}
				if client == "net/http" {
					opts.Client = NewClient(1, nil)
					defer opts.Client.CloseIdleConnections()
				}
				xs := []record.Exchange{ex(0, path), ex(1, "/next")}
				sink := &memWriter{}
				start := time.Now()
				if _, err := Run(context.Background(), opts, &sliceSource{xs: xs}, sink); err != nil {
					t.Fatal(err)
				}
				if elapsed := time.Since(start); elapsed > timeout/2 {
					t.Errorf("the run took %v: the answer was read past --max-body (timeout %v)", elapsed, timeout)
				}
				rows := sink.byID()
				r := rows[xs[0].ID]
				if r.CandidateErrorKind != KindTooLarge || r.CandidateStatus != 200 || len(r.CandidateBody) != 0 ||
					time.Duration(r.CandidateLatencyNs) > timeout/2 {
					t.Errorf("endless answer: kind %q status %d, %d bytes kept, latency %v, error %q; want %s, 200, none, at once",
						r.CandidateErrorKind, r.CandidateStatus, len(r.CandidateBody), time.Duration(r.CandidateLatencyNs),
						r.CandidateError, KindTooLarge)
				}
				if n := rows[xs[1].ID]; n.CandidateErrorKind != "" || string(n.CandidateBody) != "ok" {
					t.Errorf("next request: kind %q error %q body %.20q; want its own answer", n.CandidateErrorKind, n.CandidateError, n.CandidateBody)
				}
			})
		}
	}
}

// A target that answers a large upload early (a 413) and stops reading it
// gets that answer as its row, not the write's broken pipe: http.Transport
// reads while it writes and gives the answer, and a resend with
// --retry-errors would lose it again.
func TestEarlyAnswerToALargeUploadIsTheRow(t *testing.T) {
	url := rawTarget(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		// Answer before reading the body, stop reading, then go.
		fmt.Fprintf(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large")
		c.(*net.TCPConn).CloseWrite()
		time.Sleep(300 * time.Millisecond)
	})
	for _, client := range []string{"h1", "net/http"} {
		t.Run(client, func(t *testing.T) {
			opts := Options{Target: mustURL(t, url), Concurrency: 1, MaxBody: 1 << 20, Timeout: 10 * time.Second, EarlyStop: -1}
			if client == "net/http" {
				opts.Client = NewClient(1, nil)
				defer opts.Client.CloseIdleConnections()
			}
			r := replayUpload(t, opts)
			if r.CandidateStatus != 413 || string(r.CandidateBody) != "too large" || r.CandidateErrorKind != KindHTTP4xx {
				t.Errorf("row: status %d, body %q, kind %q, error %q; want 413, its body, %s",
					r.CandidateStatus, r.CandidateBody, r.CandidateErrorKind, r.CandidateError, KindHTTP4xx)
			}
		})
	}
}

// A target that answers a large upload early and keeps the connection
// open without reading the rest, and one that answers in full before it
// reads the body (full duplex): the answer is the row, as http.Transport
// gives it, not a timeout after --timeout of a write that cannot end.
func TestAnswerWhileTheUploadIsStillGoingIsTheRow(t *testing.T) {
	cases := []struct {
		name   string
		serve  func(c net.Conn, br *bufio.Reader)
		status int32
		body   int
	}{
		{"413, kept open, body unread", func(c net.Conn, br *bufio.Reader) {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			fmt.Fprintf(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\n\r\ntoo large")
			time.Sleep(3 * time.Second) // past --timeout
		}, 413, 9},
		{"full duplex", func(c net.Conn, br *bufio.Reader) {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", 8<<20)
			c.Write(bytes.Repeat([]byte("d"), 8<<20))
			io.Copy(io.Discard, req.Body)
		}, 200, 8 << 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := rawTarget(t, tc.serve)
			opts := Options{Target: mustURL(t, url), Concurrency: 1, MaxBody: 16 << 20, Timeout: 2 * time.Second, EarlyStop: -1}
			r := replayUpload(t, opts)
			if r.CandidateStatus != tc.status || len(r.CandidateBody) != tc.body || r.CandidateErrorKind == KindTimeout {
				t.Errorf("row: status %d, %d body bytes, kind %q, error %q; want %d with its %d bytes",
					r.CandidateStatus, len(r.CandidateBody), r.CandidateErrorKind, r.CandidateError, tc.status, tc.body)
			}
		})
	}
}

// replayUpload replays one exchange with a 16 MiB request body and returns
// its row.
func replayUpload(t *testing.T, opts Options) Result {
	t.Helper()
	x := ex(0, "/upload")
	x.RequestBody = bytes.Repeat([]byte("u"), 16<<20)
	x.RequestBodySize = int64(len(x.RequestBody))
	sink := &memWriter{}
	if _, err := Run(context.Background(), opts, &sliceSource{xs: []record.Exchange{x}}, sink); err != nil {
		t.Fatal(err)
	}
	return sink.byID()[x.ID]
}
