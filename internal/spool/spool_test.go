package spool_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/parquetfile"
	"github.com/shadowctl/shadowctl/internal/poll"
	"github.com/shadowctl/shadowctl/internal/spool"
	"github.com/shadowctl/shadowctl/internal/wal"
)

// note is a row that is not an Exchange: the machinery knows rows only
// through their codec.
type note struct {
	Seq      int64  `parquet:"seq"`
	Text     []byte `parquet:"text"`
	Prepared bool   `parquet:"prepared"`
}

const noteSchema = "shadowctl.test-notes/1"

var errNote = errors.New("not a note")

func noteCodec() spool.Codec[note] {
	return spool.Codec[note]{
		Size:    func(n *note) int64 { return int64(cap(n.Text)) + 16 },
		Prepare: func(n *note) { n.Prepared = true },
		Create: func(path string) (spool.File[note], error) {
			return parquetfile.Create[note](path, noteSchema, "text")
		},
		Append: func(b []byte, n *note) []byte {
			b = append(b, 1) // version
			b = binary.AppendVarint(b, n.Seq)
			b = binary.AppendUvarint(b, uint64(len(n.Text)))
			b = append(b, n.Text...)
			if n.Prepared {
				return append(b, 1)
			}
			return append(b, 0)
		},
		Decode: func(rec []byte) (note, error) {
			if len(rec) == 0 || rec[0] != 1 {
				return note{}, errNote
			}
			rec = rec[1:]
			seq, k := binary.Varint(rec)
			if k <= 0 {
				return note{}, errNote
			}
			rec = rec[k:]
			n, k := binary.Uvarint(rec)
			if k <= 0 || n+1 != uint64(len(rec)-k) {
				return note{}, errNote
			}
			text := append([]byte(nil), rec[k:k+int(n)]...)
			return note{Seq: seq, Text: text, Prepared: rec[k+int(n)] == 1}, nil
		},
		FileName: func(now time.Time, instance string, seq int) string {
			return fmt.Sprintf("note-%d-%s-%06d%s", now.UnixNano(), instance, seq, parquetfile.Ext)
		},
		WALSuffix:     ".wal",
		PartialSuffix: parquetfile.PartialSuffix,
		Names:         spool.Names{File: "note", Files: "notes", Writer: "note taker"},
	}
}

func newNote(i int, size int) *note {
	text := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(i), 1))
	for j := range text {
		text[j] = byte(r.Uint32())
	}
	return &note{Seq: int64(i), Text: text}
}

// readNotes reads every finished file in dir, in name order.
func readNotes(t *testing.T, dir string) []note {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"+parquetfile.Ext))
	if err != nil {
		t.Fatal(err)
	}
	var out []note
	for _, f := range files {
		r, err := parquetfile.Open[note](f, noteSchema)
		if err != nil {
			t.Fatal(err)
		}
		for {
			n, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, note{Seq: n.Seq, Text: slices.Clone(n.Text), Prepared: n.Prepared})
		}
		r.Close()
	}
	return out
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func TestSinkRotatesNotesBySize(t *testing.T) {
	dir := t.TempDir()
	s, err := spool.New(spool.Options{Dir: dir, Instance: "a", RotateSize: 64 << 10, RotateInterval: time.Hour}, noteCodec())
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	for i := range n {
		// one row at a time, so each lands in its own batch
		if !s.Offer(newNote(i, 8<<10)) {
			t.Fatal("dropped")
		}
		poll.Until(t, func() bool { return s.Stats().QueueDepth == 0 })
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Offered != n || st.Recorded != n || st.DroppedTotal() != 0 || st.Pending != 0 {
		t.Errorf("stats %+v", st)
	}
	left := names(t, dir)
	var size int64
	for _, name := range left {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		size += info.Size()
		if !strings.HasPrefix(name, "note-") || !strings.HasSuffix(name, "-a-"+fmt.Sprintf("%06d", slices.Index(left, name))+".parquet") ||
			info.Mode().Perm() != 0o600 {
			t.Errorf("file %s, mode %v", name, info.Mode().Perm())
		}
	}
	// 800 KiB of incompressible text in 64 KiB files, nothing partial or logged left
	if len(left) < 8 || int64(len(left)) != st.FilesWritten || size != st.BytesWritten {
		t.Errorf("%d files of %d bytes; stats %d files of %d bytes", len(left), size, st.FilesWritten, st.BytesWritten)
	}
	got := readNotes(t, dir)
	if len(got) != n {
		t.Fatalf("read back %d rows, want %d", len(got), n)
	}
	for i, g := range got {
		if g.Seq != int64(i) || !bytes.Equal(g.Text, newNote(i, 8<<10).Text) || !g.Prepared {
			t.Fatalf("row %d = seq %d, %d bytes, prepared %v", i, g.Seq, len(g.Text), g.Prepared)
		}
	}
}

// A writer killed mid-file leaves its log (and a file without footer):
// Recover turns the log into the file, with every row synced before the
// crash, prepared as they were written.
func TestRecoverNotesAfterACrash(t *testing.T) {
	dir := t.TempDir()
	s, err := spool.New(spool.Options{Dir: dir, Instance: "b", RotateInterval: time.Hour}, noteCodec())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	const n = 40
	for i := range n {
		if !s.Offer(newNote(i, 100+i)) {
			t.Fatal("dropped")
		}
	}
	// The rows reach the log within about a second of being written.
	var logs []string
	poll.Until(t, func() bool {
		logs, _ = filepath.Glob(filepath.Join(dir, "*.wal"))
		if len(logs) != 1 {
			return false
		}
		var rows int
		_, err := wal.Read(logs[0], func([]byte) error { rows++; return nil })
		return err == nil && rows == n
	})
	// A live log is left alone.
	if recs, err := spool.Recover(dir, noteCodec()); err != nil || len(recs) != 0 {
		t.Fatalf("Recover on a live log = %v, %v; want nothing done", recs, err)
	}
	// The crash: what is on disk now, without the lock of a live writer.
	crashed := t.TempDir()
	for _, name := range names(t, dir) {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(crashed, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if partial, _ := filepath.Glob(filepath.Join(crashed, "*.partial")); len(partial) != 1 {
		t.Fatalf("crash left %v, want one partial file beside the log", names(t, crashed))
	}
	// A torn tail: half a record.
	f, err := os.OpenFile(filepath.Join(crashed, filepath.Base(logs[0])), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{9, 0, 0, 0, 1, 2})
	f.Close()

	recs, err := spool.Recover(crashed, noteCodec())
	if err != nil {
		t.Fatal(err)
	}
	final := strings.TrimSuffix(filepath.Base(logs[0]), ".wal")
	if len(recs) != 1 || recs[0].Rows != n || recs[0].CutBytes != 6 || filepath.Base(recs[0].File) != final {
		t.Fatalf("Recover = %+v, want %d rows into %s and 6 bytes cut", recs, n, final)
	}
	if left := names(t, crashed); len(left) != 1 || left[0] != final {
		t.Errorf("after recovery the folder holds %v, want only %s", left, final)
	}
	if info, _ := os.Stat(recs[0].File); info.Mode().Perm() != 0o600 {
		t.Errorf("recovered file mode %v, want 0600", info.Mode().Perm())
	}
	got := readNotes(t, crashed)
	if len(got) != n {
		t.Fatalf("recovered %d rows, want %d", len(got), n)
	}
	for i, g := range got {
		if want := newNote(i, 100+i); g.Seq != want.Seq || !bytes.Equal(g.Text, want.Text) || !g.Prepared {
			t.Fatalf("row %d = seq %d, %d bytes, prepared %v", i, g.Seq, len(g.Text), g.Prepared)
		}
	}
	// The live writer finishes its own file as if nothing happened.
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if left := names(t, dir); len(left) != 1 || left[0] != final {
		t.Errorf("after Close the folder holds %v, want only %s", left, final)
	}
}

// writeLog writes a log holding recs, as a writer that died would leave it.
func writeLog(t *testing.T, path string, recs ...[]byte) {
	t.Helper()
	w, err := wal.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if err := w.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	w.Close()
}

// A record whose frame is good but which the codec refuses ends what is
// recovered, like a damaged one.
func TestRecoverCutsARecordTheCodecRefuses(t *testing.T) {
	dir := t.TempDir()
	codec := noteCodec()
	log := filepath.Join(dir, "note-x.parquet.wal")
	good := codec.Append(nil, newNote(0, 10))
	bad := codec.Append(nil, newNote(1, 10))
	bad[0] = 2 // a version the codec does not know
	writeLog(t, log, good, bad, codec.Append(nil, newNote(2, 10)))
	info, _ := os.Stat(log)
	recs, err := spool.Recover(dir, codec)
	if err != nil {
		t.Fatal(err)
	}
	// The three records are one block, cut whole from its start (just past
	// the log's 8-byte file header).
	if want := info.Size() - 8; len(recs) != 1 || recs[0].Rows != 1 || recs[0].CutBytes != want {
		t.Fatalf("Recover = %+v, want 1 row and %d bytes cut", recs, want)
	}
	if got := readNotes(t, dir); len(got) != 1 || got[0].Seq != 0 {
		t.Errorf("recovered %+v, want the first row only", got)
	}
}

// brokenDiskCodec is noteCodec whose files cannot be created while broken
// is set, as on a full disk.
func brokenDiskCodec() (spool.Codec[note], *atomic.Bool) {
	codec := noteCodec()
	create := codec.Create
	broken := &atomic.Bool{}
	codec.Create = func(path string) (spool.File[note], error) {
		if broken.Load() {
			return nil, errors.New("no space left on device")
		}
		return create(path)
	}
	return codec, broken
}

// While files cannot be created the rows are dropped and counted, the
// failure is logged once in the codec's words, and writing resumes by
// itself when the disk does.
func TestSinkDropsNotesWhileTheDiskFails(t *testing.T) {
	dir := t.TempDir()
	codec, broken := brokenDiskCodec()
	var logs bytes.Buffer // read once Close has stopped the writer
	broken.Store(true)
	s, err := spool.New(spool.Options{Dir: dir, Instance: "c", Logger: slog.New(slog.NewTextHandler(&logs, nil))}, codec)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		s.Offer(newNote(i, 10))
	}
	poll.Until(t, func() bool { return s.Stats().Dropped[spool.DropWriteError] == 5 })
	broken.Store(false)
	s.Offer(newNote(5, 10))
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Offered != 6 || st.Recorded != 1 || st.Dropped[spool.DropWriteError] != 5 || st.Pending != 0 {
		t.Errorf("stats %+v, want 1 recorded and 5 dropped", st)
	}
	if got := readNotes(t, dir); len(got) != 1 || got[0].Seq != 5 {
		t.Errorf("read back %+v", got)
	}
	if n := strings.Count(logs.String(), "note failed; rows dropped"); n != 1 || !strings.Contains(logs.String(), "note resumed") {
		t.Errorf("failure logged %d times, want once, then the resumption:\n%s", n, logs.String())
	}
	if s.Offer(newNote(6, 1)) || s.Stats().Dropped[spool.DropClosed] != 1 {
		t.Error("offer after close must drop and count")
	}
}

func TestNewRefusesAnIncompleteCodec(t *testing.T) {
	codec := noteCodec()
	codec.WALSuffix = ""
	if _, err := spool.New(spool.Options{Dir: t.TempDir(), Instance: "d"}, codec); err == nil {
		t.Error("New started with no log suffix")
	}
	if _, err := spool.Recover(t.TempDir(), codec); err == nil {
		t.Error("Recover ran with no log suffix")
	}
}

// closeFails is a file whose Close fails while the disk is broken, as
// writing the footer does on a full disk.
type closeFails struct {
	spool.File[note]
	broken *atomic.Bool
}

func (f closeFails) Close() error {
	if f.broken.Load() {
		_ = f.File.Abort()
		return errors.New("no space left on device")
	}
	return f.File.Close()
}

// A file that cannot be finished (a full disk at SIGTERM) keeps its log:
// its rows were safe there, and the next start recovers them. Before, the
// log was removed with the file and the rows were lost, though a SIGKILL
// at the same moment would have kept them.
func TestSinkKeepsTheLogOfAFileItCannotFinish(t *testing.T) {
	dir := t.TempDir()
	codec := noteCodec()
	create := codec.Create
	var broken atomic.Bool
	codec.Create = func(path string) (spool.File[note], error) {
		f, err := create(path)
		if err != nil {
			return nil, err
		}
		return closeFails{f, &broken}, nil
	}
	var logs bytes.Buffer
	s, err := spool.New(spool.Options{Dir: dir, Instance: "k", RotateInterval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}, codec)
	if err != nil {
		t.Fatal(err)
	}
	const n = 25
	for i := range n {
		s.Offer(newNote(i, 50))
	}
	poll.Until(t, func() bool { return s.Stats().Pending == n })
	broken.Store(true)
	err = s.Close(context.Background())
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("its %d rows are kept in ", n)) ||
		!strings.Contains(err.Error(), "recovered at the next start") {
		t.Fatalf("Close = %v, want the failure and where the rows are kept", err)
	}
	if !strings.Contains(logs.String(), "its rows are kept in its log") {
		t.Errorf("the kept log is not logged:\n%s", logs.String())
	}
	walFiles, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(walFiles) != 1 {
		t.Fatalf("folder holds %v, want the log kept", names(t, dir))
	}
	recs, err := spool.Recover(dir, noteCodec())
	if err != nil || len(recs) != 1 || recs[0].Rows != n {
		t.Fatalf("Recover = %+v, %v; want the %d rows back", recs, err, n)
	}
	if got := readNotes(t, dir); len(got) != n {
		t.Errorf("recovered %d rows, want %d", len(got), n)
	}
}

// A log that cannot be recovered at start (a full disk) does not stop the
// sink from starting: refusing would take the service down with it. The
// log is kept for the next start, and the failure logged.
func TestNewStartsWhenALogCannotBeRecovered(t *testing.T) {
	dir := t.TempDir()
	codec := noteCodec()
	log := filepath.Join(dir, "note-x.parquet.wal")
	writeLog(t, log, codec.Append(nil, newNote(0, 10)), codec.Append(nil, newNote(1, 10)), codec.Append(nil, newNote(2, 10)))
	// What stands in the way of recovery: a folder where its file goes.
	block := filepath.Join(dir, "note-x.parquet.partial")
	if err := os.MkdirAll(filepath.Join(block, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	s, err := spool.New(spool.Options{Dir: dir, Instance: "r", Logger: slog.New(slog.NewTextHandler(&logs, nil))}, codec)
	if err != nil {
		t.Fatalf("New = %v, want a sink that starts anyway", err)
	}
	if !s.Offer(newNote(9, 10)) {
		t.Error("the sink does not take rows")
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "could not recover a note") || !strings.Contains(logs.String(), "its log is kept") {
		t.Errorf("the failed recovery is not logged:\n%s", logs.String())
	}
	if _, err := os.Stat(log); err != nil {
		t.Fatalf("the log is gone: %v", err)
	}
	os.RemoveAll(block)
	recs, err := spool.Recover(dir, codec)
	if err != nil || len(recs) != 1 || recs[0].Rows != 3 {
		t.Fatalf("Recover once the way is clear = %+v, %v; want the 3 rows", recs, err)
	}
}

// After the disk recovers, the next failure is logged at once, not held
// back by the once-per-30-s limit of the failure before.
func TestSinkLogsTheFirstFailureAfterResuming(t *testing.T) {
	dir := t.TempDir()
	codec, broken := brokenDiskCodec()
	var logs lockedBuffer
	broken.Store(true)
	// A file per row: each one that succeeds is finalized at once.
	s, err := spool.New(spool.Options{Dir: dir, Instance: "l", RotateSize: 1,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}, codec)
	if err != nil {
		t.Fatal(err)
	}
	s.Offer(newNote(0, 10))
	poll.Until(t, func() bool { return s.Stats().Dropped[spool.DropWriteError] == 1 })
	broken.Store(false)
	s.Offer(newNote(1, 10))
	poll.Until(t, func() bool { return s.Stats().Recorded == 1 })
	broken.Store(true)
	s.Offer(newNote(2, 10))
	poll.Until(t, func() bool { return s.Stats().Dropped[spool.DropWriteError] == 2 })
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "note failed; rows dropped"); n != 2 {
		t.Errorf("failures logged %d times, want 2 (before and after the resumption):\n%s", n, logs.String())
	}
}

// lockedBuffer is a log the writer goroutine writes while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Recover takes only the logs of the codec's own files: a stray other.wal
// was "recovered" into a file named "other" that no reader lists, and the
// log deleted.
func TestRecoverLeavesLogsOfOtherFilesAlone(t *testing.T) {
	dir := t.TempDir()
	codec := noteCodec()
	writeLog(t, filepath.Join(dir, "other.wal"), codec.Append(nil, newNote(0, 10)))
	recs, err := spool.Recover(dir, codec)
	if err != nil || len(recs) != 0 {
		t.Fatalf("Recover = %+v, %v; want nothing done", recs, err)
	}
	if left := names(t, dir); len(left) != 1 || left[0] != "other.wal" {
		t.Errorf("folder holds %v, want other.wal untouched", left)
	}
}
