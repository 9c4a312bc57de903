package record

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Reasons a row is dropped instead of recorded: the label values of the
// dropped counter and the keys of SinkStats.Dropped.
const (
	// DropQueueFull: the queue was full (by rows or bytes) when the row came.
	DropQueueFull = "queue_full"
	// DropWriteError: the disk failed while the row's file was written.
	DropWriteError = "write_error"
	// DropClosed: the row came after the sink was closed.
	DropClosed = "closed"
)

// DropReasons lists every reason, in a fixed order.
var DropReasons = []string{DropQueueFull, DropWriteError, DropClosed}

// Defaults of SinkOptions.
const (
	DefaultQueue          = 10000
	DefaultQueueBytes     = 128 << 20
	DefaultRotateSize     = 128 << 20
	DefaultRotateInterval = 5 * time.Minute
)

const (
	// maxBatch bounds how many rows the writer takes from the queue at once.
	maxBatch = 512
	// flushBytes ends a row group once this many bytes of rows are buffered,
	// so large bodies cannot pile up 4096 rows in memory.
	flushBytes = 8 << 20
	// errLogEvery is how often, at most, disk errors are logged.
	errLogEvery = 30 * time.Second
	// walSyncEvery bounds what a hard crash can lose: rows reach the disk's
	// log at least this often.
	walSyncEvery = time.Second
	// batchLinger is how long the writer rests after a batch that did not
	// fill: rows queue meanwhile without waking it, so under load it takes
	// them (and writes their log) in batches, not one wake-up and one
	// write(2) per request. Rows wait at most this much longer for the log.
	batchLinger = 2 * time.Millisecond
)

// SinkOptions configures a Sink.
type SinkOptions struct {
	// Dir receives the recording files; it is created (0700) if missing.
	Dir string
	// Instance names this recorder in file names and rows.
	Instance string
	// Queue is the number of rows that may wait for the writer.
	Queue int
	// QueueBytes bounds the bytes (bodies and headers) of the waiting rows,
	// so a burst of large bodies cannot exhaust memory.
	QueueBytes int64
	// RotateSize starts a new file once the current one reaches it.
	RotateSize int64
	// RotateInterval finalizes the current file once it is this old, so rows
	// become readable at least that often.
	RotateInterval time.Duration
	// Now is the clock for file names; time.Now by default.
	Now func() time.Time
	// Logger receives disk errors (rate-limited); nil discards them.
	Logger *slog.Logger
	// NoWAL turns off the write-ahead log: faster, but a hard crash then
	// loses the whole file being written.
	NoWAL bool
	// RedactJSON masks fields inside JSON bodies before rows are written;
	// nil stores bodies as they came.
	RedactJSON *JSONRedactor

	// create opens a file; tests replace it to inject disk failures.
	create func(path string) (rowFile, error)
}

// rowFile is what the sink needs of a recording file (a *FileWriter).
type rowFile interface {
	Write([]Exchange) error
	Flush() error
	Size() int64
	Close() error
	Abort() error
}

// SinkStats counts what happened to the rows offered to a sink. After a
// clean Close, Recorded + the sum of Dropped equals Offered.
type SinkStats struct {
	Offered int64
	// Recorded counts rows in finalized files.
	Recorded int64
	// Pending counts rows taken by the writer but not yet in a finalized
	// file.
	Pending int64
	// Dropped counts rows lost, by reason (every reason is present).
	Dropped      map[string]int64
	BytesWritten int64
	FilesWritten int64
	QueueDepth   int
}

// DroppedTotal is the sum of Dropped.
func (s SinkStats) DroppedTotal() int64 {
	var n int64
	for _, v := range s.Dropped {
		n += v
	}
	return n
}

// Sink writes exchanges to rotating recording files from one goroutine. Offer
// never blocks: when the queue is full the row is dropped and counted. Disk
// errors drop rows too, and never reach the caller; the sink tries a new file
// with the next rows, so recording resumes once the disk recovers.
type Sink struct {
	opts  SinkOptions
	queue chan *Exchange

	mu     sync.RWMutex // guards closed against Offer sending on a closed queue
	closed bool

	queuedBytes atomic.Int64
	offered     atomic.Int64
	recorded    atomic.Int64
	pending     atomic.Int64
	bytes       atomic.Int64
	files       atomic.Int64
	dropped     [3]atomic.Int64 // indexed like DropReasons

	done     chan struct{}
	closeErr error // set by the writer before done is closed
}

// NewSink creates opts.Dir if needed and starts the writer goroutine; Close
// stops it.
func NewSink(opts SinkOptions) (*Sink, error) {
	if opts.Dir == "" {
		return nil, errors.New("sink: no folder for recordings")
	}
	if opts.Instance == "" {
		return nil, errors.New("sink: no instance name")
	}
	if opts.Queue <= 0 {
		opts.Queue = DefaultQueue
	}
	if opts.QueueBytes <= 0 {
		opts.QueueBytes = DefaultQueueBytes
	}
	if opts.RotateSize <= 0 {
		opts.RotateSize = DefaultRotateSize
	}
	if opts.RotateInterval <= 0 {
		opts.RotateInterval = DefaultRotateInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.create == nil {
		opts.create = func(path string) (rowFile, error) { return CreateFile(path) }
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create recordings folder %s: %w", opts.Dir, err)
	}
	if err := probeWritable(opts.Dir); err != nil {
		return nil, err
	}
	recovered, err := Recover(opts.Dir)
	for _, r := range recovered {
		opts.Logger.Warn("recovered recording left by a recorder that did not stop cleanly",
			"log", r.WAL, "file", r.File, "rows", r.Rows, "damaged_tail_bytes", r.CutBytes)
	}
	if err != nil {
		return nil, fmt.Errorf("recover recordings in %s: %w", opts.Dir, err)
	}
	s := &Sink{
		opts:  opts,
		queue: make(chan *Exchange, opts.Queue),
		done:  make(chan struct{}),
	}
	w := &sinkWriter{s: s}
	go w.run()
	return s, nil
}

// ErrNotWritable is wrapped by NewSink's error when files cannot be created
// in the recordings folder.
var ErrNotWritable = errors.New("not writable")

// probeWritable creates and removes a file in dir. A folder the process
// cannot write would otherwise be noticed only at the first row, and every
// row dropped while the recorder looks ready.
func probeWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".shadowctl-probe-*")
	if err != nil {
		return fmt.Errorf("recordings folder %s: %w: %w", dir, ErrNotWritable, unwrapPath(err))
	}
	name := f.Name()
	err = f.Close()
	if rmErr := os.Remove(name); err == nil {
		err = rmErr
	}
	if err != nil {
		return fmt.Errorf("recordings folder %s: %w: %w", dir, ErrNotWritable, err)
	}
	return nil
}

// unwrapPath is the OS error inside a *fs.PathError, whose path (a probe
// file's pattern) would only repeat the folder.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Offer hands x to the writer without waiting. It reports false when x was
// dropped (queue full, or the sink closed). x must not change afterwards.
func (s *Sink) Offer(x *Exchange) bool {
	s.offered.Add(1)
	n := rowBytes(x)
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		s.drop(DropClosed, 1)
		return false
	}
	if s.queuedBytes.Add(n) > s.opts.QueueBytes {
		s.queuedBytes.Add(-n)
		s.mu.RUnlock()
		s.drop(DropQueueFull, 1)
		return false
	}
	select {
	case s.queue <- x:
		s.mu.RUnlock()
		return true
	default:
		s.queuedBytes.Add(-n)
		s.mu.RUnlock()
		s.drop(DropQueueFull, 1)
		return false
	}
}

// Running reports whether the writer is still accepting rows.
func (s *Sink) Running() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return !s.closed
}

// Close stops accepting rows, writes those queued and finalizes the current
// file. It returns an error when the last file could not be finalized (its
// rows are counted as dropped), or ctx's error if ctx ends first; the writer
// then still finishes in the background.
func (s *Sink) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.mu.Unlock()
	select {
	case <-s.done:
		return s.closeErr
	case <-ctx.Done():
		return fmt.Errorf("close recording sink: %w", ctx.Err())
	}
}

// Stats returns the counters so far.
func (s *Sink) Stats() SinkStats {
	st := SinkStats{
		Offered:      s.offered.Load(),
		Recorded:     s.recorded.Load(),
		Pending:      s.pending.Load(),
		Dropped:      make(map[string]int64, len(DropReasons)),
		BytesWritten: s.bytes.Load(),
		FilesWritten: s.files.Load(),
		QueueDepth:   len(s.queue),
	}
	for i, r := range DropReasons {
		st.Dropped[r] = s.dropped[i].Load()
	}
	return st
}

func (s *Sink) drop(reason string, n int64) {
	for i, r := range DropReasons {
		if r == reason {
			s.dropped[i].Add(n)
			return
		}
	}
}

// rowBytes estimates the memory a row holds: its bodies (the memory behind
// them, not only what they hold), headers and a fixed part for the other
// columns.
func rowBytes(x *Exchange) int64 {
	n := int64(cap(x.RequestBody)+cap(x.ResponseBody)+len(x.Path)+len(x.Host)) + 128
	for _, h := range x.RequestHeaders {
		n += int64(len(h.Name) + len(h.Value) + 32)
	}
	for _, h := range x.ResponseHeaders {
		n += int64(len(h.Name) + len(h.Value) + 32)
	}
	return n
}

// sinkWriter is the state of the writer goroutine; only it touches it.
type sinkWriter struct {
	s       *Sink
	f       rowFile
	log     *exchangeLog // f's write-ahead log; nil with NoWAL
	dirty   bool         // log written since its last sync
	path    string
	rows    int64 // rows in f
	unflush int64 // bytes written to f since its last flush
	seq     int
	timer   *time.Timer
	batch   []Exchange

	failing    bool      // the last disk operation failed
	lastErrLog time.Time // when a disk error was last logged
	suppressed int       // disk errors not logged since
}

func (w *sinkWriter) run() {
	s := w.s
	defer close(s.done)
	syncTicker := time.NewTicker(walSyncEvery)
	defer syncTicker.Stop()
	rest := time.NewTimer(batchLinger)
	defer rest.Stop()
	resting := false
	for {
		var tick <-chan time.Time
		if w.timer != nil {
			tick = w.timer.C
		}
		queue := s.queue
		if resting {
			queue = nil
		}
		select {
		case <-syncTicker.C:
			w.syncLog()
		case <-rest.C:
			resting = false
		case x, ok := <-queue:
			if !ok {
				s.closeErr = w.finalize()
				return
			}
			closed := !w.take(x)
			full := len(w.batch) == maxBatch
			w.write()
			if closed {
				s.closeErr = w.finalize()
				return
			}
			if !full {
				resting = true
				rest.Reset(batchLinger)
			}
		case <-tick:
			w.timer = nil
			_ = w.finalize() // counted and logged in finalize
		}
	}
}

// take fills the batch with x and whatever else is queued, up to maxBatch.
// It reports false once the queue is closed and drained.
func (w *sinkWriter) take(x *Exchange) bool {
	w.batch = append(w.batch[:0], *x)
	for len(w.batch) < maxBatch {
		select {
		case x, ok := <-w.s.queue:
			if !ok {
				return false
			}
			w.batch = append(w.batch, *x)
		default:
			return true
		}
	}
	return true
}

// runBytes bounds the rows handed to the file in one write: parquet-go
// makes one page of what one Write gets, so a batch of large bodies written
// at once held several copies of all of them (column buffer, encoded page,
// compressed page) besides the rows.
const runBytes = 1 << 20

// write appends the batch to the current file in runs of about runBytes,
// opening a file if needed, and rotates by size.
func (w *sinkWriter) write() {
	batch := w.batch
	for len(batch) > 0 {
		i, size := 1, rowBytes(&batch[0])
		for i < len(batch) && size+rowBytes(&batch[i]) <= runBytes {
			size += rowBytes(&batch[i])
			i++
		}
		w.writeRun(batch[:i], size)
		clear(batch[:i]) // let the bodies go
		batch = batch[i:]
	}
}

// writeRun appends rows, size bytes of them: they count as queued until
// they are written.
func (w *sinkWriter) writeRun(rows []Exchange, size int64) {
	s := w.s
	n := int64(len(rows))
	for i := range rows {
		s.opts.RedactJSON.Apply(&rows[i])
	}
	defer s.queuedBytes.Add(-size)
	s.pending.Add(n)
	if w.f == nil {
		if err := w.open(); err != nil {
			w.fail(err, n)
			return
		}
	}
	if err := w.f.Write(rows); err != nil {
		w.fail(err, n)
		return
	}
	if w.log != nil {
		if err := w.log.append(rows); err != nil {
			w.fail(err, n)
			return
		}
		w.dirty = true
	}
	w.rows += n
	w.unflush += size
	if w.unflush >= flushBytes {
		if err := w.f.Flush(); err != nil {
			w.fail(err, 0)
			return
		}
		w.unflush = 0
	}
	if w.f.Size()+w.unflush >= s.opts.RotateSize {
		_ = w.finalize()
	}
}

func (w *sinkWriter) open() error {
	s := w.s
	w.path = filepath.Join(s.opts.Dir, FileName(s.opts.Now(), s.opts.Instance, w.seq))
	w.seq++
	f, err := s.opts.create(w.path)
	if err != nil {
		return err
	}
	if !s.opts.NoWAL {
		if w.log, err = createWAL(w.path + WALSuffix); err != nil {
			_ = f.Abort()
			return err
		}
	}
	w.f, w.rows, w.unflush = f, 0, 0
	w.timer = time.NewTimer(s.opts.RotateInterval)
	return nil
}

// finalize closes the current file (footer, fsync, rename). Its rows become
// recorded, or dropped if that fails.
func (w *sinkWriter) finalize() error {
	if w.f == nil {
		return nil
	}
	s := w.s
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	f, rows := w.f, w.rows
	w.f, w.rows, w.unflush = nil, 0, 0
	defer w.dropLog()
	if err := f.Close(); err != nil {
		s.pending.Add(-rows)
		s.drop(DropWriteError, rows)
		err = fmt.Errorf("finalize recording %s: %w", w.path, err)
		w.logErr(err, rows)
		return err
	}
	s.pending.Add(-rows)
	s.recorded.Add(rows)
	s.files.Add(1)
	s.bytes.Add(f.Size())
	if w.failing {
		w.failing = false
		s.opts.Logger.Info("recording resumed", "file", w.path)
	}
	return nil
}

// syncLog makes the rows written since the last sync durable.
func (w *sinkWriter) syncLog() {
	if w.log == nil || !w.dirty {
		return
	}
	w.dirty = false
	if err := w.log.Sync(); err != nil {
		w.logErr(err, 0)
	}
}

// dropLog removes the log of the file just finalized or abandoned: its rows
// are either in a finished file or counted as dropped.
func (w *sinkWriter) dropLog() {
	if w.log == nil {
		return
	}
	if err := w.log.Remove(); err != nil {
		w.logErr(err, 0)
	}
	w.log, w.dirty = nil, false
}

// fail drops the current file and its rows, plus the extra rows of the
// batch that did not reach it.
func (w *sinkWriter) fail(err error, extra int64) {
	s := w.s
	lost := extra
	if w.f != nil {
		lost += w.rows
		_ = w.f.Abort()
		w.dropLog()
		w.f, w.rows, w.unflush = nil, 0, 0
		if w.timer != nil {
			w.timer.Stop()
			w.timer = nil
		}
	}
	s.pending.Add(-lost)
	s.drop(DropWriteError, lost)
	w.logErr(err, lost)
}

// logErr logs a disk error, at most once per errLogEvery.
func (w *sinkWriter) logErr(err error, lost int64) {
	w.failing = true
	now := time.Now()
	if !w.lastErrLog.IsZero() && now.Sub(w.lastErrLog) < errLogEvery {
		w.suppressed++
		return
	}
	w.s.opts.Logger.Error("recording failed; rows dropped", "err", err, "rows", lost,
		"errors_not_logged", w.suppressed)
	w.lastErrLog, w.suppressed = now, 0
}
