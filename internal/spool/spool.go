// Package spool writes rows of any type to rotating Parquet files from one
// goroutine, without ever making the caller wait: the recorder's recordings
// and the live shadow's results. Offer hands a row to a bounded queue; the
// writer batches rows into files rotated by size and age, finalized
// atomically, and guarded by a write-ahead log (internal/wal) that Recover
// turns back into Parquet after a crash. Rows the queue or the disk cannot
// take are dropped and counted, never waited for.
//
// What depends on the row (its size, redaction, its file and its log
// records) is the Codec's; the machinery here is the same for every row.
package spool

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Reasons a row is dropped instead of written: the keys of Stats.Dropped.
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

// Defaults of Options.
const (
	DefaultQueue          = 10000
	DefaultQueueBytes     = 128 << 20
	DefaultRotateSize     = 128 << 20
	DefaultRotateInterval = 5 * time.Minute
)

// Options configures a Sink.
type Options struct {
	// Dir receives the files; it is created (0700) if missing.
	Dir string
	// Instance names this writer in file names.
	Instance string
	// Queue is the number of rows that may wait for the writer.
	Queue int
	// QueueBytes bounds the bytes (Codec.Size) of the waiting rows, so a
	// burst of large rows cannot exhaust memory.
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
}

// File is what a sink needs of one file being written (a
// *parquetfile.Writer[T]): it appears under its final name only when Close
// succeeds, and Abort removes it.
type File[T any] interface {
	Write([]T) error
	Flush() error
	Size() int64
	Close() error
	Abort() error
}

// Codec is what a sink and Recover need to know of the row type T.
type Codec[T any] struct {
	// Size estimates the memory a row holds (the memory behind its slices,
	// not only what they hold): it bounds the queue and the runs handed to
	// a file at once.
	Size func(*T) int64
	// Prepare changes a row just before it reaches the disk (redaction);
	// nil leaves rows as they came.
	Prepare func(*T)
	// Create starts a file at path, written as path+PartialSuffix until it
	// is closed.
	Create func(path string) (File[T], error)
	// Append appends a row's log record to b. Its bytes are a file format:
	// a change needs a version byte that Decode checks.
	Append func(b []byte, row *T) []byte
	// Decode reads a record Append wrote. A record it refuses is cut with
	// everything after it, like one whose checksum fails.
	Decode func(rec []byte) (T, error)
	// FileName names the seq'th file instance starts, at now.
	FileName func(now time.Time, instance string, seq int) string
	// WALSuffix ends the name of a file's log: FILE+WALSuffix.
	WALSuffix string
	// PartialSuffix ends the name Create gives a file while it is written.
	PartialSuffix string
	// Names are the words of errors and logs.
	Names Names
}

// Names are the words a sink's errors and logs use for what it writes, so
// that a recorder speaks of recordings and the shadow of results.
type Names struct {
	File   string // one file: "recording"
	Files  string // what the folder holds: "recordings"
	Writer string // the program writing them: "recorder"
}

func (c *Codec[T]) check() error {
	if c.Size == nil || c.Create == nil || c.Append == nil || c.Decode == nil || c.FileName == nil ||
		c.WALSuffix == "" || c.PartialSuffix == "" {
		return errors.New("sink: incomplete codec")
	}
	if c.Names.File == "" {
		c.Names.File = "file"
	}
	if c.Names.Files == "" {
		c.Names.Files = "files"
	}
	if c.Names.Writer == "" {
		c.Names.Writer = "writer"
	}
	return nil
}

// Stats counts what happened to the rows offered to a sink. After a clean
// Close, Recorded + the sum of Dropped equals Offered.
type Stats struct {
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
func (s Stats) DroppedTotal() int64 {
	var n int64
	for _, v := range s.Dropped {
		n += v
	}
	return n
}

// Sink writes rows to rotating files from one goroutine. Offer never blocks:
// when the queue is full the row is dropped and counted. Disk errors drop
// rows too, and never reach the caller; the sink tries a new file with the
// next rows, so writing resumes once the disk recovers.
type Sink[T any] struct {
	opts  Options
	codec Codec[T]
	queue chan *T

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

// New creates opts.Dir if needed, recovers the logs a crash left there and
// starts the writer goroutine; Close stops it.
func New[T any](opts Options, codec Codec[T]) (*Sink[T], error) {
	if err := codec.check(); err != nil {
		return nil, err
	}
	names := codec.Names
	if opts.Dir == "" {
		return nil, errors.New("sink: no folder for " + names.Files)
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
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s folder %s: %w", names.Files, opts.Dir, err)
	}
	if err := probeWritable(opts.Dir, names.Files); err != nil {
		return nil, err
	}
	// A log that cannot be recovered now (a full disk) is kept for the
	// next start, and the sink starts anyway: what it guards is on the
	// disk already, and refusing to start would take the service down.
	recovered, err := Recover(opts.Dir, codec)
	if err != nil && !slices.ContainsFunc(recovered, func(r Recovered) bool { return r.Err != nil }) {
		return nil, fmt.Errorf("recover %s in %s: %w", names.Files, opts.Dir, err) // the folder could not be listed
	}
	for _, r := range recovered {
		if r.Err != nil {
			opts.Logger.Error("could not recover a "+names.File+" left by a "+names.Writer+" that did not stop cleanly; "+
				"its log is kept and the next start tries again (free space if the disk is full)", "log", r.WAL, "err", r.Err)
			continue
		}
		opts.Logger.Warn("recovered "+names.File+" left by a "+names.Writer+" that did not stop cleanly",
			"log", r.WAL, "file", r.File, "rows", r.Rows, "damaged_tail_bytes", r.CutBytes)
	}
	s := &Sink[T]{
		opts:  opts,
		codec: codec,
		queue: make(chan *T, opts.Queue),
		done:  make(chan struct{}),
	}
	w := &writer[T]{s: s}
	go w.run()
	return s, nil
}

// ErrNotWritable is wrapped by New's error when files cannot be created in
// the folder.
var ErrNotWritable = errors.New("not writable")

// probeWritable creates and removes a file in dir. A folder the process
// cannot write would otherwise be noticed only at the first row, and every
// row dropped while the writer looks ready.
func probeWritable(dir, what string) error {
	f, err := os.CreateTemp(dir, ".shadowctl-probe-*")
	if err != nil {
		return fmt.Errorf("%s folder %s: %w: %w", what, dir, ErrNotWritable, unwrapPath(err))
	}
	name := f.Name()
	err = f.Close()
	if rmErr := os.Remove(name); err == nil {
		err = rmErr
	}
	if err != nil {
		return fmt.Errorf("%s folder %s: %w: %w", what, dir, ErrNotWritable, err)
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

// Offer hands row to the writer without waiting. It reports false when row
// was dropped (queue full, or the sink closed). row must not change
// afterwards.
func (s *Sink[T]) Offer(row *T) bool {
	s.offered.Add(1)
	n := s.codec.Size(row)
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
	case s.queue <- row:
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
func (s *Sink[T]) Running() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return !s.closed
}

// Close stops accepting rows, writes those queued and finalizes the current
// file. It returns an error when the last file could not be finalized (its
// rows are counted as dropped), or ctx's error if ctx ends first; the writer
// then still finishes in the background.
func (s *Sink[T]) Close(ctx context.Context) error {
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
		return fmt.Errorf("close %s sink: %w", s.codec.Names.File, ctx.Err())
	}
}

// Stats returns the counters so far.
func (s *Sink[T]) Stats() Stats {
	st := Stats{
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

func (s *Sink[T]) drop(reason string, n int64) {
	for i, r := range DropReasons {
		if r == reason {
			s.dropped[i].Add(n)
			return
		}
	}
}
