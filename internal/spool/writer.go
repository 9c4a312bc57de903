package spool

import (
	"fmt"
	"path/filepath"
	"time"
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
	// minRest and maxRest bound how long the writer rests after a batch
	// that did not fill: rows queue meanwhile without waking it, so it
	// takes them (and writes their log, and a page) in batches, not one
	// wake-up and one write(2) per request. Rows wait at most maxRest
	// longer for the log, well within what walSyncEvery lets a crash
	// lose. See nextRest.
	minRest = 2 * time.Millisecond
	maxRest = 20 * time.Millisecond
)

// nextRest follows a rest of d after which the writer took a batch that
// filled fill of its aim (see restAim): doubled when the batch was under
// half of it, halved when it reached it, within [minRest, maxRest]. At a few thousand rows a second (a live shadow's
// results, a recorder under moderate load) a 2 ms rest took a few rows per
// batch, and each batch cost more than its rows (BenchmarkSinkPaced);
// under heavy load the batches fill and there is no rest.
func nextRest(d time.Duration, fill float64) time.Duration {
	switch {
	case fill >= 1:
		d /= 2
	case fill < 0.5:
		d *= 2
	}
	return min(max(d, minRest), maxRest)
}

// restAim is what a rest aims to let queue, as a fraction of the batch
// it aims at: about half of maxBatch, and at most an eighth of the
// queue's rows and of its bytes, so that the rows coming during a rest
// leave room in a small queue and a batch of large bodies stops the rests
// growing.
func restAim(rows int, bytes int64, queue int, queueBytes int64) float64 {
	aim := max(1, min(maxBatch/2, queue/8))
	return max(float64(rows)/float64(aim), float64(bytes)/float64(max(1, queueBytes/8)))
}

// writer is the state of the writer goroutine; only it touches it.
type writer[T any] struct {
	s       *Sink[T]
	f       File[T]
	log     *rowLog[T] // f's write-ahead log; nil with NoWAL
	dirty   bool       // log written since its last sync
	path    string
	rows    int64 // rows in f
	unflush int64 // bytes written to f since its last flush
	seq     int
	timer   *time.Timer
	batch   []T

	failing    bool      // the last disk operation failed
	lastErrLog time.Time // when a disk error was last logged
	suppressed int       // disk errors not logged since
}

func (w *writer[T]) run() {
	s := w.s
	defer close(s.done)
	syncTicker := time.NewTicker(walSyncEvery)
	defer syncTicker.Stop()
	rest := time.NewTimer(minRest)
	defer rest.Stop()
	resting, restFor := false, minRest
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
			fill := restAim(len(w.batch), s.queuedBytes.Load(), cap(s.queue), s.opts.QueueBytes)
			w.write()
			if closed {
				s.closeErr = w.finalize()
				return
			}
			if full {
				restFor = minRest
			} else {
				restFor = nextRest(restFor, fill)
				resting = true
				rest.Reset(restFor)
			}
		case <-tick:
			w.timer = nil
			_ = w.finalize() // counted and logged in finalize
		}
	}
}

// take fills the batch with x and whatever else is queued, up to maxBatch.
// It reports false once the queue is closed and drained.
func (w *writer[T]) take(x *T) bool {
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
func (w *writer[T]) write() {
	batch := w.batch
	for len(batch) > 0 {
		sizeOf := w.s.codec.Size
		i, size := 1, sizeOf(&batch[0])
		for i < len(batch) && size+sizeOf(&batch[i]) <= runBytes {
			size += sizeOf(&batch[i])
			i++
		}
		w.writeRun(batch[:i], size)
		clear(batch[:i]) // let the bodies go
		batch = batch[i:]
	}
}

// writeRun appends rows, size bytes of them: they count as queued until
// they are written.
func (w *writer[T]) writeRun(rows []T, size int64) {
	s := w.s
	n := int64(len(rows))
	if prepare := s.codec.Prepare; prepare != nil {
		for i := range rows {
			prepare(&rows[i])
		}
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

func (w *writer[T]) open() error {
	s := w.s
	w.path = filepath.Join(s.opts.Dir, s.codec.FileName(s.opts.Now(), s.opts.Instance, w.seq))
	w.seq++
	f, err := s.codec.Create(w.path)
	if err != nil {
		return err
	}
	if !s.opts.NoWAL {
		if w.log, err = createRowLog(w.path+s.codec.WALSuffix, s.codec.Append); err != nil {
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
func (w *writer[T]) finalize() error {
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
	if err := f.Close(); err != nil {
		s.pending.Add(-rows)
		s.drop(DropWriteError, rows)
		err = fmt.Errorf("finalize %s %s: %w", s.codec.Names.File, w.path, err)
		if kept := w.keepLog(rows); kept != "" {
			err = fmt.Errorf("%w; its %d rows are kept in %s, recovered at the next start", err, rows, kept)
		}
		w.logErr(err, rows)
		return err
	}
	w.dropLog()
	s.pending.Add(-rows)
	s.recorded.Add(rows)
	s.files.Add(1)
	s.bytes.Add(f.Size())
	if w.failing {
		w.failing = false
		s.opts.Logger.Info(s.codec.Names.File+" resumed", "file", w.path)
		// The next failure is news, however soon it comes: log it.
		w.lastErrLog = time.Time{}
	}
	return nil
}

// keepLog closes the log of a file that failed and keeps it, when it holds
// rows: they were safe in it, and the next start turns it into a file
// (Recover). It returns the log's path, or "" when there was none to keep.
func (w *writer[T]) keepLog(rows int64) string {
	if w.log == nil {
		return ""
	}
	if rows == 0 {
		w.dropLog()
		return ""
	}
	path := w.path + w.s.codec.WALSuffix
	_ = w.log.Sync() // best effort: what reached the disk is what recovery reads
	_ = w.log.Close()
	w.log, w.dirty = nil, false
	w.s.opts.Logger.Warn(w.s.codec.Names.File+" failed; its rows are kept in its log, recovered at the next start",
		"log", path, "rows", rows)
	return path
}

// syncLog makes the rows written since the last sync durable.
func (w *writer[T]) syncLog() {
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
func (w *writer[T]) dropLog() {
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
func (w *writer[T]) fail(err error, extra int64) {
	s := w.s
	lost := extra
	if w.f != nil {
		lost += w.rows
		_ = w.f.Abort()
		w.keepLog(w.rows)
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
func (w *writer[T]) logErr(err error, lost int64) {
	w.failing = true
	now := time.Now()
	if !w.lastErrLog.IsZero() && now.Sub(w.lastErrLog) < errLogEvery {
		w.suppressed++
		return
	}
	w.s.opts.Logger.Error(w.s.codec.Names.File+" failed; rows dropped", "err", err, "rows", lost,
		"errors_not_logged", w.suppressed)
	w.lastErrLog, w.suppressed = now, 0
}
