package shadow

import (
	"encoding/binary"
	"encoding/json"
	"errors"

	"github.com/shadowctl/shadowctl/internal/wal"
	"github.com/shadowctl/shadowctl/record"
	"github.com/shadowctl/shadowctl/replay"
)

// The results log's records: one replay.Result each, after a version byte.
// Version 2 is a compact binary form (internal/wal's fields, as recordings use):
// JSON (version 1) base64-encoded the three bodies, a third more bytes to
// write, and its encoder was a tenth of a copy's CPU. Version 1 records,
// which a crashed older recorder may have left, still decode.
const (
	walJSON   = 1
	walBinary = 2
)

// errWALRecord is a record that does not decode: it is cut with what
// follows, like one whose checksum fails.
var errWALRecord = errors.New("shadow results log: damaged record")

// appendResult appends r's log record to b. The field order is the
// struct's; a change here needs a new version.
func appendResult(b []byte, r *replay.Result) []byte {
	b = append(b, walBinary)
	b = wal.AppendString(b, r.ID)
	b = wal.AppendString(b, r.Method)
	b = wal.AppendString(b, r.Path)
	b = binary.AppendUvarint(b, uint64(len(r.RequestHeaders)))
	for _, h := range r.RequestHeaders {
		b = wal.AppendString(b, h.Name)
		b = wal.AppendString(b, h.Value)
	}
	b = wal.AppendBytes(b, r.RequestBody)
	b = wal.AppendTime(b, r.SentAt)
	b = wal.AppendTime(b, r.RecordedStartedAt)
	b = binary.AppendVarint(b, int64(r.RecordedStatus))
	b = wal.AppendBytes(b, r.RecordedBody)
	b = wal.AppendBool(b, r.RecordedBodyTruncated)
	b = binary.AppendVarint(b, r.RecordedLatencyNs)
	b = wal.AppendString(b, r.RecordedError)
	b = binary.AppendVarint(b, int64(r.CandidateStatus))
	b = wal.AppendBytes(b, r.CandidateBody)
	b = binary.AppendVarint(b, r.CandidateLatencyNs)
	b = wal.AppendString(b, r.CandidateError)
	b = wal.AppendString(b, r.CandidateErrorKind)
	// The baseline columns are optional: a flag says whether each is set.
	b = wal.AppendBool(b, r.BaselineStatus != nil)
	if r.BaselineStatus != nil {
		b = binary.AppendVarint(b, int64(*r.BaselineStatus))
	}
	b = wal.AppendBool(b, r.BaselineBody != nil)
	b = wal.AppendBytes(b, r.BaselineBody)
	b = wal.AppendBool(b, r.BaselineLatencyNs != nil)
	if r.BaselineLatencyNs != nil {
		b = binary.AppendVarint(b, *r.BaselineLatencyNs)
	}
	b = wal.AppendBool(b, r.BaselineError != nil)
	if r.BaselineError != nil {
		b = wal.AppendString(b, *r.BaselineError)
	}
	b = wal.AppendBool(b, r.BaselineErrorKind != nil)
	if r.BaselineErrorKind != nil {
		b = wal.AppendString(b, *r.BaselineErrorKind)
	}
	// The answers' timing (results/2).
	b = binary.AppendVarint(b, r.RecordedFirstByteNs)
	b = binary.AppendVarint(b, r.RecordedEvents)
	b = appendInts(b, r.RecordedEventNs)
	b = binary.AppendVarint(b, r.CandidateFirstByteNs)
	b = binary.AppendVarint(b, r.CandidateEvents)
	b = appendInts(b, r.CandidateEventNs)
	b = wal.AppendBool(b, r.BaselineFirstByteNs != nil)
	if r.BaselineFirstByteNs != nil {
		b = binary.AppendVarint(b, *r.BaselineFirstByteNs)
	}
	b = wal.AppendBool(b, r.BaselineEvents != nil)
	if r.BaselineEvents != nil {
		b = binary.AppendVarint(b, *r.BaselineEvents)
	}
	b = appendInts(b, r.BaselineEventNs)
	return b
}

func appendInts(b []byte, v []int64) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	for _, x := range v {
		b = binary.AppendVarint(b, x)
	}
	return b
}

// ints reads what appendInts wrote; nil when empty, as the results reader
// gives an empty list.
func ints(d *wal.Decoder) []int64 {
	n := d.Count()
	if n == 0 {
		return nil
	}
	v := make([]int64, n)
	for i := range v {
		v[i] = d.Varint()
	}
	return v
}

// decodeResult reads a record appendResult (or version 1) wrote.
func decodeResult(rec []byte) (replay.Result, error) {
	var r replay.Result
	if len(rec) == 0 {
		return r, errWALRecord
	}
	switch rec[0] {
	case walJSON:
		err := json.Unmarshal(rec[1:], &r)
		return r, err
	case walBinary:
	default:
		return r, errors.New("shadow results log: unknown record version")
	}
	d := wal.NewDecoder(rec[1:])
	r.ID = d.String()
	r.Method = d.String()
	r.Path = d.String()
	if n := d.Count(); n > 0 {
		r.RequestHeaders = make([]record.Header, 0, n)
		for range n {
			r.RequestHeaders = append(r.RequestHeaders, record.Header{Name: d.String(), Value: d.String()})
		}
	}
	r.RequestBody = d.Bytes()
	r.SentAt = d.Time()
	r.RecordedStartedAt = d.Time()
	r.RecordedStatus = int32(d.Varint())
	r.RecordedBody = d.Bytes()
	r.RecordedBodyTruncated = d.Bool()
	r.RecordedLatencyNs = d.Varint()
	r.RecordedError = d.String()
	r.CandidateStatus = int32(d.Varint())
	r.CandidateBody = d.Bytes()
	r.CandidateLatencyNs = d.Varint()
	r.CandidateError = d.String()
	r.CandidateErrorKind = d.String()
	if d.Bool() {
		v := int32(d.Varint())
		r.BaselineStatus = &v
	}
	if d.Bool() {
		r.BaselineBody = d.Bytes()
		if r.BaselineBody == nil {
			r.BaselineBody = []byte{}
		}
	} else {
		d.Bytes()
	}
	if d.Bool() {
		v := d.Varint()
		r.BaselineLatencyNs = &v
	}
	if d.Bool() {
		v := d.String()
		r.BaselineError = &v
	}
	if d.Bool() {
		v := d.String()
		r.BaselineErrorKind = &v
	}
	r.RecordedFirstByteNs = d.Varint()
	r.RecordedEvents = d.Varint()
	r.RecordedEventNs = ints(d)
	r.CandidateFirstByteNs = d.Varint()
	r.CandidateEvents = d.Varint()
	r.CandidateEventNs = ints(d)
	if d.Bool() {
		v := d.Varint()
		r.BaselineFirstByteNs = &v
	}
	if d.Bool() {
		v := d.Varint()
		r.BaselineEvents = &v
	}
	r.BaselineEventNs = ints(d)
	if d.Done() != nil {
		return r, errWALRecord
	}
	return r, nil
}
