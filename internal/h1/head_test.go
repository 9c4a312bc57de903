package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// fastHeads are heads readHead must read itself: the answers of model
// servers, proxies and Go's own server.
var fastHeads = []string{
	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Fri, 04 Dec 2026 01:00:00 GMT\r\nContent-Length: 5\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 201\r\ncontent-length: 3\r\nx-request-id: abc\r\nX-Multi: a\r\nx-multi:  b \t\r\n\r\nabcNEXT",
	"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 2\r\nServer: nginx/1.22\r\n\r\nno",
	"HTTP/1.1 200 \xe2\x9c\x93 fine\r\nX-Empty:\r\nX-Tab:\tv\tw\t\r\nContent-Length: 007\r\n\r\n1234567",
	"HTTP/1.1 404 Not Found\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", // the connection ends early
}

// slowHeads are heads readHead leaves to http.ReadResponse: each one is
// read or refused by ReadResponse's rules, never by readHead's.
var slowHeads = []string{
	"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",                                         // HTTP/1.0
	"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nabc",                               // no body allowed
	"HTTP/1.1 304 Not Modified\r\n\r\n",                                                     // no body allowed
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",            // interim
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",              // chunked
	"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",   // both
	"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",                    // duplicate
	"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",                   // conflicting
	"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx",                                        // not digits
	"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",                                            // empty
	"HTTP/1.1 200 OK\r\nX-Fold: a\r\n b\r\nContent-Length: 1\r\n\r\nx",                      // obs-fold
	"HTTP/1.1 200 OK\r\n X-Lead: a\r\nContent-Length: 1\r\n\r\nx",                           // leading space
	"HTTP/1.1 200 OK\nContent-Length: 1\n\nx",                                               // bare LF
	"HTTP/1.1 200 OK\r\nX-A: b\nContent-Length: 1\r\n\r\nx",                                 // one bare LF
	"HTTP/1.1 200 OK\r\nX-A: b\rc\r\nContent-Length: 1\r\n\r\nx",                            // bare CR
	"HTTP/1.1 200 OK\r\nX-A : b\r\nContent-Length: 1\r\n\r\nx",                              // space before colon
	"HTTP/1.1 200 OK\r\nX-A: b\x00\r\nContent-Length: 1\r\n\r\nx",                           // control byte
	"HTTP/1.1 200 OK\r\nNoColon\r\nContent-Length: 1\r\n\r\nx",                              // no colon
	"HTTP/1.1 200 OK\r\n: empty-name\r\nContent-Length: 1\r\n\r\nx",                         // no name
	"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",                    // close
	"HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 1\r\n\r\nx",                     // Cache-Control added
	"HTTP/1.1 200 OK\r\nTrailer: X-T\r\nContent-Length: 1\r\n\r\nx",                         // trailer
	"HTTP/1.1 200 OK\r\n\r\nuntil close",                                                    // no length
	"HTTP/1.1 20 OK\r\nContent-Length: 1\r\n\r\nx",                                          // short status
	"HTTP/1.1 2000 OK\r\nContent-Length: 1\r\n\r\nx",                                        // long status
	"HTTP/1.1  200 OK\r\nContent-Length: 1\r\n\r\nx",                                        // two spaces
	"HTTP/1.1 099 Low\r\nContent-Length: 1\r\n\r\nx",                                        // below 100
	"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n",                                              // head not whole
	"HTTP/1.1 200 OK\r\nX-" + strings.Repeat("a", 70) + ": v\r\nContent-Length: 1\r\n\r\nx", // long name
	"",
}

// readBoth reads raw as a response to method on both paths: readHead (nil
// when it leaves the head) and http.ReadResponse with checkHead, each on
// its own reader holding all of raw.
func readBoth(raw []byte, method string) (fast *http.Response, fr *bufio.Reader, slow *http.Response, slowErr error, sr *bufio.Reader) {
	req := &http.Request{Method: method}
	fr = bufio.NewReaderSize(bytes.NewReader(raw), 4096)
	_, _ = fr.Peek(1)
	fast = readHead(fr, req)
	sr = bufio.NewReaderSize(bytes.NewReader(raw), 4096)
	slow, slowErr = http.ReadResponse(sr, req)
	if slowErr == nil {
		slowErr = checkHead(slow)
	}
	return fast, fr, slow, slowErr, sr
}

// sameAnswer fails unless the fast response is what ReadResponse made of
// the same bytes: head, framing, body bytes and error, and the bytes left
// on the connection after it.
func sameAnswer(t *testing.T, raw []byte, fast *http.Response, fr *bufio.Reader, slow *http.Response, slowErr error, sr *bufio.Reader) {
	t.Helper()
	if slowErr != nil {
		t.Fatalf("%q: readHead read a head http.ReadResponse refuses (%v)", raw, slowErr)
	}
	type head struct {
		Status                 string
		StatusCode             int
		Proto                  string
		ProtoMajor, ProtoMinor int
		Header                 http.Header
		ContentLength          int64
		TransferEncoding       []string
		Close, Uncompressed    bool
		Trailer                http.Header
		NoBody                 bool
	}
	of := func(r *http.Response) head {
		return head{r.Status, r.StatusCode, r.Proto, r.ProtoMajor, r.ProtoMinor, r.Header, r.ContentLength,
			r.TransferEncoding, r.Close, r.Uncompressed, r.Trailer, r.Body == http.NoBody}
	}
	if f, s := of(fast), of(slow); !reflect.DeepEqual(f, s) {
		t.Fatalf("%q:\nreadHead         %+v\nhttp.ReadResponse %+v", raw, f, s)
	}
	fb, ferr := io.ReadAll(fast.Body)
	sb, serr := io.ReadAll(slow.Body)
	if !bytes.Equal(fb, sb) || !errors.Is(ferr, serr) && ferr != serr {
		t.Fatalf("%q: body %q, %v; http.ReadResponse's %q, %v", raw, fb, ferr, sb, serr)
	}
	if fast.Body.Close() != nil || slow.Body.Close() != nil {
		t.Fatalf("%q: Close after the end of the body failed", raw)
	}
	fl, _ := io.ReadAll(fr)
	sl, _ := io.ReadAll(sr)
	if !bytes.Equal(fl, sl) {
		t.Fatalf("%q: left on the connection %q; after http.ReadResponse %q", raw, fl, sl)
	}
}

func TestReadHeadReadsCommonHeadsAsReadResponse(t *testing.T) {
	for _, raw := range fastHeads {
		fast, fr, slow, slowErr, sr := readBoth([]byte(raw), http.MethodPost)
		if fast == nil {
			t.Fatalf("%q: left to http.ReadResponse, want the fast path", raw)
		}
		sameAnswer(t, []byte(raw), fast, fr, slow, slowErr, sr)
	}
}

func TestReadHeadLeavesTheRestToReadResponse(t *testing.T) {
	for _, raw := range slowHeads {
		fr := bufio.NewReaderSize(strings.NewReader(raw), 4096)
		_, _ = fr.Peek(1)
		n := fr.Buffered()
		if res := readHead(fr, &http.Request{Method: http.MethodGet}); res != nil {
			t.Errorf("%q: read on the fast path (status %d), want it left to http.ReadResponse", raw, res.StatusCode)
		}
		if fr.Buffered() != n {
			t.Errorf("%q: readHead consumed %d bytes of a head it left", raw, n-fr.Buffered())
		}
		// Leaving a head costs nothing beyond ReadResponse's own work.
		get := &http.Request{Method: http.MethodGet}
		if a := testing.AllocsPerRun(20, func() { readHead(fr, get) }); a != 0 {
			t.Errorf("%q: readHead allocated %.0f times before leaving the head", raw, a)
		}
	}
	// A HEAD answer's Content-Length frames no body.
	if readHead(bufio.NewReader(strings.NewReader(fastHeads[0])), &http.Request{Method: http.MethodHead}) != nil {
		t.Error("the answer to HEAD was read on the fast path")
	}
}

// TestLengthBodyAsNetHTTPs: reads after Close fail as net/http's do, Close
// reads what is left, and an early end is io.ErrUnexpectedEOF.
func TestLengthBodyAsNetHTTPs(t *testing.T) {
	raw := "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcdNEXT"
	fast, fr, slow, _, sr := readBoth([]byte(raw), http.MethodGet)
	if fast == nil {
		t.Fatal("left to http.ReadResponse")
	}
	p := make([]byte, 2)
	for _, b := range []io.ReadCloser{fast.Body, slow.Body} {
		if n, err := b.Read(p); n != 2 || err != nil {
			t.Fatalf("first read: %d, %v", n, err)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if _, err := b.Read(p); err != http.ErrBodyReadAfterClose {
			t.Fatalf("read after Close: %v, want http.ErrBodyReadAfterClose", err)
		}
	}
	fl, _ := io.ReadAll(fr)
	sl, _ := io.ReadAll(sr)
	if string(fl) != "NEXT" || string(sl) != "NEXT" {
		t.Fatalf("left after Close: %q and %q, want NEXT (Close reads the rest of the body)", fl, sl)
	}
}

// FuzzReadHead: whatever the bytes, readHead either leaves them untouched
// or reads exactly what http.ReadResponse (and checkHead) reads.
func FuzzReadHead(f *testing.F) {
	for _, h := range append(append([]string{}, fastHeads...), slowHeads...) {
		f.Add([]byte(h), false)
	}
	f.Fuzz(func(t *testing.T, raw []byte, head bool) {
		method := http.MethodPost
		if head {
			method = http.MethodHead
		}
		fast, fr, slow, slowErr, sr := readBoth(raw, method)
		if fast == nil {
			return
		}
		sameAnswer(t, raw, fast, fr, slow, slowErr, sr)
	})
}
