package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

func TestFieldsRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 1, 23, 59, 58, 123456789, time.UTC)
	var b []byte
	b = binary.AppendVarint(b, -42)
	b = AppendString(b, "héllo")
	b = AppendBytes(b, []byte{0, 1, 2})
	b = AppendBytes(b, nil)
	b = AppendBool(b, true)
	b = AppendBool(b, false)
	b = AppendTime(b, at)
	b = AppendTime(b, time.Time{})
	b = AppendTime(b, time.Unix(0, 0))
	d := NewDecoder(b)
	if v := d.Varint(); v != -42 {
		t.Errorf("varint %d", v)
	}
	if s := d.String(); s != "héllo" {
		t.Errorf("string %q", s)
	}
	if v := d.Bytes(); !bytes.Equal(v, []byte{0, 1, 2}) {
		t.Errorf("bytes %v", v)
	}
	if v := d.Bytes(); v != nil {
		t.Errorf("empty bytes %v, want nil", v)
	}
	if !d.Bool() || d.Bool() {
		t.Error("bools")
	}
	if v := d.Time(); !v.Equal(at) || v.Location() != time.UTC {
		t.Errorf("time %v", v)
	}
	if v := d.Time(); !v.IsZero() {
		t.Errorf("zero time read as %v", v)
	}
	if v := d.Time(); v.IsZero() || v.UnixNano() != 0 {
		t.Errorf("epoch read as %v", v)
	}
	if err := d.Done(); err != nil {
		t.Error(err)
	}
}

// Every cut of a record, a length past its end and a bool that is not 0
// or 1 are ErrDamaged, never a panic or a partial value passed as good.
func TestFieldsRefuseDamage(t *testing.T) {
	var b []byte
	b = AppendString(b, "abc")
	b = AppendBool(b, true)
	b = binary.AppendVarint(b, 1<<40)
	for i := range len(b) {
		d := NewDecoder(b[:i])
		_ = d.String()
		d.Bool()
		d.Varint()
		if !errors.Is(d.Done(), ErrDamaged) {
			t.Errorf("cut at %d of %d decoded", i, len(b))
		}
	}
	if d := NewDecoder(append(b, 9)); d.String() != "abc" || !d.Bool() || d.Varint() != 1<<40 || !errors.Is(d.Done(), ErrDamaged) {
		t.Error("a trailing byte was not damage")
	}
	if d := NewDecoder(binary.AppendUvarint(nil, 1<<62)); d.Count() != 0 || !errors.Is(d.Err(), ErrDamaged) {
		t.Error("a count past the record was taken")
	}
	if d := NewDecoder([]byte{2}); d.Bool() || !errors.Is(d.Err(), ErrDamaged) {
		t.Error("bool 2 was taken")
	}
}
