// Package h1 is an HTTP/1.1 client to one upstream: a pool of idle
// keep-alive connections, each used by one goroutine from the request's
// first byte to the response's last. http.Transport runs two goroutines per
// connection and hands every request and response between them and the
// caller through channels; for a sidecar's small requests those hand-offs
// and wake-ups cost about as much CPU as the whole server side (README,
// Performance). Responses are parsed by the standard library
// (http.ReadResponse), except the most common heads, which a fast path reads
// exactly as ReadResponse would (readHead; FuzzReadHead checks both on the
// same bytes).
//
// It is as strict as http.Transport about reuse: a connection goes back to
// the pool only when its response was read to the end of its framing with
// nothing buffered beyond it (see Client.Put), and it is taken from the pool
// only when no byte (nor the upstream's close) arrived while it sat idle
// (see Client.Get). Anything else and it is closed: bytes the framing did
// not announce are never read as the next request's answer. (http.Transport
// is not as strict: it reuses a connection after a 204, 304 or HEAD answer
// that carried a body, and one whose extra bytes arrive as it is taken
// again; record's TestProxyNeverHandsOneClientAnothersAnswer shows both.)
//
// An exchange on a Conn from Client.Get: write the request head
// (WriteRequestHead) and body to Conn.Writer and flush it, call
// Conn.ArmHeaderTimeout, read the head with ReadResponse from Conn.Reader,
// call Conn.EndHead, read the body to its end, and Client.Put the Conn; on
// any failure, Conn.Close it instead.
package h1
