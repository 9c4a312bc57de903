package h1

import (
	"bufio"
	"net/http"
	"strconv"

	"golang.org/x/net/http/httpguts"
)

// WriteRequestHead writes the request line and headers the upstream gets:
// r's method, target, host and end-to-end headers (keep), and the body's
// framing (r.ContentLength, or chunked when its length is unknown). It
// writes to bw directly, so that a request costs no header map of its own;
// errors show when bw is flushed.
func WriteRequestHead(bw *bufio.Writer, r *http.Request, target, host string, keep EndToEnd, chunked bool) {
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(target)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	for k, vs := range r.Header {
		if !keep.Keep(k) || k == "Host" || k == "Content-Length" {
			continue
		}
		for _, v := range vs {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	if te := r.Header["Te"]; len(te) > 0 && hasToken(te, "trailers") {
		bw.WriteString("Te: trailers\r\n")
	}
	switch {
	case chunked:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
		// The trailer fields the client announced follow the body (see
		// WriteTrailer).
		first := true
		for k := range r.Trailer {
			if !trailerName(k) {
				continue
			}
			if first {
				bw.WriteString("Trailer: ")
			} else {
				bw.WriteString(", ")
			}
			bw.WriteString(k)
			first = false
		}
		if !first {
			bw.WriteString("\r\n")
		}
	case r.ContentLength > 0:
		bw.WriteString("Content-Length: ")
		bw.WriteString(strconv.FormatInt(r.ContentLength, 10))
		bw.WriteString("\r\n")
	case r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch:
		bw.WriteString("Content-Length: 0\r\n")
	}
	bw.WriteString("\r\n")
}

// WriteTrailer ends a chunked body: the last chunk, the trailer fields of
// t (a request's Trailer, filled once its body was read to the end) that
// may be trailers, and the empty line.
func WriteTrailer(bw *bufio.Writer, t http.Header) {
	bw.WriteString("0\r\n")
	for k, vs := range t {
		if !trailerName(k) {
			continue
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				continue
			}
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	bw.WriteString("\r\n")
}

// trailerName reports whether k may be sent as a trailer field: a valid
// name, and none that framing or routing needs in the head.
func trailerName(k string) bool {
	return httpguts.ValidHeaderFieldName(k) && httpguts.ValidTrailerHeader(k)
}

// Retryable reports whether r may be sent again after a kept-alive
// connection failed before any byte of its answer: the upstream may have
// acted on it, so only requests that are safe to repeat are (http.Transport's
// rule: idempotent methods, or an Idempotency-Key).
func Retryable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return r.Header["Idempotency-Key"] != nil || r.Header["X-Idempotency-Key"] != nil
}
