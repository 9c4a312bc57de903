// Package record owns the recording format, the recorder's reverse proxy,
// the rotating Parquet sink and reading recordings back.
package record

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/shadowctl/shadowctl/internal/parquetfile"
)

// Schema is the value of the "shadowctl.schema" key/value metadata of every
// recording file. It changes only with a new version and a reader that still
// reads the old one.
const Schema = "shadowctl.recording/2"

// Schemas are the versions the readers read: /1 lacks the answer timing
// columns, which read as 0 and empty.
var Schemas = []string{"shadowctl.recording/1", Schema}

// Header is one header field value. A header with several values is stored as
// several Headers with the same Name, in order.
type Header struct {
	Name  string `parquet:"name"`
	Value string `parquet:"value"`
}

// Exchange is one recorded request and the upstream's answer: one row of a
// recording file. The parquet tags are the column names of the documented
// format (README, "Recording format").
type Exchange struct {
	// ID is unique and sorts by time: 16 hex digits of the start time in
	// nanoseconds since the Unix epoch, then 16 random hex digits.
	ID        string    `parquet:"id"`
	StartedAt time.Time `parquet:"started_at,timestamp(nanosecond)"`
	Method    string    `parquet:"method,dict"`
	Host      string    `parquet:"host,dict"`
	// Path is the request path with its raw query, as sent by the client.
	Path                 string   `parquet:"path"`
	RequestHeaders       []Header `parquet:"request_headers,list"`
	RequestBody          []byte   `parquet:"request_body"`
	RequestBodyTruncated bool     `parquet:"request_body_truncated"`
	// RequestBodySize is the full size of the body as it passed through,
	// also when only a prefix was stored.
	RequestBodySize int64 `parquet:"request_body_size"`
	// Status is 0 when there was no response from the upstream.
	Status                int32    `parquet:"status"`
	ResponseHeaders       []Header `parquet:"response_headers,list"`
	ResponseBody          []byte   `parquet:"response_body"`
	ResponseBodyTruncated bool     `parquet:"response_body_truncated"`
	ResponseBodySize      int64    `parquet:"response_body_size"`
	// LatencyNs runs from sending the request upstream to the last response
	// byte.
	LatencyNs int64 `parquet:"latency_ns"`
	// Error is empty when the exchange completed.
	Error string `parquet:"error"`
	// Instance names the recorder that captured the exchange.
	Instance string `parquet:"instance,dict"`
	// Since recording/2:
	// ResponseFirstByteNs runs from sending the request upstream to the
	// first byte of the response body; 0 when the body was empty.
	ResponseFirstByteNs int64 `parquet:"response_first_byte_ns"`
	// ResponseEvents counts the events of a text/event-stream answer
	// (blocks ended by a blank line, as they arrived), and ResponseEventNs
	// holds when each of the first MaxEventTimes ended, in nanoseconds
	// after the request was sent. 0 and empty for other answers.
	ResponseEvents  int64   `parquet:"response_events"`
	ResponseEventNs []int64 `parquet:"response_event_ns,list"`
}

// ErrorClientCanceled is the value of Exchange.Error for a client that went
// away before the exchange completed. Like the Status codes it is data in the
// error column, not a Go error.
const ErrorClientCanceled = "client canceled"

// NewID returns a unique id that sorts by t.
func NewID(t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixNano()))
	_, _ = rand.Read(b[8:])
	return hex.EncodeToString(b[:])
}

// Redacted replaces the values of redacted headers.
const Redacted = "REDACTED"

// DefaultRedact lists the headers whose values are never stored in clear
// unless the user names another list.
var DefaultRedact = []string{"Authorization", "Cookie", "Set-Cookie", "Proxy-Authorization", "X-Api-Key"}

// HeadersFrom converts h to rows, sorted by name so files compare, with the
// values of headers in redact (canonical names) replaced by Redacted.
func HeadersFrom(h http.Header, redact map[string]bool) []Header {
	return headersFrom(h, redact, nil)
}

// headersFrom is HeadersFrom of the headers keep accepts (all when nil).
func headersFrom(h http.Header, redact map[string]bool, keep func(string) bool) []Header {
	names := make([]string, 0, len(h))
	n := 0
	for k, vs := range h {
		if keep != nil && !keep(k) {
			continue
		}
		names = append(names, k)
		n += len(vs)
	}
	sort.Strings(names)
	out := make([]Header, 0, n)
	for _, k := range names {
		hide := redact[redactKey(k)]
		for _, v := range h[k] {
			if hide {
				v = Redacted
			}
			out = append(out, Header{Name: k, Value: v})
		}
	}
	return out
}

// redactKey is the name a header is matched under against the redaction
// set: canonical, with "_" read as "-" (servers that map headers to
// variables, as CGI and WSGI do, read x_api_key as X-Api-Key) and spaces
// trimmed.
func redactKey(k string) string {
	return http.CanonicalHeaderKey(strings.ReplaceAll(strings.TrimSpace(k), "_", "-"))
}

// HTTPHeader converts stored rows back to an http.Header.
func HTTPHeader(hs []Header) http.Header {
	h := make(http.Header, len(hs))
	for _, x := range hs {
		h[x.Name] = append(h[x.Name], x.Value)
	}
	return h
}

// RedactSet builds the lookup HeadersFrom takes from header names.
func RedactSet(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[redactKey(n)] = true // x_api_key names X-Api-Key here too, as in a request
	}
	return m
}

// FileName is the name of a recording file started at t by instance: time
// first so a folder lists in time order, instance so replicas sharing a
// volume never collide.
func FileName(t time.Time, instance string, seq int) string {
	return "rec-" + t.UTC().Format("20060102T150405.000000000Z") + "-" + instance + "-" +
		fmt.Sprintf("%06d", seq) + parquetfile.Ext
}
