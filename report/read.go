// Reading results files: Build, and the two stages that feed their rows to
// a Builder.

package report

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/shadowctl/shadowctl/internal/bucket"
	"github.com/shadowctl/shadowctl/internal/parquetfile"
	"github.com/shadowctl/shadowctl/replay"
)

// ErrEmpty is returned when the input holds no results rows: a report over
// nothing must not pass a gate.
var ErrEmpty = errors.New("no results rows")

// Build reads results files (files, folders or globs, as Expand takes them)
// in one streaming pass, merges any report states among them, and returns
// their report. Gates are evaluated separately (Report.Evaluate).
func Build(ctx context.Context, opts Options, args []string) (*Report, error) {
	b, err := Aggregate(ctx, opts, args)
	if err != nil {
		return nil, err
	}
	if b.all.exchanges == 0 {
		return nil, fmt.Errorf("%s: %w", strings.Join(b.files, ", "), ErrEmpty)
	}
	return b.Report(), nil
}

// Aggregate is Build up to the report: it returns the Builder holding the
// aggregation of every results row and report state among args (found by
// content, see isStateFile), which may hold no row at all. The rows are
// aggregated first, then the states merged in the order of the files.
func Aggregate(ctx context.Context, opts Options, args []string) (*Builder, error) {
	exp, err := parquetfile.Expand(args)
	if err != nil {
		return nil, err
	}
	if len(exp.Files) == 0 {
		if len(exp.Partial) == 0 {
			return nil, fmt.Errorf("%s: %w (no results files (*.parquet) or report states there)", strings.Join(args, " "), ErrEmpty)
		}
		return nil, fmt.Errorf("%s: %w (only in-progress files: %s)", strings.Join(args, " "), ErrEmpty, strings.Join(exp.Partial, ", "))
	}
	files, states, err := readStates(exp.Files)
	if err != nil {
		return nil, err
	}
	b, err := newMergingBuilder(opts, states, len(files) > 0)
	if err != nil {
		return nil, err
	}
	// Every file is opened once first, for its row count and to refuse a
	// damaged or foreign one before any is read, and closed: an open
	// reader holds its column buffers (about 730 KB) and a descriptor,
	// and a report reads thousands of shards. They are read one at a time.
	var total int64
	for _, path := range files {
		r, err := replay.OpenResults(path)
		if err != nil {
			return nil, err
		}
		total += r.NumRows()
		r.Close()
	}
	var progress func(int64)
	if opts.Progress != nil {
		progress = func(done int64) { opts.Progress(done, total) }
	}
	done, err := addAll(ctx, b, files, progress)
	if err != nil {
		return nil, err
	}
	if err := b.Err(); err != nil {
		return nil, err
	}
	if progress != nil {
		progress(done)
	}
	// Bucket URLs as they may be shown: no secret of a query.
	b.files, b.partial = redactAll(files), redactAll(exp.Partial)
	for _, s := range states {
		if err := b.Merge(s.b); err != nil {
			return nil, err // checked by newMergingBuilder: never
		}
	}
	return b, nil
}

func redactAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = bucket.Redact(n)
	}
	return out
}

// batchRows is the number of rows handed over at a time: enough that a
// channel operation costs nothing per row, few enough that the batches in
// flight stay around a MiB.
const batchRows = 1024

// batchesInFlight is the number of batches that exist: the reader can run
// this far ahead of the aggregation, and no further.
const batchesInFlight = 4

// readBatches reads the rows of files, in order, into batches taken from
// free and sends them on full, which it closes when it returns. It opens
// one file at a time, closing each once read. It stops early when ctx is
// done.
func readBatches(ctx context.Context, files []string, free <-chan []replay.Result, full chan<- []replay.Result) error {
	defer close(full)
	var batch []replay.Result
	send := func() error {
		select {
		case full <- batch:
			batch = nil
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	read := func(r *replay.ResultsReader) error {
		for {
			if batch == nil {
				select {
				case batch = <-free:
					batch = batch[:0]
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			row, err := r.Next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			// A shallow copy is enough: the reader allocates the bodies
			// and strings of every row afresh, and Builder.Add keeps
			// none of them.
			batch = append(batch, *row)
			if len(batch) == cap(batch) {
				if err := send(); err != nil {
					return err
				}
			}
		}
	}
	for _, path := range files {
		r, err := replay.OpenResults(path)
		if err != nil {
			return err
		}
		err = read(r)
		r.Close()
		if err != nil {
			return err
		}
	}
	if len(batch) > 0 {
		return send()
	}
	return nil
}

// addAll feeds every row of files to b and returns the number of rows.
// progress, when set, is called on the caller's goroutine after each batch.
//
// It runs in two stages so that a report uses two cores: a goroutine decodes
// Parquet rows into batches (reading is about 40% of the work) while the
// caller's goroutine compares and aggregates them. The aggregation stays on
// one goroutine and sees the rows in file order, so every figure is exactly
// that of a sequential pass; split aggregations merged at the end would not
// be (the streaming mean and variance, the label ids and the top-N list all
// depend on the order).
func addAll(ctx context.Context, b *Builder, files []string, progress func(done int64)) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	free := make(chan []replay.Result, batchesInFlight)
	full := make(chan []replay.Result, batchesInFlight)
	for range batchesInFlight {
		free <- make([]replay.Result, 0, batchRows)
	}
	readErr := make(chan error, 1)
	go func() { readErr <- readBatches(ctx, files, free, full) }()

	var done int64
	var err error
	for batch := range full {
		for i := range batch {
			b.Add(&batch[i])
		}
		done += int64(len(batch))
		free <- batch // never blocks: free holds every batch there is
		if err = ctx.Err(); err != nil {
			break
		}
		if progress != nil {
			progress(done)
		}
	}
	// Stop the reader (when the loop broke early) and wait for it: no
	// goroutine outlives Build, and the readers are closed only after. When
	// the loop ran to the end the reader has returned already, and its
	// error (a damaged file, ctx done) is the result.
	cancel()
	if rerr := <-readErr; err == nil {
		err = rerr
	}
	return done, err
}
