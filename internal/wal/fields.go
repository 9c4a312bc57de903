package wal

import (
	"encoding/binary"
	"time"
)

// The fields of a record: what record's and shadow's logs encode their rows
// with. Integers are varints, strings and bytes a uvarint length and the
// bytes, a bool one byte (0 or 1), a time a flag then its Unix nanoseconds
// (the flag keeps the zero time apart from the epoch). Decoder reads them
// back and fails on any overrun, so a record cut or damaged in a way its
// checksum missed never decodes to garbage.

// AppendBytes appends s with its length.
func AppendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// AppendString appends s with its length.
func AppendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// AppendBool appends v as one byte.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// AppendTime appends t, keeping the zero time apart from every other
// (UnixNano of the zero time is not defined).
func AppendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	return binary.AppendVarint(append(b, 1), t.UnixNano())
}

// Decoder reads the fields of one record in the order they were appended.
// After the first overrun every read returns the zero value and Err
// reports ErrDamaged.
type Decoder struct {
	b   []byte
	err error
}

// NewDecoder reads rec, which it does not copy.
func NewDecoder(rec []byte) *Decoder { return &Decoder{b: rec} }

// Err is ErrDamaged once a read overran the record, else nil.
func (d *Decoder) Err() error { return d.err }

// Done is Err, or ErrDamaged when bytes are left after the last field.
func (d *Decoder) Done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = ErrDamaged
	}
	return d.err
}

// Varint reads an integer.
func (d *Decoder) Varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = ErrDamaged
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Count reads a count of items of at least one byte each: one larger than
// the bytes left is damage, not an allocation to make.
func (d *Decoder) Count() int {
	if d.err != nil {
		return 0
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > uint64(len(d.b)-k) {
		d.err = ErrDamaged
		return 0
	}
	d.b = d.b[k:]
	return int(n)
}

// Raw reads bytes that alias the record.
func (d *Decoder) Raw() []byte {
	n := d.Count()
	if d.err != nil {
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// Bytes reads bytes into a copy of their own; nil when empty.
func (d *Decoder) Bytes() []byte {
	v := d.Raw()
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

// String reads a string.
func (d *Decoder) String() string { return string(d.Raw()) }

// Bool reads one byte that must be 0 or 1.
func (d *Decoder) Bool() bool {
	if d.err != nil {
		return false
	}
	if len(d.b) == 0 || d.b[0] > 1 {
		d.err = ErrDamaged
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

// Time reads what AppendTime wrote, in UTC.
func (d *Decoder) Time() time.Time {
	if !d.Bool() {
		return time.Time{}
	}
	return time.Unix(0, d.Varint()).UTC()
}
