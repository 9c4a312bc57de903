package record

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/shadowctl/shadowctl/internal/wal"
)

// The write-ahead log makes recording crash-safe (internal/spool writes
// it beside each file being written and turns it back into Parquet after a
// crash). internal/wal frames and checksums its records; this file encodes
// one Exchange into each record. Its bytes are a file format: a log a
// crashed recorder left must recover with the next version.

// WALSuffix ends the name of a recording file's log: FILE.parquet.wal.
const WALSuffix = ".wal"

// encodeExchange appends a compact binary form of x to b. The field order
// is the struct's; a change here needs a version byte.
func encodeExchange(b []byte, x *Exchange) []byte {
	b = append(b, 2) // encoding version: 2 adds the answer timing
	b = appendString(b, x.ID)
	b = binary.AppendVarint(b, x.StartedAt.UnixNano())
	b = appendString(b, x.Method)
	b = appendString(b, x.Host)
	b = appendString(b, x.Path)
	b = appendHeaders(b, x.RequestHeaders)
	b = appendBytes(b, x.RequestBody)
	b = appendBool(b, x.RequestBodyTruncated)
	b = binary.AppendVarint(b, x.RequestBodySize)
	b = binary.AppendVarint(b, int64(x.Status))
	b = appendHeaders(b, x.ResponseHeaders)
	b = appendBytes(b, x.ResponseBody)
	b = appendBool(b, x.ResponseBodyTruncated)
	b = binary.AppendVarint(b, x.ResponseBodySize)
	b = binary.AppendVarint(b, x.LatencyNs)
	b = appendString(b, x.Error)
	b = appendString(b, x.Instance)
	b = binary.AppendVarint(b, x.ResponseFirstByteNs)
	b = binary.AppendVarint(b, x.ResponseEvents)
	b = binary.AppendUvarint(b, uint64(len(x.ResponseEventNs)))
	for _, t := range x.ResponseEventNs {
		b = binary.AppendVarint(b, t)
	}
	return b
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendHeaders(b []byte, hs []Header) []byte {
	b = binary.AppendUvarint(b, uint64(len(hs)))
	for _, h := range hs {
		b = appendString(b, h.Name)
		b = appendString(b, h.Value)
	}
	return b
}

// errWALRecord wraps wal.ErrDamaged: a record that does not decode is cut
// like one whose checksum fails.
var errWALRecord = fmt.Errorf("exchange: %w", wal.ErrDamaged)

// decoder reads the fields encodeExchange wrote, failing on any overrun.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errWALRecord
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	if d.err != nil {
		return nil
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > uint64(len(d.b)-k) {
		d.err = errWALRecord
		return nil
	}
	v := d.b[k : k+int(n)]
	d.b = d.b[k+int(n):]
	return v
}

func (d *decoder) body() []byte {
	v := d.bytes()
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) bool() bool {
	if d.err != nil || len(d.b) == 0 {
		d.err = errWALRecord
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

// int64s reads a count and that many varints (none: nil).
func (d *decoder) int64s() []int64 {
	n, k := binary.Uvarint(d.b)
	if d.err != nil || k <= 0 || n > uint64(len(d.b)) {
		d.err = errWALRecord
		return nil
	}
	d.b = d.b[k:]
	if n == 0 {
		return nil
	}
	out := make([]int64, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		out = append(out, d.varint())
	}
	return out
}

func (d *decoder) headers() []Header {
	n, k := binary.Uvarint(d.b)
	if d.err != nil || k <= 0 || n > uint64(len(d.b)) {
		d.err = errWALRecord
		return nil
	}
	d.b = d.b[k:]
	if n == 0 {
		return nil
	}
	hs := make([]Header, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		hs = append(hs, Header{Name: d.string(), Value: d.string()})
	}
	return hs
}

func decodeExchange(b []byte, x *Exchange) error {
	if len(b) == 0 || b[0] < 1 || b[0] > 2 {
		return errWALRecord
	}
	version := b[0]
	d := &decoder{b: b[1:]}
	x.ID = d.string()
	x.StartedAt = time.Unix(0, d.varint()).UTC()
	x.Method = d.string()
	x.Host = d.string()
	x.Path = d.string()
	x.RequestHeaders = d.headers()
	x.RequestBody = d.body()
	x.RequestBodyTruncated = d.bool()
	x.RequestBodySize = d.varint()
	x.Status = int32(d.varint())
	x.ResponseHeaders = d.headers()
	x.ResponseBody = d.body()
	x.ResponseBodyTruncated = d.bool()
	x.ResponseBodySize = d.varint()
	x.LatencyNs = d.varint()
	x.Error = d.string()
	x.Instance = d.string()
	if version >= 2 {
		x.ResponseFirstByteNs = d.varint()
		x.ResponseEvents = d.varint()
		x.ResponseEventNs = d.int64s()
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errWALRecord
	}
	return d.err
}
