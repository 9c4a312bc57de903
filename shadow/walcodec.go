package shadow

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	"github.com/shadowctl/shadowctl/replay"
)

// The results log's records: one replay.Result each, after a version byte.
// Version 2 is a compact binary form (record/wal.go's way for recordings):
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
	b = appendStr(b, r.ID)
	b = appendStr(b, r.Method)
	b = appendStr(b, r.Path)
	b = appendBin(b, r.RequestBody)
	b = appendTime(b, r.SentAt)
	b = appendTime(b, r.RecordedStartedAt)
	b = binary.AppendVarint(b, int64(r.RecordedStatus))
	b = appendBin(b, r.RecordedBody)
	b = appendFlag(b, r.RecordedBodyTruncated)
	b = binary.AppendVarint(b, r.RecordedLatencyNs)
	b = appendStr(b, r.RecordedError)
	b = binary.AppendVarint(b, int64(r.CandidateStatus))
	b = appendBin(b, r.CandidateBody)
	b = binary.AppendVarint(b, r.CandidateLatencyNs)
	b = appendStr(b, r.CandidateError)
	b = appendStr(b, r.CandidateErrorKind)
	// The baseline columns are optional: a flag says whether each is set.
	b = appendFlag(b, r.BaselineStatus != nil)
	if r.BaselineStatus != nil {
		b = binary.AppendVarint(b, int64(*r.BaselineStatus))
	}
	b = appendFlag(b, r.BaselineBody != nil)
	b = appendBin(b, r.BaselineBody)
	b = appendFlag(b, r.BaselineLatencyNs != nil)
	if r.BaselineLatencyNs != nil {
		b = binary.AppendVarint(b, *r.BaselineLatencyNs)
	}
	b = appendFlag(b, r.BaselineError != nil)
	if r.BaselineError != nil {
		b = appendStr(b, *r.BaselineError)
	}
	b = appendFlag(b, r.BaselineErrorKind != nil)
	if r.BaselineErrorKind != nil {
		b = appendStr(b, *r.BaselineErrorKind)
	}
	return b
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
	d := &walDecoder{b: rec[1:]}
	r.ID = d.str()
	r.Method = d.str()
	r.Path = d.str()
	r.RequestBody = d.bin()
	r.SentAt = d.time()
	r.RecordedStartedAt = d.time()
	r.RecordedStatus = int32(d.varint())
	r.RecordedBody = d.bin()
	r.RecordedBodyTruncated = d.flag()
	r.RecordedLatencyNs = d.varint()
	r.RecordedError = d.str()
	r.CandidateStatus = int32(d.varint())
	r.CandidateBody = d.bin()
	r.CandidateLatencyNs = d.varint()
	r.CandidateError = d.str()
	r.CandidateErrorKind = d.str()
	if d.flag() {
		v := int32(d.varint())
		r.BaselineStatus = &v
	}
	if d.flag() {
		r.BaselineBody = d.bin()
		if r.BaselineBody == nil {
			r.BaselineBody = []byte{}
		}
	} else {
		d.bin()
	}
	if d.flag() {
		v := d.varint()
		r.BaselineLatencyNs = &v
	}
	if d.flag() {
		v := d.str()
		r.BaselineError = &v
	}
	if d.flag() {
		v := d.str()
		r.BaselineErrorKind = &v
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errWALRecord
	}
	return r, d.err
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBin(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendFlag(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendTime keeps the zero time apart from the Unix epoch (UnixNano of
// the zero time is not defined).
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	return binary.AppendVarint(append(b, 1), t.UnixNano())
}

// walDecoder reads the fields appendResult wrote, failing on any overrun.
type walDecoder struct {
	b   []byte
	err error
}

func (d *walDecoder) varint() int64 {
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

func (d *walDecoder) raw() []byte {
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

// bin copies: the record's buffer is the log reader's.
func (d *walDecoder) bin() []byte {
	v := d.raw()
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

func (d *walDecoder) str() string { return string(d.raw()) }

func (d *walDecoder) flag() bool {
	if d.err != nil || len(d.b) == 0 || d.b[0] > 1 {
		d.err = errWALRecord
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

func (d *walDecoder) time() time.Time {
	if !d.flag() {
		return time.Time{}
	}
	return time.Unix(0, d.varint()).UTC()
}
