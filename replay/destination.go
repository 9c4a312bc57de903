package replay

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/shadowctl/shadowctl/internal/bucket"
	"github.com/shadowctl/shadowctl/internal/parquetfile"
)

// Destination is where a run's results go: a local file (an Output), or an
// object in a bucket, written as a local file in a spool folder and
// uploaded whole when it is closed, so a reader of the bucket never sees a
// half-written object.
type Destination struct {
	*Output
	// Name is the destination as it may be logged (a bucket URL redacted).
	Name string
	// Local is the file being written: the destination itself, or its
	// spool copy.
	Local string
	// Abandon, when set, closes to give up an upload Close is making (a
	// second interrupt): the copy is then kept, as after a failed upload.
	Abandon <-chan struct{}
	ctx     context.Context
	loc     bucket.Location
	up      bool
	// fetched says Local was downloaded by this run (to resume): the
	// object holds the same rows, so Abort removes it. A copy kept by an
	// earlier run's failed upload is newer than the object, and stays.
	fetched bool
}

// Abort gives up the run's file: the partial file goes, and so does the
// spool copy of an object this run downloaded to resume (left, a later
// run would take it for rows the object lacks, and upload it over newer
// ones).
func (d *Destination) Abort() error {
	err := d.Output.Abort()
	if d.fetched {
		if rerr := os.Remove(d.Local); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
			err = rerr
		}
	}
	return err
}

// ErrUpload is wrapped by the error of a results file that could not be
// uploaded; the file is then kept in the spool folder (Destination.Local).
var ErrUpload = errors.New("upload failed")

// KeptError is the error of a run that would start anew where an earlier
// run's results for the same object could not be uploaded and are kept
// locally: starting anew would lose them, so they are left as they are for
// a run that resumes them (and uploads them) or for the user to remove.
type KeptError struct {
	// Dest is the object, redacted; Path the local copy kept.
	Dest, Path string
}

func (e *KeptError) Error() string {
	return fmt.Sprintf("%s: the results of an earlier run that could not be uploaded are kept in %s", e.Dest, e.Path)
}

// CreateDestination starts the results of a run at name, a file path or a
// bucket URL (bucket.IsURL). For a bucket the file is written in spool and,
// with resume, starts from the object already there (downloaded) or from a
// spool copy an earlier run could not upload. ctx bounds what is done at
// the start (the check for an object already there, its download to
// resume); the upload at Close does not end with ctx, so that the rows of
// an interrupted run still reach the bucket, and each of its requests has
// bucket.RequestTimeout.
func CreateDestination(ctx context.Context, name, spool string, resume Resume) (*Destination, error) {
	if !bucket.IsURL(name) {
		out, err := CreateOutput(name, resume)
		if err != nil {
			return nil, err
		}
		return &Destination{Output: out, Name: name, Local: name, ctx: ctx}, nil
	}
	loc, err := bucket.Parse(name, parquetfile.Ext)
	if err != nil {
		return nil, err
	}
	if !loc.IsObject() {
		return nil, fmt.Errorf("%s: want an object ending in %s, or a prefix with a shard", loc, parquetfile.Ext)
	}
	// Named by the object, however the URL's query is ordered: a run that
	// resumes finds the copy an earlier one kept.
	local := filepath.Join(spool, "shadowctl-results-"+loc.ID()+"-"+bucket.LocalName(loc))
	if parquetfile.Busy(local) {
		// Another run on this machine writes the same object.
		return nil, fmt.Errorf("%s: %w", loc, ErrBusy)
	}
	_, statErr := os.Stat(local)
	haveLocal := statErr == nil
	if haveLocal && resume == Fresh {
		// Rows that were safe: only a run that resumes them, or the
		// user, may decide they go.
		return nil, &KeptError{Dest: loc.String(), Path: local}
	}
	exists, err := bucket.Exists(ctx, loc)
	if err != nil {
		return nil, err
	}
	fetched := false
	switch {
	case exists && resume == Fresh:
		return nil, fmt.Errorf("%s: %w", loc, ErrExists)
	case resume != Fresh && !haveLocal && exists:
		if err := bucket.Download(ctx, loc, local); err != nil {
			return nil, fmt.Errorf("resume %s: %w", loc, err)
		}
		fetched = true
	}
	// A spool copy that exists with resume is the newer: it is what an
	// earlier run finished and could not upload.
	out, err := CreateOutput(local, resume)
	if err != nil {
		if fetched {
			_ = os.Remove(local)
		}
		return nil, err
	}
	return &Destination{Output: out, Name: loc.String(), Local: local, ctx: context.WithoutCancel(ctx), loc: loc, up: true,
		fetched: fetched}, nil
}

// uploadTries is how often Close tries an upload, waiting uploadBackoff,
// then twice as long each time (1s, 2s, 4s).
const uploadTries = 4

// uploadBackoff is a variable for the tests only.
var uploadBackoff = time.Second

// Close finalizes the file and, for a bucket, uploads it (retrying with
// backoff), then removes the spool copy. An upload that keeps failing
// returns an error wrapping ErrUpload and keeps the copy, which a run with
// resume picks up; so does an upload given up when Abandon closes.
func (d *Destination) Close() error {
	if err := d.Output.Close(); err != nil || !d.up {
		return err
	}
	ctx, cancel := context.WithCancel(d.ctx)
	defer cancel()
	if d.Abandon != nil {
		go func() { // ends when Close returns, at the latest
			select {
			case <-d.Abandon:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	var err error
	wait := uploadBackoff
	for try := 1; try <= uploadTries; try++ {
		if err = bucket.Upload(ctx, d.Local, d.loc); err == nil {
			return os.Remove(d.Local)
		}
		if try == uploadTries || ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		wait *= 2
	}
	if ctx.Err() != nil { // d.ctx never ends: Abandon did
		err = errors.New("upload abandoned")
	}
	return fmt.Errorf("%s: %w (the results are kept in %s, and a run that resumes uploads them): %v", d.Name, ErrUpload, d.Local, err)
}
