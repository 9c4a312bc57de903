package parquetfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"

	kzstd "github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// RowGroupRows bounds a row group: large enough for good compression, small
// enough that a writer's buffers stay a few MiB with 1 KiB bodies.
const RowGroupRows = 4096

// codec is zstd at its fastest level: the recorder's sink writes on one core
// and must keep up with the proxy; the default level costs about twice the CPU
// for files only a little smaller. One shared codec keeps a pool of encoders.
var codec = &zstdCodec{free: make(chan *kzstd.Encoder, keptEncoders)}

// keptEncoders bounds the idle encoders kept: one per file written at the
// same time is enough. Each holds about 9 MiB of heap, zstd's history for
// its default 8 MiB window (measured with klauspost/compress v1.20.1: one
// EncodeAll of a 256 KiB page), of which only a page's worth is ever
// written, so it counts toward the GC's goal and a memory limit more than
// toward resident memory.
const keptEncoders = 4

// zstdCodec is parquet-go's zstd codec with encoders that outlive garbage
// collections. parquet-go keeps them in a sync.Pool, which every GC empties:
// under a replay's allocation rate most pages then built a new encoder and
// its history, a sixth of all the bytes a replay allocated. The frames
// are the same, so files read as before.
type zstdCodec struct {
	zstd.Codec // String, CompressionCodec and Decode
	free       chan *kzstd.Encoder
}

func (c *zstdCodec) Encode(dst, src []byte) ([]byte, error) {
	var e *kzstd.Encoder
	select {
	case e = <-c.free:
	default:
		// The options of parquet-go's codec at SpeedFastest.
		var err error
		e, err = kzstd.NewWriter(nil, kzstd.WithEncoderConcurrency(1), kzstd.WithEncoderLevel(kzstd.SpeedFastest),
			kzstd.WithZeroFrames(true), kzstd.WithEncoderCRC(false))
		if err != nil {
			return dst[:0], err
		}
	}
	dst = e.EncodeAll(src, dst[:0])
	select {
	case c.free <- e:
	default:
	}
	return dst, nil
}

// Writer writes rows of type T to one file that appears under its final name
// only when Close succeeds. Rows are compressed with zstd.
type Writer[T any] struct {
	file  *Atomic
	count *countingWriter
	pw    *parquet.GenericWriter[T]
	rows  int64
}

// Create starts path (written as path+PartialSuffix until Close) with
// schema recorded under SchemaKey. blobs name the columns of large byte
// strings (bodies): their pages carry no bounds or statistics, since a
// body's minimum and maximum are whole bodies, written into every page
// header and kept in memory per row group.
func Create[T any](path, schema string, blobs ...string) (*Writer[T], error) {
	a, err := CreateAtomic(path)
	if err != nil {
		return nil, err
	}
	opts := []parquet.WriterOption{
		parquet.Compression(codec),
		parquet.MaxRowsPerRowGroup(RowGroupRows),
		parquet.KeyValueMetadata(SchemaKey, schema),
		parquet.CreatedBy("shadowctl", "", ""),
	}
	for _, b := range blobs {
		opts = append(opts, parquet.SkipPageBounds(b), parquet.SkipPageStatistics(b))
	}
	cw := &countingWriter{w: a.File}
	return &Writer[T]{file: a, count: cw, pw: parquet.NewGenericWriter[T](cw, opts...)}, nil
}

// Path is the final name of the file.
func (w *Writer[T]) Path() string { return w.file.Path() }

// Write appends rows.
func (w *Writer[T]) Write(rows []T) error {
	if _, err := w.pw.Write(rows); err != nil {
		return w.wrap(err)
	}
	w.rows += int64(len(rows))
	return nil
}

// Flush ends the current row group, so its bytes reach the file.
func (w *Writer[T]) Flush() error {
	if err := w.pw.Flush(); err != nil {
		return w.wrap(err)
	}
	return nil
}

// Rows is the number of rows written so far.
func (w *Writer[T]) Rows() int64 { return w.rows }

// Size is the number of bytes written to the file so far (row groups still
// buffered in memory are not counted).
func (w *Writer[T]) Size() int64 { return w.count.n }

// Close writes the footer, syncs the file and renames it into place.
// On error the partial file is removed.
func (w *Writer[T]) Close() error {
	if err := w.pw.Close(); err != nil {
		w.file.Abort()
		return w.wrap(err)
	}
	if err := w.file.Commit(); err != nil {
		w.file.Abort()
		return err
	}
	return nil
}

// Abort drops the file.
func (w *Writer[T]) Abort() error { return w.file.Abort() }

// wrap names the file in err, unless the file system's error does already
// ("write r.parquet.partial: no space left on device").
func (w *Writer[T]) wrap(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == w.file.Name() {
		return err
	}
	return fmt.Errorf("write %s: %w", w.file.Name(), err)
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
