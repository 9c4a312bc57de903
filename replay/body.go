package replay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net/http"
	"sync"
)

// Answer bodies are read into recycled buffers: a row's bodies live until
// the row is written (the RowWriter copies them), then serve later answers.
// Buffers come in power-of-two sizes from minPooledBody to maxPooledBody;
// smaller ones cost less to allocate than to recycle, larger ones are too
// big to keep around.
const (
	minPooledBody = 512
	maxPooledBody = 1 << 20
	bodyClasses   = 12 // 512 B, 1 KiB, … 1 MiB
)

var (
	bodyPools [bodyClasses]sync.Pool // of *[]byte
	// holders carries the *[]byte that sync.Pool needs to hold a slice
	// without allocating one per buffer put back.
	holders sync.Pool
	// scratch reads bodies of unknown length (chunked answers) before they
	// are copied to a buffer of their size.
	scratch = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

// bodyClass is the index in bodyPools of buffers of n bytes or more.
func bodyClass(n int) int {
	return bits.Len(uint(max(n, minPooledBody)-1)) - bits.TrailingZeros(minPooledBody)
}

// getBody returns a buffer of n bytes, recycled when there is one.
func getBody(n int) []byte {
	if n < minPooledBody || n > maxPooledBody {
		return make([]byte, n)
	}
	c := bodyClass(n)
	if p, _ := bodyPools[c].Get().(*[]byte); p != nil {
		b := (*p)[:n]
		*p = nil
		holders.Put(p)
		return b
	}
	return make([]byte, n, minPooledBody<<c)
}

// putBody recycles b, which no one may use any more. Buffers of other sizes
// than getBody's are left to the garbage collector.
func putBody(b []byte) {
	c := cap(b)
	if c < minPooledBody || c > maxPooledBody || c&(c-1) != 0 {
		return
	}
	p, _ := holders.Get().(*[]byte)
	if p == nil {
		p = new([]byte)
	}
	*p = b[:0]
	bodyPools[bodyClass(c)].Put(p)
}

// ErrBodyTooLarge is an answer longer than Options.MaxBody: it is not kept
// (its row has kind KindTooLarge), so that one runaway answer cannot take
// the replayer's memory.
var ErrBodyTooLarge = errors.New("answer body too large")

// readBody reads a whole answer body, at most max bytes, into a buffer of
// its size, the one the row keeps: a body of unknown length (chunked) goes
// through a recycled scratch buffer rather than one grown, copied and thrown
// away step by step. On error it returns what came of a body of unknown
// length.
func readBody(resp *http.Response, max int64) ([]byte, error) {
	if n := resp.ContentLength; n > max {
		return nil, fmt.Errorf("%w: Content-Length %d > %d", ErrBodyTooLarge, n, max)
	} else if n >= 0 {
		b := getBody(int(n))
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			putBody(b)
			return nil, err
		}
		return b, nil
	}
	buf := scratch.Get().(*bytes.Buffer)
	buf.Reset()
	limit := max // one byte more than max tells a longer body, unless max is all there is
	if limit < math.MaxInt64 {
		limit++
	}
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, limit))
	if err == nil && int64(buf.Len()) > max {
		err = fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, max)
		buf.Reset()
	}
	b := getBody(buf.Len())
	copy(b, buf.Bytes())
	if buf.Cap() <= maxPooledBody {
		scratch.Put(buf)
	}
	return b, err
}
