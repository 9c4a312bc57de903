package bucket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"gocloud.dev/blob"
)

// Upload copies the local file at path to the object loc names, streaming
// it. The object appears whole or not at all: a provider commits an object
// (or a multipart upload) only when the writer closes, and ctx's end before
// that abandons it.
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
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := b.NewWriter(wctx, loc.Key, &blob.WriterOptions{ContentType: "application/vnd.apache.parquet"})
	if err != nil {
		return fmt.Errorf("upload %s: %w", loc, cleanErr(err))
	}
	if _, err := io.Copy(w, f); err != nil {
		cancel() // abandon: the half-sent object must not be committed
		_ = w.Close()
		return fmt.Errorf("upload %s: %w", loc, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("upload %s: %w", loc, cleanErr(err))
	}
	return nil
}

// Download copies the object loc names to path (written as path+".tmp"
// and renamed), streaming it. A missing object is an error wrapping
// ErrNotFound and leaves nothing behind.
func Download(ctx context.Context, loc Location, path string) error {
	b, err := Open(ctx, loc)
	if err != nil {
		return err
	}
	r, err := b.NewReader(ctx, loc.Key, nil)
	if err != nil {
		return fmt.Errorf("download %s: %w", loc, cleanErr(err))
	}
	defer r.Close()
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	err = errors.Join(err, f.Sync(), f.Close())
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

// Exists reports whether the object loc names exists.
func Exists(ctx context.Context, loc Location) (bool, error) {
	b, err := Open(ctx, loc)
	if err != nil {
		return false, err
	}
	ok, err := b.Exists(ctx, loc.Key)
	if err != nil {
		return false, fmt.Errorf("%s: %w", loc, cleanErr(err))
	}
	return ok, nil
}

// LocalName is the file name an object gets in a local folder.
func LocalName(loc Location) string { return filepath.Base(filepath.FromSlash(loc.Key)) }
