package record

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// The timing of an answer as its bytes arrive: when the first byte came,
// and, for a text/event-stream answer, when each event ended, which gives
// time to first token and inter-token latency. The recorder and replay
// share it, so both count events alike.

// MaxEventTimes bounds the event times kept per answer; the events past it
// are counted, not timed.
const MaxEventTimes = 1024

// StreamTiming watches the bytes of one answer body. The zero value notes
// the first byte only; TimeEvents makes it time events too. An event is a
// block of lines ended by a blank line (LF, CRLF or CR line ends), as
// Server-Sent Events dispatch them; blank lines before any line make none.
type StreamTiming struct {
	on        bool
	first     time.Duration
	gotFirst  bool
	events    int64
	times     []int64 // nil unless events are timed
	pooled    *[]int64
	midLine   bool // a line has begun and not ended
	blockLine bool // the current block has a line
	cr        bool // the last byte was CR (a following LF ends nothing)
}

var eventTimes = sync.Pool{New: func() any { b := make([]int64, 0, MaxEventTimes); return &b }}

// Start makes t watch an answer (after Reset, a StreamTiming notes nothing),
// timing its events when events is true.
func (t *StreamTiming) Start(events bool) {
	t.on = true
	if events && t.pooled == nil {
		t.pooled = eventTimes.Get().(*[]int64)
		t.times = (*t.pooled)[:0]
	}
}

// WantsClock reports whether Observe needs the time of the next bytes, so
// that a caller reads the clock only when it does: once for most answers,
// at every read of an event stream.
func (t *StreamTiming) WantsClock() bool { return t.on && (!t.gotFirst || t.times != nil) }

// Observe notes bytes p of the body that arrived at d after the request was
// sent. It allocates nothing.
func (t *StreamTiming) Observe(p []byte, d time.Duration) {
	if len(p) == 0 || !t.on {
		return
	}
	if !t.gotFirst {
		t.first, t.gotFirst = d, true
	}
	if t.times == nil {
		return
	}
	for len(p) > 0 {
		c := p[0]
		if t.cr && c == '\n' {
			t.cr = false
			p = p[1:]
			continue // CRLF is one line end
		}
		if c != '\r' && c != '\n' {
			// Skip the rest of the line at memchr speed.
			t.midLine, t.cr = true, false
			i := lineEnd(p)
			if i < 0 {
				return
			}
			p = p[i:]
			continue
		}
		t.cr = c == '\r'
		p = p[1:]
		if t.midLine {
			t.midLine, t.blockLine = false, true
			continue
		}
		if t.blockLine { // a blank line ends the block
			t.blockLine = false
			t.events++
			if len(t.times) < cap(t.times) {
				t.times = append(t.times, int64(d))
			}
		}
	}
}

// lineEnd is the index of the first CR or LF in p, or -1.
func lineEnd(p []byte) int {
	n := bytes.IndexByte(p, '\n')
	head := p
	if n >= 0 {
		head = p[:n]
	}
	if r := bytes.IndexByte(head, '\r'); r >= 0 {
		return r
	}
	return n
}

// FirstByteNs is when the first byte arrived, in nanoseconds after the
// request was sent; 0 when none did.
func (t *StreamTiming) FirstByteNs() int64 {
	if !t.gotFirst {
		return 0
	}
	return max(int64(t.first), 1)
}

// Events is the number of events that ended (0 when events are not timed).
func (t *StreamTiming) Events() int64 { return t.events }

// EventNs returns a copy of the times the first MaxEventTimes events ended
// (nanoseconds after the request was sent), nil when events were not timed
// or none ended.
func (t *StreamTiming) EventNs() []int64 {
	if len(t.times) == 0 {
		return nil
	}
	return slices.Clone(t.times)
}

// Reset gives back what t holds; t then notes nothing until Start.
func (t *StreamTiming) Reset() {
	if t.pooled != nil {
		*t.pooled = t.times[:0]
		eventTimes.Put(t.pooled)
	}
	*t = StreamTiming{}
}

// IsEventStream reports whether h says the body is Server-Sent Events
// (text/event-stream), whose events StreamTiming times.
func IsEventStream(h http.Header) bool { return isEventStream(h) }

// clearTiming empties the timing columns of a recording/1 row, which has
// none.
func clearTiming(x *Exchange) {
	x.ResponseFirstByteNs, x.ResponseEvents, x.ResponseEventNs = 0, 0, nil
}

// nilTiming makes an empty event-time list nil, as rows are written:
// Parquet does not tell the two apart.
func nilTiming(x *Exchange) {
	if len(x.ResponseEventNs) == 0 {
		x.ResponseEventNs = nil
	}
}

// AnswerTiming is what a row keeps of an answer's StreamTiming.
type AnswerTiming struct {
	FirstByteNs, Events int64
	EventNs             []int64
}

// Answer is what a row keeps of t (the event times copied).
func (t *StreamTiming) Answer() AnswerTiming {
	return AnswerTiming{FirstByteNs: t.FirstByteNs(), Events: t.Events(), EventNs: t.EventNs()}
}

// TimedBody is an answer's body that notes when its bytes arrive, as the
// recorder times the answers it records: replay and the live shadow time
// their targets' answers with it.
type TimedBody struct {
	rc    io.ReadCloser
	start time.Time
	tm    StreamTiming
}

// TimeBody makes res's body note when its bytes arrive, from start (when
// the request was sent); its events too when it is an event stream. An
// answer without a body (http.NoBody) is left as it is.
func TimeBody(res *http.Response, start time.Time) *TimedBody {
	b := &TimedBody{rc: res.Body, start: start}
	if res.Body == http.NoBody {
		return b
	}
	b.tm.Start(isEventStream(res.Header))
	res.Body = b
	return b
}

func (b *TimedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 && b.tm.WantsClock() {
		b.tm.Observe(p[:n], time.Since(b.start))
	}
	return n, err
}

func (b *TimedBody) Close() error { return b.rc.Close() }

// Done returns the timing and gives back what it held.
func (b *TimedBody) Done() AnswerTiming {
	t := b.tm.Answer()
	b.tm.Reset()
	return t
}
