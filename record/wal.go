package record

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/shadowctl/shadowctl/internal/parquetfile"
	"github.com/shadowctl/shadowctl/internal/wal"
)

// The write-ahead log makes recording crash-safe (internal/spool writes
// it beside each file being written and turns it back into Parquet after a
// crash). internal/wal frames and checksums its records; this file encodes
// one Exchange into each record. Its bytes are a file format: a log a
// crashed recorder left must recover with the next version.

// WALSuffix ends the name of a recording file's log: FILE.parquet.wal.
const WALSuffix = parquetfile.WALSuffix

// encodeExchange appends a compact binary form of x to b. The field order
// is the struct's; a change here needs a version byte.
func encodeExchange(b []byte, x *Exchange) []byte {
	b = append(b, 2) // encoding version: 2 adds the answer timing
	b = wal.AppendString(b, x.ID)
	b = binary.AppendVarint(b, x.StartedAt.UnixNano())
	b = wal.AppendString(b, x.Method)
	b = wal.AppendString(b, x.Host)
	b = wal.AppendString(b, x.Path)
	b = appendHeaders(b, x.RequestHeaders)
	b = wal.AppendBytes(b, x.RequestBody)
	b = wal.AppendBool(b, x.RequestBodyTruncated)
	b = binary.AppendVarint(b, x.RequestBodySize)
	b = binary.AppendVarint(b, int64(x.Status))
	b = appendHeaders(b, x.ResponseHeaders)
	b = wal.AppendBytes(b, x.ResponseBody)
	b = wal.AppendBool(b, x.ResponseBodyTruncated)
	b = binary.AppendVarint(b, x.ResponseBodySize)
	b = binary.AppendVarint(b, x.LatencyNs)
	b = wal.AppendString(b, x.Error)
	b = wal.AppendString(b, x.Instance)
	b = binary.AppendVarint(b, x.ResponseFirstByteNs)
	b = binary.AppendVarint(b, x.ResponseEvents)
	b = binary.AppendUvarint(b, uint64(len(x.ResponseEventNs)))
	for _, t := range x.ResponseEventNs {
		b = binary.AppendVarint(b, t)
	}
	return b
}

func appendHeaders(b []byte, hs []Header) []byte {
	b = binary.AppendUvarint(b, uint64(len(hs)))
	for _, h := range hs {
		b = wal.AppendString(b, h.Name)
		b = wal.AppendString(b, h.Value)
	}
	return b
}

// errWALRecord wraps wal.ErrDamaged: a record that does not decode is cut
// like one whose checksum fails.
var errWALRecord = fmt.Errorf("exchange: %w", wal.ErrDamaged)

// int64s reads a count and that many varints (none: nil).
func int64s(d *wal.Decoder) []int64 {
	n := d.Count()
	if n == 0 {
		return nil
	}
	out := make([]int64, 0, n)
	for range n {
		out = append(out, d.Varint())
	}
	return out
}

func headers(d *wal.Decoder) []Header {
	n := d.Count()
	if n == 0 {
		return nil
	}
	hs := make([]Header, 0, n)
	for range n {
		hs = append(hs, Header{Name: d.String(), Value: d.String()})
	}
	return hs
}

func decodeExchange(b []byte, x *Exchange) error {
	if len(b) == 0 || b[0] < 1 || b[0] > 2 {
		return errWALRecord
	}
	version := b[0]
	d := wal.NewDecoder(b[1:])
	x.ID = d.String()
	x.StartedAt = time.Unix(0, d.Varint()).UTC()
	x.Method = d.String()
	x.Host = d.String()
	x.Path = d.String()
	x.RequestHeaders = headers(d)
	x.RequestBody = d.Bytes()
	x.RequestBodyTruncated = d.Bool()
	x.RequestBodySize = d.Varint()
	x.Status = int32(d.Varint())
	x.ResponseHeaders = headers(d)
	x.ResponseBody = d.Bytes()
	x.ResponseBodyTruncated = d.Bool()
	x.ResponseBodySize = d.Varint()
	x.LatencyNs = d.Varint()
	x.Error = d.String()
	x.Instance = d.String()
	if version >= 2 {
		x.ResponseFirstByteNs = d.Varint()
		x.ResponseEvents = d.Varint()
		x.ResponseEventNs = int64s(d)
	}
	if d.Done() != nil {
		return errWALRecord
	}
	return nil
}
