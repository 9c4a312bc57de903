package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shadowctl/shadowctl/internal/h1"
	"github.com/shadowctl/shadowctl/record"
)

// Progress is how far a run is.
type Progress struct {
	// Done counts the exchanges replayed by this run; Total is what the run
	// expects to replay (from the recordings' row counts, bounded by Limit,
	// less the resumed ones; 0 when unknown).
	Done, Total int64
	// Errors counts the exchanges whose candidate or baseline failed.
	Errors int64
}

// Stats counts what a run did.
type Stats struct {
	Sent   int64 // exchanges sent (to the target, and the baseline if any)
	OK     int64 // candidate answers without error kind
	Errors map[string]int64
	// BaselineOK and BaselineErrors describe the baseline side, if any.
	BaselineOK     int64
	BaselineErrors map[string]int64
	// Resumed counts exchanges skipped because they were already done;
	// Truncated those not sent because the recording kept only a prefix of
	// their request body.
	Resumed   int64
	Truncated int64
	// Read counts the exchanges read from the source that fall in the
	// shard; Matched those of them whose path has PathPrefix (all of
	// them without one). A Matched of 0 with Read > 0 is a PathPrefix
	// that selects nothing, which a caller may want to point out.
	Read, Matched int64
	// Abandoned counts the requests in flight cut short by
	// Options.Abandon: sent, and in no row.
	Abandoned int64
	Started   time.Time
	Elapsed   time.Duration
	// Behind is the longest a request waited past its due time for a free
	// worker (open loop): a large value means the target or Concurrency could
	// not keep up with the asked schedule. Latencies include this wait.
	Behind time.Duration
}

// Rate is the achieved rate in exchanges per second.
func (s Stats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Sent) / s.Elapsed.Seconds()
}

// Source yields exchanges in the order to send them; *record.Reader is one.
// An exchange must stay valid after later calls.
type Source interface {
	Next() (*record.Exchange, error)
}

// RowWriter takes result rows; *ResultsWriter (a results file) is one.
// Write must not keep the slice, nor the rows' answer bodies, after
// returning: their buffers are reused for later answers.
type RowWriter interface {
	Write([]Result) error
}

// ConnectError stops a run whose first answers all failed to connect.
type ConnectError struct {
	Side string // "target" or "baseline"
	URL  string
	Kind string
	Err  string // the first error seen
}

func (e *ConnectError) Error() string {
	switch e.Kind {
	case KindRefused:
		return fmt.Sprintf("%s %s: connection refused", e.Side, e.URL)
	case KindDNS:
		return fmt.Sprintf("%s %s: host name does not resolve (%s)", e.Side, e.URL, e.Err)
	default:
		return fmt.Sprintf("%s %s: %s", e.Side, e.URL, e.Err)
	}
}

// ErrWrite is wrapped by Run's error when the RowWriter failed: the rows
// after the failure were dropped, and those before it may not be whole.
var ErrWrite = errors.New("writing the results failed")

// ErrAbandoned is wrapped by Run's error when Options.Abandon cut the
// requests in flight short (the count is in Stats.Abandoned).
var ErrAbandoned = errors.New("requests in flight abandoned")

// InterruptedError is Run's error when its context ended (an interrupt):
// it wraps the context's error, and ErrAbandoned when requests in flight
// were abandoned. Its text says how far the run got, not the context's
// "context canceled".
type InterruptedError struct {
	Sent      int64
	Abandoned int64
	Cause     error
}

func (e *InterruptedError) Error() string {
	s := fmt.Sprintf("replay interrupted after %d exchanges", e.Sent)
	if e.Abandoned > 0 {
		s += fmt.Sprintf(", %d %v", e.Abandoned, ErrAbandoned)
	}
	return s
}

func (e *InterruptedError) Unwrap() []error {
	if e.Abandoned > 0 {
		return []error{e.Cause, ErrAbandoned}
	}
	return []error{e.Cause}
}

// job is one exchange to send, due at a time (zero: at once).
type job struct {
	x   *record.Exchange
	due time.Time
}

// outcome is one sent exchange.
type outcome struct {
	Result
	late    time.Duration
	cand    string // candidate error kind
	base    string // baseline error kind
	baseErr string
	hasBase bool
	// abandoned: cut short by Options.Abandon, or done as it came
	abandoned bool
}

// Run replays the exchanges of src and writes a result row per sent
// exchange to out, in completion order. A failed request is a row, not an
// error. Run returns early with a *ConnectError when the first answers of a
// side all failed to connect, with an error wrapping ctx's when ctx ends
// (in-flight requests are waited for, each bounded by Timeout, and their rows
// written), and with the error of src or out. The Stats are valid in every
// case.
func Run(ctx context.Context, opts Options, src Source, out RowWriter) (Stats, error) {
	if err := opts.Validate(); err != nil {
		return Stats{}, err
	}
	o := opts.withDefaults()
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	total := int64(0)
	if t, ok := src.(interface{ Total() int64 }); ok {
		total = o.Shard.share(t.Total())
		if o.Limit > 0 && total > o.Limit {
			total = o.Limit
		}
		total = max(0, total-int64(o.Skip.Len()))
	}

	cand, base, closeSenders, err := newSenders(&o)
	if err != nil {
		return Stats{}, err
	}
	defer closeSenders()
	// The requests in flight outlive an interrupt (each within Timeout),
	// but not an abandonment.
	reqCtx, abandon := context.WithCancel(context.WithoutCancel(ctx))
	watcher := make(chan struct{})
	defer func() { abandon(); <-watcher }()
	var inFlight atomic.Int64
	ab := &h1.Aborter{}
	if o.Abandon == nil {
		close(watcher)
	} else {
		go func() {
			defer close(watcher)
			select {
			case <-o.Abandon:
				cancel(ctx.Err()) // stop sending, if ctx has not yet
				abandon()
				ab.AbortAll()
			case <-reqCtx.Done(): // Run returned
			}
		}()
	}
	if o.OnStop != nil {
		noted := make(chan struct{})
		stopNote := context.AfterFunc(ctx, func() { defer close(noted); o.OnStop(int(inFlight.Load())) })
		defer func() {
			if !stopNote() {
				<-noted // it ran: let it end before Run does (it writes where the caller reads)
			}
		}()
	}
	start := time.Now()
	jobs := make(chan job, o.Concurrency)
	outs := make(chan outcome, 2*o.Concurrency)
	p := &producer{o: &o, start: start}
	var srcErr error // read only once prodDone is closed
	prodDone := make(chan struct{})
	go func() {
		defer close(prodDone)
		defer close(jobs)
		srcErr = p.run(runCtx, src, jobs)
	}()
	var workers sync.WaitGroup
	for range o.Concurrency {
		workers.Add(1)
		go func() {
			defer workers.Done()
			work(runCtx, reqCtx, &inFlight, &o, cand, base, newSideSlots(ab), jobs, outs)
		}()
	}
	go func() {
		workers.Wait()
		close(outs)
	}()

	// A write error stops the run as a cause, like a connect error.
	rw := startBatchWriter(out, func(err error) { cancel(err) })
	c := collector{o: &o, rows: rw, stats: Stats{Errors: map[string]int64{}}, total: total}
	c.stats.Started = start
	if o.Baseline != nil {
		c.stats.BaselineErrors = map[string]int64{}
	}
	for r := range outs {
		if r.abandoned {
			c.stats.Abandoned++
			putBody(r.CandidateBody)
			putBody(r.BaselineBody)
			continue
		}
		if err := c.add(r); err != nil {
			cancel(err)
		}
	}
	// The producer ends once ctx does, unless it waits on src (a stalled
	// bucket read, which has no ctx): an abandonment does not wait for it
	// (its error is then not known, nor read), and the rows done are
	// written either way.
	produced := false
	select {
	case <-prodDone:
		produced = true
	case <-reqCtx.Done():
	}
	c.flush()
	writeErr := rw.close()
	c.stats.Resumed, c.stats.Truncated = p.resumed.Load(), p.truncated.Load()
	c.stats.Read, c.stats.Matched = p.read.Load(), p.matched.Load()
	var readErr error
	if produced {
		readErr = srcErr
	}
	c.stats.Elapsed = time.Since(start)
	c.progress(true)

	if ctx.Err() == nil {
		if err := c.connectCheckAtEnd(); err != nil {
			return c.stats, err
		}
	}
	var ce *ConnectError
	switch cause := context.Cause(runCtx); {
	case errors.As(cause, &ce):
		return c.stats, ce
	case writeErr != nil:
		return c.stats, fmt.Errorf("%w: %w", ErrWrite, writeErr)
	case readErr != nil:
		return c.stats, fmt.Errorf("read recordings: %w", readErr)
	case reqCtx.Err() != nil && ctx.Err() != nil:
		return c.stats, &InterruptedError{Sent: c.stats.Sent, Abandoned: c.stats.Abandoned, Cause: ctx.Err()}
	case reqCtx.Err() != nil:
		return c.stats, fmt.Errorf("replay stopped after %d exchanges: %d %w", c.stats.Sent, c.stats.Abandoned, ErrAbandoned)
	case ctx.Err() != nil:
		return c.stats, &InterruptedError{Sent: c.stats.Sent, Cause: ctx.Err()}
	}
	return c.stats, nil
}

// producer reads the source, filters and paces.
type producer struct {
	o                  *Options
	start              time.Time
	resumed, truncated atomic.Int64 // read by Run even when it did not wait for the producer
	read, matched      atomic.Int64
}

func (p *producer) run(ctx context.Context, src Source, jobs chan<- job) error {
	var (
		sent   int64
		offset time.Duration // Speed: time since start at which the last exchange was due
		prev   time.Time     // Speed: recorded start of the last exchange sent
		timer  *time.Timer
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if p.o.Limit > 0 && p.matched.Load() >= p.o.Limit {
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		x, err := src.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if !p.o.Shard.Has(x.ID) {
			continue
		}
		p.read.Add(1)
		if p.o.PathPrefix != "" && !strings.HasPrefix(x.Path, p.o.PathPrefix) {
			continue
		}
		p.matched.Add(1)
		if p.o.Skip.Has(x.ID) {
			p.resumed.Add(1)
			continue
		}
		if x.RequestBodyTruncated {
			p.truncated.Add(1)
			continue
		}
		var due time.Time
		switch {
		case p.o.Rate > 0:
			due = p.start.Add(saturate(float64(sent) / p.o.Rate * float64(time.Second)))
		case p.o.Speed > 0:
			if !prev.IsZero() {
				gap := saturate(float64(x.StartedAt.Sub(prev)) / p.o.Speed)
				offset = addSaturating(offset, min(gap, p.o.MaxGap))
			}
			prev = x.StartedAt
			due = p.start.Add(offset)
		}
		sent++
		if !due.IsZero() {
			if wait := time.Until(due); wait > 0 {
				if timer == nil {
					timer = time.NewTimer(wait)
				} else {
					timer.Reset(wait)
				}
				select {
				case <-timer.C:
				case <-ctx.Done():
					return nil
				}
			}
		}
		select {
		case jobs <- job{x: x, due: due}:
		case <-ctx.Done():
			return nil
		}
	}
}

// saturate is ns nanoseconds as a Duration, 0 below zero (and for NaN) and
// the longest Duration above it: a float64 out of range converts to
// anything (math.MinInt64 on amd64), which made a far due time "now".
func saturate(ns float64) time.Duration {
	switch {
	case !(ns > 0):
		return 0
	case ns >= math.MaxInt64:
		return math.MaxInt64
	}
	return time.Duration(ns)
}

// addSaturating is a+b for non-negative durations, the longest Duration
// rather than a negative one when it overflows.
func addSaturating(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// work sends jobs until the queue closes or ctx ends, counting those in
// flight. After ctx ends it takes no more jobs (the queued ones are
// dropped), so it ends even while the producer waits on its source;
// requests already sent finish within Timeout, or when reqCtx ends
// (abandoned: marked so, never written).
func work(ctx, reqCtx context.Context, inFlight *atomic.Int64, o *Options, cand, base sender, ws sideSlots, jobs <-chan job, outs chan<- outcome) {
	_, raw := cand.(h1Sender)
	rc := requestCache{rawHeader: raw}
	for {
		// A job already queued is taken without a select (selectgo was 2%
		// of replay's CPU): ctx is checked right after either way.
		j, ok := job{}, false
		select {
		case j, ok = <-jobs:
		default:
			select {
			case j, ok = <-jobs:
			case <-ctx.Done():
				// The queued jobs are dropped; the producer, which selects
				// on ctx too, never waits for a worker.
				return
			}
		}
		if !ok {
			return
		}
		if ctx.Err() != nil {
			return
		}
		inFlight.Add(1)
		r := sendJob(reqCtx, o, &rc, cand, base, ws, j)
		inFlight.Add(-1)
		r.abandoned = reqCtx.Err() != nil
		outs <- r
	}
}

// newSenders makes the senders to the target and the baseline (nil
// without one): through Options.Client when set, otherwise through
// internal/h1. close drops their idle connections.
func newSenders(o *Options) (cand, base sender, close func(), err error) {
	if o.Client != nil {
		return httpSender{o.Client}, httpSender{o.Client}, func() {}, nil
	}
	c, err := newH1Sender(o.Target, o.TLS)
	if err != nil {
		return nil, nil, nil, err
	}
	b := c
	if o.Baseline != nil {
		if b, err = newH1Sender(o.Baseline, o.TLS); err != nil {
			return nil, nil, nil, err
		}
	}
	return c, b, func() { c.c.Close(); b.c.Close() }, nil
}

func sendJob(ctx context.Context, o *Options, rc *requestCache, cs, bs sender, ws sideSlots, j job) outcome {
	x := j.x
	now := time.Now()
	start := now
	var late time.Duration
	if !j.due.IsZero() {
		start, late = j.due, now.Sub(j.due)
	}
	r := outcome{late: late, hasBase: o.Baseline != nil}
	r.Result = Result{
		ID: x.ID, Method: x.Method, Path: x.Path, RequestBody: x.RequestBody, RequestHeaders: x.RequestHeaders,
		SentAt: now, RecordedStartedAt: x.StartedAt, RecordedStatus: x.Status, RecordedBody: x.ResponseBody,
		RecordedBodyTruncated: x.ResponseBodyTruncated, RecordedLatencyNs: x.LatencyNs, RecordedError: x.Error,
		RecordedFirstByteNs: x.ResponseFirstByteNs, RecordedEvents: x.ResponseEvents, RecordedEventNs: x.ResponseEventNs,
	}
	deadline := now.Add(o.Timeout)

	var cand, base side
	tu, bu, err := rc.urls(o, x.Path)
	h, herr := rc.header(x.RequestHeaders, o.Header)
	switch {
	case err != nil:
		cand = side{err: fmt.Sprintf("recorded path %q: %v", x.Path, err), kind: KindOther}
		base = cand
	case rc.methodErr(x.Method) != nil:
		cand = side{err: fmt.Sprintf("build request: %v", rc.methodErr(x.Method)), kind: KindOther,
			latency: time.Since(start)}
		base = cand
	case herr != nil:
		cand = side{err: fmt.Sprintf("build request: %v", herr), kind: KindOther, latency: time.Since(start)}
		base = cand
	case o.Baseline == nil:
		cand = cs.send(ctx, ws.cand, deadline, x.Method, tu, h, x.RequestBody, start, o.MaxBody)
	default:
		cand, base = sendBoth(ctx, ws, deadline, cs, bs, x.Method, tu, bu, h, x.RequestBody, start, o.MaxBody)
	}
	r.CandidateStatus, r.CandidateBody, r.CandidateLatencyNs = cand.status, cand.body, int64(cand.latency)
	r.CandidateError, r.CandidateErrorKind = cand.err, cand.kind
	r.CandidateFirstByteNs, r.CandidateEvents, r.CandidateEventNs = cand.timing.FirstByteNs, cand.timing.Events, cand.timing.EventNs
	r.cand = cand.kind
	if o.Baseline != nil {
		b := &struct {
			status            int32
			lat               int64
			err, kind         string
			firstByte, events int64
		}{base.status, int64(base.latency), base.err, base.kind, base.timing.FirstByteNs, base.timing.Events}
		r.BaselineStatus, r.BaselineBody, r.BaselineLatencyNs = &b.status, base.body, &b.lat
		r.BaselineError, r.BaselineErrorKind = &b.err, &b.kind
		r.BaselineFirstByteNs, r.BaselineEvents, r.BaselineEventNs = &b.firstByte, &b.events, base.timing.EventNs
		if r.BaselineBody == nil {
			r.BaselineBody = []byte{} // present, empty: not null
		}
		r.base, r.baseErr = base.kind, base.err
	}
	return r
}

// sendBoth sends the same request to the target at tu and the baseline at
// bu at the same moment. Apart from send, so that without a baseline nothing
// escapes to a goroutine.
func sendBoth(ctx context.Context, ws sideSlots, deadline time.Time, cs, bs sender, method string, tu, bu *url.URL, h http.Header, body []byte,
	start time.Time, maxBody int64) (cand, base side) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		base = bs.send(ctx, ws.base, deadline, method, bu, h, body, start, maxBody)
	}()
	cand = cs.send(ctx, ws.cand, deadline, method, tu, h, body, start, maxBody)
	<-done
	return cand, base
}

// collector batches rows for the row writer, counts, reports progress and
// watches for targets that refuse every connection.
type collector struct {
	o     *Options
	rows  *batchWriter
	stats Stats
	total int64
	errs  int64
	batch []Result
	last  time.Time

	// first answers per side while all of them failed to connect
	candFails, baseFails int
	candFirst, baseFirst outcome
	candOK, baseOK       bool
}

func (c *collector) add(r outcome) error {
	c.stats.Sent++
	if r.cand == "" {
		c.stats.OK++
	} else {
		c.stats.Errors[r.cand]++
	}
	failed := r.cand != ""
	if r.hasBase {
		if r.base == "" {
			c.stats.BaselineOK++
		} else {
			c.stats.BaselineErrors[r.base]++
			failed = true
		}
	}
	if failed {
		c.errs++
	}
	c.stats.Behind = max(c.stats.Behind, r.late)
	if c.batch == nil {
		c.batch = c.rows.get()
	}
	c.batch = append(c.batch, r.Result)
	if len(c.batch) == cap(c.batch) {
		c.flush()
	}
	c.progress(false)
	return c.connectCheck(r)
}

func (c *collector) flush() {
	if len(c.batch) > 0 {
		c.rows.put(c.batch)
		c.batch = nil
	}
}

func (c *collector) progress(final bool) {
	if c.o.Progress == nil {
		return
	}
	now := time.Now()
	if !final && now.Sub(c.last) < c.o.ProgressEvery {
		return
	}
	c.last = now
	c.o.Progress(Progress{Done: c.stats.Sent, Total: c.total, Errors: c.errs})
}

// connectCheck stops the run when the first EarlyStop answers of a side
// all failed to connect.
func (c *collector) connectCheck(r outcome) error {
	if c.o.EarlyStop < 0 {
		return nil
	}
	if !c.candOK {
		if connectFailure(r.cand) {
			if c.candFails == 0 {
				c.candFirst = r
			}
			c.candFails++
			if c.candFails >= c.o.EarlyStop {
				return c.connectErr("target")
			}
		} else {
			c.candOK = true
		}
	}
	if r.hasBase && !c.baseOK {
		if connectFailure(r.base) {
			if c.baseFails == 0 {
				c.baseFirst = r
			}
			c.baseFails++
			if c.baseFails >= c.o.EarlyStop {
				return c.connectErr("baseline")
			}
		} else {
			c.baseOK = true
		}
	}
	return nil
}

// connectCheckAtEnd reports a run shorter than EarlyStop whose answers all
// failed to connect.
func (c *collector) connectCheckAtEnd() error {
	if c.o.EarlyStop < 0 {
		return nil
	}
	if !c.candOK && c.candFails > 0 {
		return c.connectErr("target")
	}
	if c.o.Baseline != nil && !c.baseOK && c.baseFails > 0 {
		return c.connectErr("baseline")
	}
	return nil
}

func (c *collector) connectErr(which string) *ConnectError {
	if which == "target" {
		r := c.candFirst
		return &ConnectError{Side: which, URL: c.o.Target.String(), Kind: r.cand, Err: r.CandidateError}
	}
	r := c.baseFirst
	return &ConnectError{Side: which, URL: c.o.Baseline.String(), Kind: r.base, Err: r.baseErr}
}
