package bucket

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Shipper uploads the finished files of a local spool folder to a bucket
// prefix, oldest first, one at a time, and removes each file once its
// upload has succeeded. It runs beside a writer that finalizes files by
// renaming them into place (internal/spool), never in its way: a file is
// read only once it is whole, and an upload that fails is retried with
// backoff while the file stays on disk, also across restarts (the first
// scan uploads what a previous process left).
type Shipper struct {
	opts ShipperOptions

	uploaded, failed, bytes atomic.Int64
	pendingFiles            atomic.Int64
	pendingBytes            atomic.Int64
}

// ShipperOptions configure a Shipper.
type ShipperOptions struct {
	// Dir is the spool folder; Dest the prefix the files go to (a file
	// NAME becomes the object Dest.Key+NAME).
	Dir  string
	Dest Location
	// Ext ends the names of finished files (".parquet"): in-progress files
	// and logs end otherwise and are left alone.
	Ext string
	// Every is the pause between scans of Dir (default 1s); Backoff the
	// first wait after a failed upload, doubling up to MaxBackoff (defaults
	// 1s and 1 minute).
	Every, Backoff, MaxBackoff time.Duration
	// Logger receives failures, at most once per backoff; nil discards.
	Logger *slog.Logger
}

// NewShipper makes a shipper; Run starts it.
func NewShipper(opts ShipperOptions) *Shipper {
	if opts.Every <= 0 {
		opts.Every = time.Second
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Shipper{opts: opts}
}

// Dest is the prefix the files go to.
func (s *Shipper) Dest() Location { return s.opts.Dest }

// ShipStats counts what a shipper did.
type ShipStats struct {
	Uploaded, Failed, Bytes    int64
	PendingFiles, PendingBytes int64
}

// Stats is a snapshot of the counters.
func (s *Shipper) Stats() ShipStats {
	return ShipStats{Uploaded: s.uploaded.Load(), Failed: s.failed.Load(), Bytes: s.bytes.Load(),
		PendingFiles: s.pendingFiles.Load(), PendingBytes: s.pendingBytes.Load()}
}

// Run uploads until ctx ends; an upload in flight then is abandoned (the
// object is not committed) and its file kept for the next start or Flush.
func (s *Shipper) Run(ctx context.Context) {
	wait := s.opts.Every
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.pass(ctx); err != nil && ctx.Err() == nil {
			if wait < s.opts.Backoff {
				wait = s.opts.Backoff
			} else {
				wait = min(2*wait, s.opts.MaxBackoff)
			}
			s.opts.Logger.Warn("upload failed; the file stays in the spool folder and is retried",
				"dest", s.opts.Dest.String(), "retry_in", wait, "pending_files", s.pendingFiles.Load(), "err", err)
		} else {
			wait = s.opts.Every
		}
		t.Reset(wait)
	}
}

// Flush uploads every finished file now, and returns the first error if any
// file is left (it stays in the spool folder).
func (s *Shipper) Flush(ctx context.Context) error { return s.pass(ctx) }

// pass uploads the files found by one scan, oldest name first, and stops at
// the first failure: when the bucket is down, every file would fail alike.
func (s *Shipper) pass(ctx context.Context) error {
	files, err := s.scan()
	if err != nil {
		return err
	}
	for _, f := range files {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		dest := s.opts.Dest
		dest.Key += f.name
		if err := Upload(ctx, filepath.Join(s.opts.Dir, f.name), dest); err != nil {
			s.failed.Add(1)
			return err
		}
		// Uploaded: only now may the local copy go. A crash between the
		// two uploads it again under the same key, which changes nothing.
		if err := os.Remove(filepath.Join(s.opts.Dir, f.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		s.uploaded.Add(1)
		s.bytes.Add(f.size)
		s.pendingFiles.Add(-1)
		s.pendingBytes.Add(-f.size)
	}
	return nil
}

type spooled struct {
	name string
	size int64
}

func (s *Shipper) scan() ([]spooled, error) {
	entries, err := os.ReadDir(s.opts.Dir)
	if err != nil {
		return nil, err
	}
	var out []spooled
	var total int64
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), s.opts.Ext) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // gone since the listing: uploaded, or removed
		}
		out = append(out, spooled{e.Name(), info.Size()})
		total += info.Size()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	s.pendingFiles.Store(int64(len(out)))
	s.pendingBytes.Store(total)
	return out, nil
}

// Register adds the shipper's metrics to reg, labelled what (recordings,
// shadow).
func (s *Shipper) Register(reg prometheus.Registerer, what string) error {
	l := prometheus.Labels{"what": what}
	counter := func(name, help string, f func() int64, extra prometheus.Labels) prometheus.Collector {
		ls := prometheus.Labels{}
		for k, v := range l {
			ls[k] = v
		}
		for k, v := range extra {
			ls[k] = v
		}
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: ls},
			func() float64 { return float64(f()) })
	}
	gauge := func(name, help string, f func() int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: l},
			func() float64 { return float64(f()) })
	}
	for _, c := range []prometheus.Collector{
		counter("shadowctl_upload_files_total", "Finished files uploaded to the bucket (result=ok) or uploads that failed and will be retried (result=error).",
			s.uploaded.Load, prometheus.Labels{"result": "ok"}),
		counter("shadowctl_upload_files_total", "Finished files uploaded to the bucket (result=ok) or uploads that failed and will be retried (result=error).",
			s.failed.Load, prometheus.Labels{"result": "error"}),
		counter("shadowctl_upload_bytes_total", "Bytes of the files uploaded.", s.bytes.Load, nil),
		gauge("shadowctl_upload_pending_files", "Finished files in the spool folder waiting for their upload.", s.pendingFiles.Load),
		gauge("shadowctl_upload_pending_bytes", "Bytes of the files waiting for their upload.", s.pendingBytes.Load),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
