package bucket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"gocloud.dev/blob"
)

// stallGuard ends a transfer that makes no progress for its limit. A
// whole upload or download may rightly take longer than that, but not that
// long without a byte moving: a server that accepts and never answers
// fails the transfer instead of hanging it (and whoever waits for it).
type stallGuard struct {
	ctx    context.Context
	cancel context.CancelFunc
	timer  *time.Timer
	limit  time.Duration
	fired  atomic.Bool
}

// uploadStalls is how many RequestTimeouts an upload may go without a
// read of its file: the provider's writer holds several parts in flight
// (S3: 5 of 5 MiB) and reads on only as one completes, so on a slow link a
// working upload reads nothing for a while. 25 MiB in 10 minutes is about
// 43 KB/s; a link slower than that is taken for a dead one.
const uploadStalls = 5

func newStallGuard(parent context.Context, limit time.Duration) *stallGuard {
	g := &stallGuard{limit: limit}
	g.ctx, g.cancel = context.WithCancel(parent)
	g.timer = time.AfterFunc(limit, func() {
		g.fired.Store(true)
		g.cancel()
	})
	return g
}

// reader is r, each read that moves bytes counting as progress.
func (g *stallGuard) reader(r io.Reader) io.Reader { return &guardedReader{r, g} }

// stop ends the guard and its context.
func (g *stallGuard) stop() {
	g.timer.Stop()
	g.cancel()
}

// err names the stall when it is why err came.
func (g *stallGuard) err(err error) error {
	if g.fired.Load() {
		return fmt.Errorf("%w (%v without progress): %v", ErrTimeout, g.limit, err)
	}
	return err
}

type guardedReader struct {
	r io.Reader
	g *stallGuard
}

func (r *guardedReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.g.timer.Reset(r.g.limit)
	}
	return n, err
}

// Upload copies the local file at path to the object loc names, streaming
// it. The object appears whole or not at all: a provider commits an object
// (or a multipart upload) only when the writer closes, and ctx's end before
// that abandons it, as does uploadStalls × RequestTimeout without a read of
// the file (ErrTimeout).
func Upload(ctx context.Context, path string, loc Location) error {
	b, err := Open(ctx, loc)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	// The file is read as fast as the bucket takes it: a read is progress,
	// and after the last one the commit has as long.
	g := newStallGuard(ctx, uploadStalls*RequestTimeout)
	defer g.stop()
	w, err := b.NewWriter(g.ctx, loc.Key, &blob.WriterOptions{ContentType: "application/vnd.apache.parquet"})
	if err != nil {
		return fmt.Errorf("upload %s: %w", loc, g.err(cleanErr(err)))
	}
	if _, err := io.Copy(w, g.reader(f)); err != nil {
		g.cancel() // abandon: the half-sent object must not be committed
		_ = w.Close()
		return fmt.Errorf("upload %s: %w", loc, g.err(err))
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("upload %s: %w", loc, g.err(cleanErr(err)))
	}
	return nil
}

// Download copies the object loc names to path (written as path+".tmp"
// and renamed), streaming it. A missing object is an error wrapping
// ErrNotFound and leaves nothing behind; so is RequestTimeout without
// progress (ErrTimeout).
func Download(ctx context.Context, loc Location, path string) error {
	b, err := Open(ctx, loc)
	if err != nil {
		return err
	}
	g := newStallGuard(ctx, RequestTimeout)
	defer g.stop()
	r, err := b.NewReader(g.ctx, loc.Key, nil)
	if err != nil {
		return fmt.Errorf("download %s: %w", loc, g.err(cleanErr(err)))
	}
	defer r.Close()
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, g.reader(r))
	err = errors.Join(g.err(err), f.Sync(), f.Close())
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("download %s: %w", loc, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// Exists reports whether the object loc names exists. The request has
// RequestTimeout (ErrTimeout) and ends with ctx.
func Exists(ctx context.Context, loc Location) (bool, error) {
	b, err := Open(ctx, loc)
	if err != nil {
		return false, err
	}
	ectx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	ok, err := b.Exists(ectx, loc.Key)
	if err != nil {
		return false, fmt.Errorf("%s: %w", loc, timeoutErr(ectx, cleanErr(err)))
	}
	return ok, nil
}

// LocalName is the file name an object gets in a local folder.
func LocalName(loc Location) string { return filepath.Base(filepath.FromSlash(loc.Key)) }
