package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowctl/shadowctl/internal/bucket"
)

// defaultSpool is --spool's default: where the files bound for a bucket are
// written (with their logs) until they are uploaded.
func defaultSpool() string { return filepath.Join(os.TempDir(), "shadowctl-spool") }

// bucketOut is a --out or --shadow-out that names a bucket prefix: the
// sink writes in a spool folder and a shipper uploads what it finalizes.
type bucketOut struct {
	flag    string
	what    string // metrics label: recordings, shadow
	dir     string
	dest    bucket.Location
	shipper *bucket.Shipper // set by startShippers
}

// checkBucketOut parses out (a bucket URL, or a folder: then nil) for flag.
func checkBucketOut(flag, out, spool, what string) (*bucketOut, error) {
	if !bucket.IsURL(out) {
		if bucket.LooksLikeURL(out) {
			// gcs://, S3://, s3:/bkt or s3:// would have been a folder
			// named like it under the working directory: data a Pod
			// loses with its filesystem, while the log said a bucket.
			shown := out
			if strings.Contains(out, "@") {
				shown = bucket.Redact(out)
			}
			return nil, usageErrorf("--%s %q: not a bucket URL shadowctl writes: want s3://BUCKET/prefix, gs://…, azblob://… or file:///path (scheme in lower case), or a folder",
				flag, shown)
		}
		return nil, nil
	}
	loc, err := bucket.Parse(out, "")
	if err != nil {
		return nil, usageErrorf("--%s: %v", flag, err)
	}
	if spool == "" {
		return nil, usageErrorf("--spool: want a folder (files bound for --%s are written there until uploaded)", flag)
	}
	// Opened now (no request is made): a parameter the provider does not
	// know, or missing credentials, is refused at start rather than at
	// the first upload, minutes into serving traffic.
	ctx, cancel := context.WithTimeout(context.Background(), bucket.RequestTimeout)
	defer cancel()
	if _, err := bucket.Open(ctx, loc); err != nil {
		return nil, usageErrorf("--%s: %v", flag, err)
	}
	// A folder of its own per destination: recorders sharing --spool (its
	// default is one per machine) must each upload only their own files,
	// and a restarted one still finds what it left for the same --out.
	return &bucketOut{flag: flag, what: what, dir: filepath.Join(spool, what, loc.ID()), dest: loc}, nil
}

// shippers run the uploads of a recorder beside it, off the request path.
type shippers struct {
	list   []*bucketOut
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startShippers(logger *slog.Logger, reg prometheus.Registerer, outs ...*bucketOut) (*shippers, error) {
	s := &shippers{}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	for _, b := range outs {
		if b == nil {
			continue
		}
		warnUnkeyedSpool(logger, b)
		b.shipper = bucket.NewShipper(bucket.ShipperOptions{Dest: b.dest, Ext: ".parquet", Dir: b.dir,
			Logger: logger.With("flag", "--"+b.flag)})
		if reg != nil {
			if err := b.shipper.Register(reg, b.what); err != nil {
				cancel()
				return nil, err
			}
		}
		s.list = append(s.list, b)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			b.shipper.Run(ctx)
		}()
	}
	return s, nil
}

// warnUnkeyedSpool says so when finished files lie in the spool folder of b
// itself rather than in a destination's: left by a shadowctl that kept one
// folder for every destination, they are not uploaded, since which bucket
// they are for is not known.
func warnUnkeyedSpool(logger *slog.Logger, b *bucketOut) {
	dir := filepath.Dir(b.dir)
	if left, _ := filepath.Glob(filepath.Join(dir, "*.parquet*")); len(left) > 0 {
		logger.Warn("finished files of an earlier shadowctl are in the spool folder and are not uploaded: their destination is not known; "+
			"upload them to their bucket by hand, or remove them", "flag", "--"+b.flag, "folder", dir, "files", len(left))
	}
}

// stop ends the background uploads, then uploads what the last rotation
// finalized, within timeout; what is left stays in the spool folder for the
// next start. It returns a phrase for the summary line.
func (s *shippers) stop(timeout time.Duration) (string, []any) {
	s.cancel()
	s.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	line, attrs := "", []any{}
	for _, b := range s.list {
		_ = b.shipper.Flush(ctx)
		st := b.shipper.Stats()
		line += fmt.Sprintf("; %s: %d files uploaded to %s, %d left in %s", b.what, st.Uploaded,
			b.dest.String(), st.PendingFiles, b.dir)
		attrs = append(attrs, b.what+"_uploaded", st.Uploaded, b.what+"_pending_files", st.PendingFiles)
	}
	return line, attrs
}

// dir is the folder the recorder's sink writes in: --out, or the spool.
func (c *recordConfig) dir(out string) string {
	if c.out != nil {
		return c.out.dir
	}
	return out
}

// shadowDir is the folder the live shadow's results go to: --shadow-out, or
// the spool.
func (c *recordConfig) shadowDir(out string) string {
	if c.shadowOut != nil {
		return c.shadowOut.dir
	}
	return out
}
