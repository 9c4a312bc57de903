package parquetfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/parquet-go/parquet-go"

	"github.com/shadowctl/shadowctl/internal/bucket"
)

// ErrFormat is wrapped by every error that says a file is not what it should
// be: not Parquet, damaged, or another kind of Parquet file. Commands map it to
// the input-error exit code.
var ErrFormat = errors.New("bad input file")

// Reader streams the rows of one file of type T, in batches, so memory does not
// grow with the number of rows.
type Reader[T any] struct {
	path    string
	file    io.Closer
	pf      *parquet.File
	rows    *parquet.GenericReader[T]
	schema  string
	buf     []T
	pos, n  int
	numRows int64
	fix     func(*T)
	decode  func(parquet.Row, *T) error // nil: parquet-go's Reconstruct
	base    *parquet.Reader             // with decode: rows in T's schema
	rowbuf  []parquet.Row
}

// Decode makes Next fill rows with f instead of parquet-go's reflection
// (Reconstruct, a tenth of replay's CPU): f gets each row in T's schema,
// columns a file lacks as nulls. Call it before the first Next; a type
// with its own f must be tested to read as Reconstruct reads.
func (r *Reader[T]) Decode(f func(parquet.Row, *T) error) {
	r.decode = f
	r.base = parquet.NewReader(r.pf, parquet.SchemaOf(new(T)))
	r.rowbuf = make([]parquet.Row, len(r.buf))
}

// read fills r.buf as GenericReader.Read does, with r.decode.
func (r *Reader[T]) read() (int, error) {
	if r.decode == nil {
		return r.rows.Read(r.buf)
	}
	total := 0
	for total < len(r.buf) {
		n, err := r.base.ReadRows(r.rowbuf[:len(r.buf)-total])
		for i, row := range r.rowbuf[:n] {
			if derr := r.decode(row, &r.buf[total+i]); derr != nil {
				return total + i, derr
			}
		}
		total += n
		if n == 0 || err != nil {
			return total, err
		}
	}
	return total, nil
}

// Fix makes Next pass every row through f first: a reader of an older
// version of a format clears there what a missing column read as (a
// missing list column may read as one zero element, not as empty).
func (r *Reader[T]) Fix(f func(*T)) { r.fix = f }

// ErrNotRegular is wrapped (with ErrFormat) by the error of a path that is
// not a regular file: a named pipe, a device or a socket.
var ErrNotRegular = errors.New("not a regular file")

// Open opens path, checks that it is a Parquet file whose SchemaKey metadata
// is one of the accepted values, and returns a reader over its rows.
func Open[T any](path string, accept ...string) (*Reader[T], error) {
	if bucket.IsURL(path) {
		return openObject[T](path, accept)
	}
	// Look before opening: opening a named pipe waits for a writer, forever
	// and deaf to signals, and a device may never end.
	info, err := os.Stat(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // "open X: stat X: …" would name it twice
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := checkRegular(path, info); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	r, err := open[T](f, path, accept)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

func open[T any](f *os.File, path string, accept []string) (r *Reader[T], err error) {
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if err := checkRegular(path, info); err != nil {
		return nil, err
	}
	return openAt[T](f, info.Size(), f, path, accept)
}

// openAt reads the footer of the file of size bytes that f reads, and
// returns its reader, which closes c.
func openAt[T any](f io.ReaderAt, size int64, c io.Closer, path string, accept []string, opts ...parquet.FileOption) (r *Reader[T], err error) {
	// parquet-go validates lazily and may panic on a damaged file: a bad file
	// must be an error, never a crash.
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("read %s: %w: damaged Parquet file (%v)", path, ErrFormat, p)
		}
	}()
	if err := checkFooter(f, size); err != nil {
		return nil, fmt.Errorf("read %s: %w: not a Parquet file (%v)", path, ErrFormat, err)
	}
	pf, err := parquet.OpenFile(f, size, append([]parquet.FileOption{parquet.SkipBloomFilters(true)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w: not a Parquet file (%v)", path, ErrFormat, err)
	}
	schema, _ := pf.Lookup(SchemaKey)
	ok := false
	for _, a := range accept {
		ok = ok || schema == a
	}
	if !ok {
		return nil, &SchemaError{Path: path, Schema: schema, Want: accept}
	}
	return &Reader[T]{
		path:    path,
		file:    c,
		pf:      pf,
		rows:    parquet.NewGenericReader[T](pf),
		schema:  schema,
		buf:     make([]T, 256),
		numRows: pf.NumRows(),
	}, nil
}

// SchemaError is the error of a Parquet file whose SchemaKey metadata is not
// one a reader accepts: another shadowctl format (a recording where results
// were wanted), or a file without it. It wraps ErrFormat.
type SchemaError struct {
	Path   string
	Schema string // "" when the file has no SchemaKey metadata
	Want   []string
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("read %s: %v: it is %s, want %v", e.Path, ErrFormat, e.What(), e.Want)
}

// What says what the file is: `a "shadowctl.recording/2" file`, say.
func (e *SchemaError) What() string {
	if e.Schema == "" {
		return "a Parquet file without shadowctl metadata"
	}
	return fmt.Sprintf("a %q file", e.Schema)
}

func (e *SchemaError) Unwrap() error { return ErrFormat }

// checkRegular refuses anything but a regular file (symbolic links are
// followed by the Stat that gave info).
func checkRegular(path string, info os.FileInfo) error {
	m := info.Mode()
	switch {
	case m.IsRegular():
		return nil
	case m.IsDir():
		return fmt.Errorf("open %s: is a folder", path)
	}
	what := "special file"
	switch {
	case m&os.ModeNamedPipe != 0:
		what = "named pipe"
	case m&os.ModeSocket != 0:
		what = "socket"
	case m&os.ModeCharDevice != 0:
		what = "character device"
	case m&os.ModeDevice != 0:
		what = "device"
	}
	return fmt.Errorf("open %s: %w: %w (a %s)", path, ErrFormat, ErrNotRegular, what)
}

// Path is the file being read.
func (r *Reader[T]) Path() string { return r.path }

// Schema is the file's SchemaKey metadata value.
func (r *Reader[T]) Schema() string { return r.schema }

// NumRows is the row count from the footer: cheap, for progress totals.
func (r *Reader[T]) NumRows() int64 { return r.numRows }

// Next returns the next row, or io.EOF after the last one. The returned
// pointer is valid until the following call.
func (r *Reader[T]) Next() (row *T, err error) {
	if r.pos < r.n {
		r.pos++
		return &r.buf[r.pos-1], nil
	}
	defer func() {
		if p := recover(); p != nil {
			row, err = nil, fmt.Errorf("read %s: %w: damaged Parquet file (%v)", r.path, ErrFormat, p)
		}
	}()
	clear(r.buf)
	n, err := r.read()
	r.pos, r.n = 0, n
	if r.fix != nil {
		for i := range r.buf[:n] {
			r.fix(&r.buf[i])
		}
	}
	if n > 0 {
		r.pos = 1
		return &r.buf[0], nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return nil, io.EOF
	}
	return nil, fmt.Errorf("read %s: %w: %v", r.path, ErrFormat, err)
}

// Close releases the file.
func (r *Reader[T]) Close() error {
	r.rows.Close()
	if r.base != nil {
		r.base.Close()
	}
	return r.file.Close()
}

// MinInt64 is the smallest value of an INT64 column (a timestamp, say) over
// the whole file, from the footer's statistics, without reading any page.
// ok is false when the file has no rows or no statistics for the column.
func (r *Reader[T]) MinInt64(column string) (min int64, ok bool) {
	for _, rg := range r.pf.Metadata().RowGroups {
		for _, c := range rg.Columns {
			p := c.MetaData.PathInSchema
			if len(p) != 1 || p[0] != column {
				continue
			}
			v := c.MetaData.Statistics.MinValue
			if len(v) == 0 {
				v = c.MetaData.Statistics.Min
			}
			if len(v) != 8 {
				return 0, false
			}
			x := int64(binary.LittleEndian.Uint64(v))
			if !ok || x < min {
				min, ok = x, true
			}
		}
	}
	return min, ok
}

// checkFooter validates the trailer before parquet-go sees the file: a
// damaged footer length would make it allocate or wait on gigabytes.
func checkFooter(f io.ReaderAt, size int64) error {
	if size < 12 {
		return fmt.Errorf("%d bytes is too short", size)
	}
	var tail [8]byte
	if _, err := f.ReadAt(tail[:], size-8); err != nil {
		return err
	}
	if string(tail[4:]) != "PAR1" {
		return errors.New("no Parquet footer (truncated, or still being written)")
	}
	if n := int64(binary.LittleEndian.Uint32(tail[:4])); n > size-12 {
		return fmt.Errorf("footer length %d exceeds the file size %d", n, size)
	}
	return nil
}
