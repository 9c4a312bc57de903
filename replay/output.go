package replay

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/shadowctl/shadowctl/internal/parquetfile"
)

// ErrExists is wrapped when the results file exists and the run does not
// resume it: results already safe are never overwritten by accident. The
// error names the file; what to do about it is the caller's to say.
var ErrExists = errors.New("results file exists")

// ErrBusy is wrapped when another live run writes the same results file
// (it holds the lock of its partial file).
var ErrBusy = parquetfile.ErrBusy

// ErrFolder is wrapped when the results file named is a folder, or a name
// ending in a path separator: the rows need a file name, and guessing one
// inside the folder would hide the mistake.
var ErrFolder = errors.New("is a folder")

// Resume says what a run does with a results file already at its path.
type Resume uint8

const (
	// Fresh refuses an existing file (ErrExists).
	Fresh Resume = iota
	// Continue carries its rows over and skips their exchanges.
	Continue
	// RetryUnanswered is Continue without the rows that a target or
	// baseline did not answer (Result.Unanswered): their exchanges are
	// sent again. Answers, 4xx and 5xx too, are kept.
	RetryUnanswered
)

// Output is the results file of a run. The rows go to path+".partial" and
// Commit renames it over path: a reader, or a later run after a crash, sees
// either the old file or the whole new one.
type Output struct {
	*ResultsWriter
	// Done holds the ids of the rows carried over from the file resumed.
	Done *IDSet
	// DoneWithBaseline counts those of them that have a baseline side: a
	// run that resumes them must have one too (all of them) or none, or
	// the file would mix rows with and without (see HasBaseline).
	DoneWithBaseline int
	// Dropped counts the rows not carried over with RetryUnanswered, and
	// DroppedWithBaseline those of them with a baseline side: a row the
	// run does not send again is written back as it was, so they count
	// toward the file's baseline as much as the rows carried over.
	Dropped, DroppedWithBaseline int
	// StalePartial names a leftover partial file of a run that was killed,
	// removed to start anew; empty when there was none.
	StalePartial string
	// retry holds the rows RetryUnanswered left out, by id, until the
	// run writes their exchange again: Close writes back those it did not
	// (an interrupt, a --limit), so no exchange leaves the file.
	retry map[string]Result
}

// Write writes rows to the file.
func (o *Output) Write(rows []Result) error {
	if len(o.retry) > 0 {
		for i := range rows {
			delete(o.retry, rows[i].ID)
		}
	}
	return o.ResultsWriter.Write(rows)
}

// Close writes back the rows left out for a retry that the run did not
// send again, as they were, then finalizes the file (ResultsWriter.Close).
func (o *Output) Close() error {
	if len(o.retry) > 0 {
		rows := make([]Result, 0, len(o.retry))
		for _, r := range o.retry {
			rows = append(rows, r)
		}
		sort.Slice(rows, func(i, j int) bool { return rows[i].ID < rows[j].ID })
		o.retry = nil
		if err := o.ResultsWriter.Write(rows); err != nil {
			o.Abort()
			return err
		}
	}
	return o.ResultsWriter.Close()
}

// CreateOutput starts the results file path. Resuming an existing file, its
// rows are copied into the new one first and their ids returned in Done, so
// the run skips them (RetryUnanswered leaves out the unanswered ones). With
// Fresh an existing file is an error wrapping ErrExists; a folder is one wrapping ErrFolder. A missing parent
// folder is created, in every mode: the N shards of a run share one, and a
// run must not fail on it only when it is not sharded.
func CreateOutput(path string, resume Resume) (*Output, error) {
	if path == "" || os.IsPathSeparator(path[len(path)-1]) {
		return nil, fmt.Errorf("%s: %w", path, ErrFolder)
	}
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		return nil, fmt.Errorf("%s: %w", path, ErrFolder)
	}
	// Two runs on one file would each send every request and remove the
	// other's rows: a live run's partial file (it holds its lock) is an
	// error wrapping ErrBusy.
	if parquetfile.Busy(path) {
		return nil, fmt.Errorf("%s: %w", path+parquetfile.PartialSuffix, ErrBusy)
	}
	_, statErr := os.Stat(path)
	exists := statErr == nil
	if exists && resume == Fresh {
		// Not a results file (a recording, say): the advice for one,
		// resume it or remove it, would cost data.
		r, err := OpenResults(path)
		var se *parquetfile.SchemaError
		switch {
		case errors.As(err, &se):
			return nil, fmt.Errorf("%s: %w: it is %s, not results, and a run would replace it", path, ErrFormat, se.What())
		case errors.Is(err, ErrFormat):
			return nil, fmt.Errorf("%s exists, is not a results file, and a run would replace it: %w", path, err)
		}
		if r != nil {
			r.Close()
		}
		return nil, fmt.Errorf("%s: %w", path, ErrExists)
	}
	var old *ResultsReader
	if exists {
		r, err := OpenResults(path)
		if err != nil {
			return nil, fmt.Errorf("resume %s: %w", path, err)
		}
		old = r
		defer old.Close()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("results folder: %w", err)
	}
	out := &Output{}
	// A partial file with nobody writing it is the unfinalized part of a run
	// that was killed: it has no footer and cannot be read, so start anew.
	stale, err := parquetfile.RemoveStale(path)
	if err != nil {
		return nil, err
	}
	if stale {
		out.StalePartial = path + parquetfile.PartialSuffix
	}
	w, err := CreateResults(path)
	if err != nil {
		return nil, err
	}
	out.ResultsWriter = w
	var ids []string
	if old != nil {
		ids = make([]string, 0, old.NumRows())
		for {
			x, err := old.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				w.Abort()
				return nil, fmt.Errorf("resume %s: %w", path, err)
			}
			if resume == RetryUnanswered && x.Unanswered() {
				out.Dropped++
				if x.HasBaseline() {
					out.DroppedWithBaseline++
				}
				if out.retry == nil {
					out.retry = map[string]Result{}
				}
				out.retry[x.ID] = *x
				continue
			}
			ids = append(ids, x.ID)
			if x.HasBaseline() {
				out.DoneWithBaseline++
			}
			if err := w.Write([]Result{*x}); err != nil {
				w.Abort()
				return nil, err
			}
		}
	}
	out.Done = NewIDSet(ids)
	return out, nil
}
