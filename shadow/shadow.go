// Package shadow is the live shadow: beside the recorder's production path,
// it sends a copy of each sampled request to a candidate model, never
// making the client wait for it, and turns the pair of answers into a
// results row (the format replay writes), compared live.
//
// It sits above record (whose Mirror hook feeds it), replay (the results
// row, the client side and its error kinds) and report (the comparator).
package shadow

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/shadowctl/shadowctl/internal/h1"
	"github.com/shadowctl/shadowctl/record"
	"github.com/shadowctl/shadowctl/replay"
	"github.com/shadowctl/shadowctl/report"
)

// Defaults of Options.
const (
	DefaultConcurrency = 64
	DefaultQueue       = 1000
	DefaultTimeout     = 10 * time.Second
	DefaultMaxBody     = 4 << 20
	DefaultMaxHeld     = 128 << 20
	// compareCost is the bytes comparing takes per byte of the bodies
	// compared, reserved of MaxHeld while it runs: decoding a JSON array
	// of numbers allocates about 14 times its size.
	compareCost = 16
)

// Reasons a copy is not sent (the dropped metric's label).
const (
	DropQueueFull = "queue_full"   // every worker busy and the queue full
	DropUnheld    = "unheld"       // the request body was streamed, not held whole
	DropClosed    = "closed"       // the shadow was stopping: not sent, or cut by Close's deadline
	DropRate      = "rate_limited" // over Options.Rate, the copies' cap per second
)

// DropReasons lists the reasons, in the order the summary prints them.
var DropReasons = []string{DropQueueFull, DropUnheld, DropClosed, DropRate}

// RowSink takes finished rows without blocking; false when it dropped the
// row (a rotating results spool, say).
type RowSink interface {
	Offer(*replay.Result) bool
}

// Options configure a Shadow.
type Options struct {
	// Target is the candidate's base URL (http or https, no query).
	Target *url.URL
	// Sample is the fraction of requests mirrored, in [0, 1].
	Sample float64
	// Key, when set, makes the choice per request consistent: requests
	// with the same key are all mirrored or none (see ParseKey).
	Key *Key
	// Concurrency is how many copies are in flight at most; Queue how
	// many wait for a worker before new ones are dropped.
	Concurrency int
	Queue       int
	// Rate caps the copies sent per second (0: no cap), whatever the
	// primary's rate and the shadow's latency: a bucket of a tenth of a
	// second's copies (at least one), refilled at Rate. A copy over it is
	// dropped as DropRate, so a candidate sized for part of production's
	// traffic, and the recorder's CPU that copies take, stay bounded.
	Rate float64
	// Now is the limiter's clock (time.Now when nil), for tests.
	Now func() time.Time
	// Timeout bounds each copy, answer read in full included.
	Timeout time.Duration
	// Header is added to (or replaces in) each copy's headers.
	Header http.Header
	// MaxBody bounds the bytes of a shadow answer kept; a longer one is a
	// row of kind body_too_large.
	MaxBody int64
	// MaxHeld bounds the bytes of request and primary bodies held by
	// copies waiting or in flight (the queue's count alone would let 1000
	// large answers pile up): past it a new copy is dropped as queue_full,
	// and a primary answer's body is not kept (its row is flagged, not
	// compared). 0 means DefaultMaxHeld.
	MaxHeld int64
	// TLS configures an https:// target (CAs, verification); the copies
	// go through internal/h1, the recorder's own client.
	TLS *tls.Config
	// Rows receives each finished row; nil keeps none (metrics only).
	Rows RowSink
	// RedactJSON, when set, masks JSON fields of a row's bodies once it is
	// compared, before Rows gets it, by the recorder's rules: each body is
	// read with its own headers, and one that cannot be read as JSON
	// (encoded, say) is not kept.
	RedactJSON *record.JSONRedactor
	// Compare configures the live comparison (the report's options).
	Compare report.Options
	Logger  *slog.Logger
}

// Stats count what the shadow did.
type Stats struct {
	Offered  int64            // requests the proxy offered
	Mirrored int64            // copies sent and ended, a row each (see the mirrored metric)
	Dropped  map[string]int64 // copies not sent, by reason
	Written  int64            // rows handed to Rows and taken
	Compared int64            // requests compared live
	Agreed   int64            // of them, agreeing
	Skipped  int64            // rows not compared live: decoding their answers would pass MaxHeld
}

// Shadow mirrors requests to the candidate. It implements record.Mirror.
type Shadow struct {
	opts    Options
	queue   chan *pending
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
	gate    sync.RWMutex // Offer holds it to read, Close to close the queue
	closing bool
	m       *metrics
	h1      *h1.Client // sends the copies
	aborter h1.Aborter // Close's deadline aborts the workers' copies
	late    *late
	last    *report.Comparator // Close's, once the workers are done
	limit   *rate.Limiter      // Options.Rate's bucket; nil without a cap

	offered, mirrored, written atomic.Int64
	compared, agreed           atomic.Int64    // the live comparison's counts
	skipped                    atomic.Int64    // rows not compared: their decoding's memory was not there
	dropped                    [4]atomic.Int64 // by DropReasons
	held                       atomic.Int64    // bytes of bodies held by pending copies
}

// hold reserves n bytes of MaxHeld; false when they are not there.
func (s *Shadow) hold(n int64) bool {
	if s.held.Add(n) <= s.opts.MaxHeld {
		return true
	}
	s.held.Add(-n)
	return false
}

// New checks opts and starts the workers.
func New(opts Options) (*Shadow, error) {
	if u := opts.Target; u == nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("shadow target: want an http:// or https:// URL with a host")
	}
	if err := replay.CheckBase(opts.Target); err != nil {
		return nil, fmt.Errorf("shadow target: %w", err)
	}
	if !(opts.Sample >= 0 && opts.Sample <= 1) {
		return nil, fmt.Errorf("shadow sample %v: want a fraction between 0 and 1", opts.Sample)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Queue <= 0 {
		opts.Queue = DefaultQueue
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.MaxHeld <= 0 {
		opts.MaxHeld = DefaultMaxHeld
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if !(opts.Rate >= 0) || math.IsInf(opts.Rate, 0) {
		return nil, fmt.Errorf("shadow rate %v: want 0 (no cap) or a number of copies per second", opts.Rate)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	for name, vs := range opts.Header {
		for _, v := range vs {
			if err := replay.CheckHeader(name, v); err != nil {
				return nil, fmt.Errorf("shadow header: %w", err)
			}
		}
	}
	// One comparator per worker: they share nothing, so comparing takes
	// no lock, and each counts only the verdicts (a report.Builder would
	// aggregate a whole report that nobody reads).
	cmps := make([]*report.Comparator, opts.Concurrency)
	for i := range cmps {
		c, err := report.NewComparator(opts.Compare)
		if err != nil {
			return nil, err
		}
		cmps[i] = c
	}
	// No header or read timeouts: each copy's timer bounds it whole.
	hc, err := h1.NewClient(opts.Target, h1.Options{TLS: opts.TLS})
	if err != nil {
		return nil, fmt.Errorf("shadow target: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Shadow{opts: opts, queue: make(chan *pending, opts.Queue), ctx: ctx, cancel: cancel, m: newMetrics(), h1: hc,
		late: newLate(), last: cmps[0]}
	if opts.Rate > 0 {
		s.limit = rate.NewLimiter(rate.Limit(opts.Rate), max(1, int(opts.Rate/10)))
	}
	for _, c := range cmps {
		w := &worker{c: c, slot: s.aborter.NewSlot()}
		s.wg.Add(1)
		go s.work(w)
	}
	return s, nil
}

// pending is one mirrored request: its copy, the shadow's answer and the
// primary's, each of which may come first. Whoever comes second makes the
// row: a worker once the shadow answered, or a free worker (see late) once
// a slow primary's answer came after the shadow's. So a slow primary never
// holds a worker, and the copies still queued leave when a worker is free.
type pending struct {
	s    *Shadow
	req  *record.MirrorRequest
	held int64 // the request body's reservation of MaxHeld

	mu   sync.Mutex
	prim *record.MirrorAnswer // the primary's answer, once its exchange ended
	kept int64                // its body's reservation
	cand *answer              // the shadow's answer, once it came before the primary's
	cut  bool                 // ended without a row: Close's deadline
}

// Primary takes the primary's answer, on the proxy's goroutine: it never
// blocks and never makes the row itself.
func (p *pending) Primary(a *record.MirrorAnswer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut || p.prim != nil {
		return
	}
	if n := int64(len(a.Body)); n > 0 {
		if p.s.hold(n) {
			p.kept = n
		} else {
			cut := *a
			cut.Body, cut.Truncated = nil, true
			a = &cut
		}
	}
	p.prim = a
	if p.cand != nil {
		p.s.late.ready(p)
	}
}

// release gives back what p holds of MaxHeld, the shadow's answer's
// reservation with it; under p.mu or once p is p's only owner.
func (p *pending) release() {
	n := p.held + p.kept
	if p.cand != nil {
		n += p.cand.held
		p.cand.held = 0
	}
	p.s.held.Add(-n)
	p.held, p.kept = 0, 0
}

// late holds the pendings whose shadow answered before their primary: those
// still waiting for it, and those it has since come to, for a free worker
// to make their rows. Its lock is taken under a pending's, never around one.
type late struct {
	mu      sync.Mutex
	waiting map[*pending]struct{}
	due     []*pending
	closed  bool
	signal  chan struct{} // buffered 1: something is ready
}

func newLate() *late {
	return &late{waiting: map[*pending]struct{}{}, signal: make(chan struct{}, 1)}
}

// park keeps p until its primary's answer comes; false once closed.
func (l *late) park(p *pending) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.waiting[p] = struct{}{}
	return true
}

// ready moves p, parked, to the ones a worker is to finish.
func (l *late) ready(p *pending) {
	l.mu.Lock()
	if _, ok := l.waiting[p]; !ok || l.closed {
		l.mu.Unlock()
		return // Close took it
	}
	delete(l.waiting, p)
	l.due = append(l.due, p)
	l.mu.Unlock()
	select {
	case l.signal <- struct{}{}:
	default:
	}
}

// take returns the pendings ready to finish.
func (l *late) take() []*pending {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.due
	l.due = nil
	return r
}

// close stops parking, and returns the pendings ready and those whose
// primary never came (the proxy's drain was cut short).
func (l *late) close() (ready, waiting []*pending) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	ready, l.due = l.due, nil
	for p := range l.waiting {
		waiting = append(waiting, p)
	}
	clear(l.waiting)
	return ready, waiting
}

// Offer takes a copy of r if it is sampled and a worker or the queue has
// room; it never blocks.
func (s *Shadow) Offer(r *record.MirrorRequest) record.Mirrored {
	s.offered.Add(1)
	if !s.sampled(r) {
		return nil
	}
	if r.Unheld {
		s.drop(DropUnheld)
		return nil
	}
	s.gate.RLock()
	defer s.gate.RUnlock()
	if s.closing {
		s.drop(DropClosed)
		return nil
	}
	if len(s.queue) == cap(s.queue) {
		// Full: the usual case with a slow shadow, so it allocates
		// nothing and touches no shared counter but its own.
		s.drop(DropQueueFull)
		return nil
	}
	n := int64(len(r.Body))
	if !s.hold(n) {
		s.drop(DropQueueFull)
		return nil
	}
	// A token only for a copy that the queue has room for, so that a
	// slow shadow's drops do not spend the cap.
	if s.limit != nil && !s.limit.AllowN(s.opts.Now(), 1) {
		s.held.Add(-n)
		s.drop(DropRate)
		return nil
	}
	r.Take()
	p := &pending{s: s, req: r, held: n}
	select {
	case s.queue <- p:
		return p
	default:
		s.held.Add(-n)
		s.drop(DropQueueFull)
		return nil
	}
}

func (s *Shadow) sampled(r *record.MirrorRequest) bool {
	switch f := s.opts.Sample; {
	case f >= 1:
		return true
	case f <= 0:
		return false
	case s.opts.Key != nil:
		return s.opts.Key.fraction(r) < f
	default:
		return rand.Float64() < f
	}
}

func (s *Shadow) drop(reason string) {
	for i, r := range DropReasons {
		if r == reason {
			s.dropped[i].Add(1)
		}
	}
}

// worker is one of the goroutines that send the copies: its own
// comparator, and the slot of the copy's connection, for Close's deadline
// to abort.
type worker struct {
	c    *report.Comparator
	slot *h1.Slot
}

// work sends copies until the queue is closed, comparing with its own
// comparator, and makes the rows of copies whose primary answered last.
func (s *Shadow) work(w *worker) {
	defer s.wg.Done()
	for {
		select {
		case p, ok := <-s.queue:
			if !ok {
				return
			}
			s.mirror(p, w)
		case <-s.late.signal:
			for _, p := range s.late.take() {
				s.finish(p, w.c)
			}
		}
	}
}

// mirror sends one copy, then makes its row if the primary has answered;
// otherwise the row is made when it does (see pending).
func (s *Shadow) mirror(p *pending, w *worker) {
	if s.ctx.Err() != nil {
		s.cut(p) // still queued at Close's deadline: never sent
		return
	}
	s.m.inFlight.Inc()
	cand := s.send(w, p.req)
	s.m.inFlight.Dec()
	p.mu.Lock()
	p.cand = &cand
	switch {
	case cand.Kind == replay.KindCanceled && s.ctx.Err() != nil:
		p.mu.Unlock()
		s.cut(p) // cut by Close's deadline: no answer of the shadow's
	case p.prim == nil:
		parked := s.late.park(p)
		p.mu.Unlock()
		if !parked {
			s.cut(p)
		}
	default:
		p.mu.Unlock()
		s.finish(p, w.c)
	}
}

// finish makes, compares and writes the row of p, both answers in.
func (s *Shadow) finish(p *pending, c *report.Comparator) {
	prim, cand := p.prim, *p.cand
	// The request's and primary's bodies now belong to the row (the
	// results spool bounds the rows it queues), the shadow's too.
	defer p.release()
	if cand.notKept {
		// Its answer would take the bodies held past MaxHeld: dropped as
		// the queue drops a copy when they are full, not a row.
		s.drop(DropQueueFull)
		return
	}
	s.mirrored.Add(1)
	s.m.observe(cand.Answer)
	row := newRow(p.req, prim, cand)
	// Comparing decodes both bodies, which takes several times their
	// size (about 14× for a JSON array of numbers): that memory is
	// reserved of MaxHeld too, and when it is not there the row is
	// written but not compared live (the report compares it).
	if cost := compareCost * int64(len(row.RecordedBody)+len(row.CandidateBody)); s.hold(cost) {
		if compared, agreed := c.Compare(row); compared {
			s.compared.Add(1)
			if agreed {
				s.agreed.Add(1)
			}
		}
		s.held.Add(-cost)
	} else {
		s.skipped.Add(1)
	}
	if s.opts.Rows == nil {
		return
	}
	if r := s.opts.RedactJSON; r != nil {
		row.RequestBody, _ = r.Body(row.RequestBody, false, row.RequestHeaders)
		row.RecordedBody, row.RecordedBodyTruncated = r.Body(row.RecordedBody, row.RecordedBodyTruncated, record.HeadersFrom(prim.Header, nil))
		row.CandidateBody, _ = r.Body(row.CandidateBody, false, record.HeadersFrom(cand.header, nil))
	}
	if s.opts.Rows.Offer(row) {
		s.written.Add(1)
	}
}

// cut ends a copy that Close's deadline stopped, or whose primary never
// answered: counted as closed, with no row and no comparison (the shadow
// is not to blame).
func (s *Shadow) cut(p *pending) {
	p.mu.Lock()
	p.cut = true
	p.release()
	p.mu.Unlock()
	s.drop(DropClosed)
}

// send sends the copy to the candidate, with the client's headers and
// --shadow-header.
func (s *Shadow) send(w *worker, r *record.MirrorRequest) answer {
	sent := time.Now().UTC()
	h := r.Header // Take's copy, read only
	if len(s.opts.Header) > 0 {
		h = make(http.Header, len(r.Header)+len(s.opts.Header))
		for k, vs := range r.Header {
			h[k] = vs
		}
		for k, vs := range s.opts.Header {
			h[k] = vs
		}
	}
	a := s.sendH1(w, r, h)
	a.sent = sent
	return a
}

// newRow is the results row of a mirrored request: the recorded side is
// the primary's answer as the client got it, the candidate side the
// shadow's.
func newRow(r *record.MirrorRequest, prim *record.MirrorAnswer, cand answer) *replay.Result {
	return &replay.Result{
		ID: r.ID, Method: r.Method, Path: r.Target, RequestBody: r.Body, RequestHeaders: r.StoredHeaders,
		SentAt: cand.sent, RecordedStartedAt: r.StartedAt,
		RecordedStatus: int32(prim.Status), RecordedBody: prim.Body, RecordedBodyTruncated: prim.Truncated,
		RecordedLatencyNs: int64(prim.Latency), RecordedError: prim.Error,
		RecordedFirstByteNs: prim.FirstByteNs, RecordedEvents: prim.Events, RecordedEventNs: prim.EventNs,
		CandidateStatus: cand.Status, CandidateBody: cand.Body, CandidateLatencyNs: int64(cand.Latency),
		CandidateError: cand.Err, CandidateErrorKind: cand.Kind,
		CandidateFirstByteNs: cand.timing.FirstByteNs, CandidateEvents: cand.timing.Events, CandidateEventNs: cand.timing.EventNs,
	}
}

// Stats reads the counters, and the live comparison so far.
func (s *Shadow) Stats() Stats {
	st := Stats{Offered: s.offered.Load(), Mirrored: s.mirrored.Load(), Written: s.written.Load(), Dropped: map[string]int64{}}
	for i, r := range DropReasons {
		st.Dropped[r] = s.dropped[i].Load()
	}
	st.Agreed = s.agreed.Load() // first: a row counts as compared before it agrees
	st.Compared = s.compared.Load()
	st.Skipped = s.skipped.Load()
	return st
}

// DroppedTotal is every copy not sent.
func (st Stats) DroppedTotal() int64 {
	var n int64
	for _, v := range st.Dropped {
		n += v
	}
	return n
}

// Close stops taking copies and lets those queued and in flight finish,
// until ctx ends (then they are cut and not written). Call it once the
// proxy has drained, so every primary answer has come.
func (s *Shadow) Close(ctx context.Context) error {
	s.gate.Lock()
	if s.closing {
		s.gate.Unlock()
		return nil
	}
	s.closing = true
	close(s.queue)
	s.gate.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		s.closeLate()
		s.closeClient()
		return nil
	case <-ctx.Done():
		s.cancel()
		s.aborter.AbortAll()
		<-done
		s.closeLate()
		s.closeClient()
		return fmt.Errorf("shadow copies cut when stopping: %w", ctx.Err())
	}
}

// closeLate, once the workers are done, makes the rows of the copies whose
// primary answered last, and cuts those whose primary never did.
func (s *Shadow) closeLate() {
	ready, waiting := s.late.close()
	for _, p := range ready {
		s.finish(p, s.last)
	}
	for _, p := range waiting {
		s.cut(p)
	}
}

// closeClient drops the idle connections to the shadow.
func (s *Shadow) closeClient() { s.h1.Close() }
