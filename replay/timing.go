package replay

import (
	"io"
	"net/http"
	"time"

	"github.com/shadowctl/shadowctl/record"
)

// The timing of a side's answer, measured as the recorder measures
// production's (record.StreamTiming), from the start of the side's latency.

// answerTiming is what a results row keeps of it.
type answerTiming struct {
	firstByte, events int64
	eventNs           []int64
}

// timedBody notes the arrival of an answer's body bytes.
type timedBody struct {
	rc    io.ReadCloser
	start time.Time
	tm    record.StreamTiming
}

// timeBody makes resp's body note when its bytes arrive, events too when it
// is an event stream.
func timeBody(resp *http.Response, start time.Time) *timedBody {
	b := &timedBody{rc: resp.Body, start: start}
	b.tm.Start(record.IsEventStream(resp.Header))
	resp.Body = b
	return b
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 && b.tm.WantsClock() {
		b.tm.Observe(p[:n], time.Since(b.start))
	}
	return n, err
}

func (b *timedBody) Close() error { return b.rc.Close() }

// done returns the timing and gives back what it held.
func (b *timedBody) done() answerTiming {
	t := answerTiming{firstByte: b.tm.FirstByteNs(), events: b.tm.Events(), eventNs: b.tm.EventNs()}
	b.tm.Reset()
	return t
}
