package bucket

import (
	"context"
	"fmt"
	"io"

	"gocloud.dev/blob"
)

// Object reads one object by ranges, as an io.ReaderAt: a Parquet reader
// reads the footer, then the column chunks it needs, and never downloads
// the whole object first. It holds no buffer of its own.
type Object struct {
	ctx  context.Context
	b    *blob.Bucket
	loc  Location
	size int64
}

// OpenObject opens the object loc names (a key, not a prefix). ctx bounds
// every read of the object.
func OpenObject(ctx context.Context, loc Location) (*Object, error) {
	b, err := Open(ctx, loc)
	if err != nil {
		return nil, err
	}
	actx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	a, err := b.Attributes(actx, loc.Key)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", loc, timeoutErr(actx, cleanErr(err)))
	}
	return &Object{ctx: ctx, b: b, loc: loc, size: a.Size}, nil
}

// Size is the object's length in bytes.
func (o *Object) Size() int64 { return o.size }

// Name is the object's URL, redacted.
func (o *Object) Name() string { return o.loc.String() }

// ReadAt reads len(p) bytes at off with one ranged GET.
func (o *Object) ReadAt(p []byte, off int64) (int, error) {
	if off >= o.size {
		return 0, io.EOF
	}
	n := int64(len(p))
	short := false
	if off+n > o.size {
		n, short = o.size-off, true
	}
	ctx, cancel := context.WithTimeout(o.ctx, RequestTimeout)
	defer cancel()
	r, err := o.b.NewRangeReader(ctx, o.loc.Key, off, n, nil)
	if err != nil {
		return 0, fmt.Errorf("read %s at %d: %w", o.loc, off, timeoutErr(ctx, cleanErr(err)))
	}
	defer r.Close()
	got, err := io.ReadFull(r, p[:n])
	if err != nil {
		return got, fmt.Errorf("read %s at %d: %w", o.loc, off, timeoutErr(ctx, err))
	}
	if short {
		return got, io.EOF
	}
	return got, nil
}

// Close releases nothing: the bucket stays open for the process.
func (o *Object) Close() error { return nil }
