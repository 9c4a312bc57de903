package record

import (
	"container/heap"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/shadowctl/shadowctl/internal/parquetfile"
)

// ErrFormat is wrapped by errors about a file that is not a readable
// recording (not Parquet, damaged, or another format).
var ErrFormat = parquetfile.ErrFormat

// ErrNoFiles is wrapped by the errors of Open and Summarize for arguments
// that name no recording: a missing path, a pattern that matches nothing, a
// folder without one.
var ErrNoFiles = parquetfile.ErrNoFiles

// noFilesError says what arguments held instead of recordings; it wraps
// ErrNoFiles.
type noFilesError struct{ msg string }

func (e *noFilesError) Error() string { return e.msg }
func (e *noFilesError) Unwrap() error { return ErrNoFiles }

// reorderWindow is how many rows of one file are held to put them in start
// order: the sink writes an exchange when it completes, so a slow exchange
// lands after faster ones that started later.
const reorderWindow = 1024

// Reader reads exchanges from many recording files in start-time order,
// streaming: it holds a bounded window of rows per open file and opens a file
// only when the merge reaches the time of its first exchange.
type Reader struct {
	files   []pending // not yet opened, by first start time
	active  sourceHeap
	total   int64
	partial []string
	last    keyed // the exchange returned last
	dups    int64
}

type pending struct {
	path  string
	first int64
	rows  int64
}

// Open reads recordings from files, folders and glob patterns. It checks every
// file's footer first, so a file that is not a recording fails here, before
// any row is read. In-progress files are skipped and listed by Skipped.
func Open(args []string) (*Reader, error) {
	ex, err := parquetfile.Expand(args)
	if err != nil {
		return nil, err
	}
	if len(ex.Files) == 0 {
		if m := ex.Missing(); m != "" {
			return nil, &noFilesError{fmt.Sprintf("no finished recording files in %s yet: %s", strings.Join(args, " "), m)}
		}
		return nil, fmt.Errorf("no recording files (*.parquet) in %s: %w", strings.Join(args, " "), ErrNoFiles)
	}
	r := &Reader{partial: ex.Partial}
	for _, path := range ex.Files {
		f, err := parquetfile.Open[Exchange](path, Schemas...)
		if err != nil {
			return nil, err
		}
		first, ok := f.MinInt64("started_at")
		if !ok {
			first = math.MinInt64
		}
		r.total += f.NumRows()
		r.files = append(r.files, pending{path: path, first: first, rows: f.NumRows()})
		f.Close()
	}
	sort.SliceStable(r.files, func(i, j int) bool { return r.files[i].first < r.files[j].first })
	return r, nil
}

// Total is the number of exchanges in all files, from their footers.
func (r *Reader) Total() int64 { return r.total }

// Skipped lists the in-progress files that were not read.
func (r *Reader) Skipped() []string { return r.partial }

// Duplicates counts the exchanges Next skipped because it had returned
// them already: the same exchange (ID and start time) in several files, as
// when a recording was copied into two of the folders read.
func (r *Reader) Duplicates() int64 { return r.dups }

// Next returns the exchange that started first among those not yet returned,
// or io.EOF. An exchange read twice is returned once (see Duplicates).
func (r *Reader) Next() (*Exchange, error) {
	for {
		k, err := r.next()
		if err != nil {
			return nil, err
		}
		// Rows come in (start time, ID) order, so copies of one exchange
		// come one after the other, whichever files hold them.
		if r.last.x != nil && k.at == r.last.at && k.x.ID == r.last.x.ID {
			r.dups++
			continue
		}
		r.last = k
		return k.x, nil
	}
}

func (r *Reader) next() (keyed, error) {
	for len(r.files) > 0 && (len(r.active) == 0 || r.files[0].first <= r.active[0].window.first().at) {
		if err := r.activate(r.files[0].path); err != nil {
			return keyed{}, err
		}
		r.files = r.files[1:]
	}
	if len(r.active) == 0 {
		return keyed{}, io.EOF
	}
	s := r.active[0]
	k := s.window.pop()
	if err := s.fill(); err != nil {
		return keyed{}, err
	}
	if s.window.len() == 0 {
		heap.Pop(&r.active)
		s.file.Close()
	} else {
		heap.Fix(&r.active, 0)
	}
	return k, nil
}

func (r *Reader) activate(path string) error {
	f, err := parquetfile.Open[Exchange](path, Schemas...)
	if err != nil {
		return err
	}
	f.Decode(newRowDecoder().decode)
	if f.Schema() == Schemas[0] {
		f.Fix(clearTiming)
	} else {
		f.Fix(nilTiming)
	}
	s := &source{file: f}
	if err := s.fill(); err != nil {
		f.Close()
		return err
	}
	if s.window.len() == 0 {
		return f.Close()
	}
	heap.Push(&r.active, s)
	return nil
}

// Close closes the open files.
func (r *Reader) Close() error {
	var err error
	for _, s := range r.active {
		err = errors.Join(err, s.file.Close())
	}
	r.active = nil
	r.files = nil
	return err
}

// source is one open file with its reorder window.
type source struct {
	file   *parquetfile.Reader[Exchange]
	window window
	eof    bool
}

func (s *source) fill() error {
	for !s.eof && s.window.len() < reorderWindow {
		x, err := s.file.Next()
		if errors.Is(err, io.EOF) {
			s.eof = true
			break
		}
		if err != nil {
			return err
		}
		c := *x
		s.window.push(&c)
	}
	return nil
}

// keyed is an exchange with its order key: start time, then ID.
type keyed struct {
	at int64 // StartedAt in Unix nanoseconds (what the file holds)
	x  *Exchange
}

func (a keyed) before(b keyed) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.x.ID < b.x.ID
}

// window holds a file's next rows sorted by keyed.before. A file's rows are
// nearly in start order (the sink writes an exchange when it completes), so
// most land at the end; one that completed late is put in its place by a
// binary search and a copy of at most reorderWindow entries.
type window struct {
	buf  []keyed
	head int // buf[head:] are the rows held
}

func (w *window) len() int     { return len(w.buf) - w.head }
func (w *window) first() keyed { return w.buf[w.head] }

func (w *window) push(x *Exchange) {
	k := keyed{x.StartedAt.UnixNano(), x}
	held := w.buf[w.head:]
	if n := len(held); n == 0 || !k.before(held[n-1]) {
		w.buf = append(w.buf, k)
		return
	}
	i := sort.Search(len(held), func(i int) bool { return k.before(held[i]) })
	w.buf = slices.Insert(w.buf, w.head+i, k)
}

func (w *window) pop() keyed {
	k := w.buf[w.head]
	w.buf[w.head] = keyed{}
	w.head++
	if w.head >= reorderWindow { // slide back, so buf stays within twice the window
		n := copy(w.buf, w.buf[w.head:])
		clear(w.buf[n:])
		w.buf, w.head = w.buf[:n], 0
	}
	return k
}

type sourceHeap []*source

func (h sourceHeap) Len() int { return len(h) }
func (h sourceHeap) Less(i, j int) bool {
	return h[i].window.first().before(h[j].window.first())
}
func (h sourceHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *sourceHeap) Push(x any)   { *h = append(*h, x.(*source)) }
func (h *sourceHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
