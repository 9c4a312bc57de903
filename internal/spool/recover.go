package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shadowctl/shadowctl/internal/wal"
)

// Recovered describes what Recover did with one log left by a crash.
type Recovered struct {
	WAL      string // the log
	File     string // the file written from it
	Rows     int64  // rows saved
	CutBytes int64  // bytes of damaged tail dropped
	// Err is why the log could not be turned into a file (a full disk):
	// it is kept, for a later Recover.
	Err error
}

// Recover turns every log left in dir by a writer that did not stop
// cleanly into a finished file, and removes the log and any half-written
// file beside it. Logs a live Sink holds are left alone. A log that fails
// is kept, its Recovered has Err, and the others are still tried; the
// error joins those of every log that failed. Run it before writing into
// dir.
func Recover[T any](dir string, codec Codec[T]) ([]Recovered, error) {
	if err := codec.check(); err != nil {
		return nil, err
	}
	// Only the logs of the codec's files: a stray other.wal is not one,
	// and "recovering" it made a file named "other" no reader lists.
	ext := filepath.Ext(codec.FileName(time.Unix(0, 0), "x", 0))
	logs, err := listLogs(dir, ext+codec.WALSuffix)
	if err != nil {
		return nil, err
	}
	var out []Recovered
	var errs []error
	for _, log := range logs {
		if live, err := wal.InUse(log); err != nil || live {
			continue // another writer is writing it, or it is already gone
		}
		rec, err := recoverLog(log, codec)
		if err != nil {
			// The log is kept; the next logs may still recover.
			rec.Err = err
			errs = append(errs, err)
		}
		out = append(out, rec)
	}
	return out, errors.Join(errs...)
}

// listLogs names the logs in dir. It lists the folder and matches names
// rather than globbing a joined path: the folder's name may hold '[', '*' or
// '?', which a glob would read as a pattern and miss the logs (or fail).
// Only regular files count: opening a named pipe would wait forever.
func listLogs(dir, suffix string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // nothing to recover
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var logs []string
	for _, e := range entries {
		name := e.Name()
		if e.Type().IsRegular() && len(name) > len(suffix) && strings.HasSuffix(name, suffix) {
			logs = append(logs, filepath.Join(dir, name))
		}
	}
	return logs, nil
}

func recoverLog[T any](log string, codec Codec[T]) (Recovered, error) {
	final := strings.TrimSuffix(log, codec.WALSuffix)
	partial := final + codec.PartialSuffix
	rec := Recovered{WAL: log, File: final}
	// The crash may have left the file partial (no footer) or even
	// finished (crash between rename and removing the log).
	if _, err := os.Stat(final); err == nil {
		return rec, removeAll(log, partial)
	}
	if err := removeAll(partial); err != nil {
		return rec, err
	}
	w, err := codec.Create(final)
	if err != nil {
		return rec, err
	}
	batch := make([]T, 0, maxBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := w.Write(batch)
		batch = batch[:0]
		return err
	}
	cut, err := readLog(log, codec.Decode, func(row *T) error {
		batch = append(batch, *row)
		rec.Rows++
		if len(batch) == cap(batch) {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		w.Abort()
		return rec, fmt.Errorf("recover %s: %w", log, err)
	}
	rec.CutBytes = cut
	if rec.Rows == 0 {
		w.Abort()
		rec.File = ""
		return rec, removeAll(log)
	}
	if err := w.Close(); err != nil {
		return rec, fmt.Errorf("recover %s: %w", log, err)
	}
	return rec, removeAll(log)
}

func removeAll(paths ...string) error {
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", p, err)
		}
	}
	return nil
}
