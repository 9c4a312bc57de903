package record

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The write-ahead log makes recording crash-safe. A Parquet file is only
// readable once its footer is written, so rows sit in memory or in a footless
// file until rotation; a SIGKILL would lose the whole file. Every row the sink
// writes to Parquet also goes to an append-only log beside it, synced about
// once a second. When the Parquet file is finalized its log is removed; a log
// found at start-up is turned back into Parquet (see Recover).
//
// Log format: records of [uint32 length][uint32 CRC-32C of payload][payload],
// little endian, payload an encoded Exchange. A torn or damaged tail is cut at
// the last good record.

// WALSuffix ends the name of a recording file's log: FILE.parquet.wal.
const WALSuffix = ".wal"

// maxWALRecord bounds one record, so a damaged length field cannot make
// recovery allocate gigabytes.
const maxWALRecord = 1 << 30

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// wal appends encoded exchanges to a log file.
type wal struct {
	f   *os.File
	w   *bufio.Writer
	buf []byte
}

func createWAL(path string) (*wal, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	lockWAL(f)
	return &wal{f: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

// append writes xs to the log's buffer and the buffer to the file (not
// synced: sync is separate so it can run about once a second).
func (l *wal) append(xs []Exchange) error {
	for i := range xs {
		l.buf = encodeExchange(l.buf[:0], &xs[i])
		var hdr [8]byte
		binary.LittleEndian.PutUint32(hdr[0:], uint32(len(l.buf)))
		binary.LittleEndian.PutUint32(hdr[4:], crc32.Checksum(l.buf, castagnoli))
		if _, err := l.w.Write(hdr[:]); err != nil {
			return fmt.Errorf("write %s: %w", l.f.Name(), err)
		}
		if _, err := l.w.Write(l.buf); err != nil {
			return fmt.Errorf("write %s: %w", l.f.Name(), err)
		}
	}
	if err := l.w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", l.f.Name(), err)
	}
	return nil
}

func (l *wal) sync() error {
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", l.f.Name(), err)
	}
	return nil
}

// remove closes and deletes the log: its rows are safe in Parquet.
func (l *wal) remove() error {
	name := l.f.Name()
	l.f.Close()
	if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

// close closes the log and keeps it (the Parquet file failed).
func (l *wal) close() error { return l.f.Close() }

// readWAL calls fn for each good record of the log at path, in order. It
// stops at the first torn or damaged record and reports how many bytes
// were cut there.
func readWAL(path string, fn func(*Exchange) error) (cut int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	r := bufio.NewReaderSize(f, 256<<10)
	var off int64
	var payload []byte
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return 0, nil
			}
			return info.Size() - off, nil // torn header
		}
		n := binary.LittleEndian.Uint32(hdr[0:])
		sum := binary.LittleEndian.Uint32(hdr[4:])
		if n > maxWALRecord || int64(n) > info.Size()-off-8 {
			return info.Size() - off, nil
		}
		if cap(payload) < int(n) {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			return info.Size() - off, nil
		}
		if crc32.Checksum(payload, castagnoli) != sum {
			return info.Size() - off, nil
		}
		var x Exchange
		if err := decodeExchange(payload, &x); err != nil {
			return info.Size() - off, nil
		}
		if err := fn(&x); err != nil {
			return 0, err
		}
		off += 8 + int64(n)
	}
}

// Recovered describes what Recover did with one log left by a crash.
type Recovered struct {
	WAL      string // the log
	File     string // the Parquet file written from it
	Rows     int64  // rows saved
	CutBytes int64  // bytes of damaged tail dropped
}

// Recover turns every log left in dir by a recorder that did not stop
// cleanly into a finished Parquet file, and removes the log and any
// half-written Parquet file beside it. Run it before recording into dir.
func Recover(dir string) ([]Recovered, error) {
	logs, err := listLogs(dir)
	if err != nil {
		return nil, err
	}
	var out []Recovered
	for _, log := range logs {
		if live, err := isLive(log); err != nil || live {
			continue // another recorder is writing it, or it is already gone
		}
		rec, err := recoverWAL(log)
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// listLogs names the logs in dir. It lists the folder and matches names
// rather than globbing a joined path: the folder's name may hold '[', '*' or
// '?', which a glob would read as a pattern and miss the logs (or fail).
// Only regular files count: opening a named pipe would wait forever.
func listLogs(dir string) ([]string, error) {
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
		if e.Type().IsRegular() && len(name) > len(WALSuffix) && strings.HasSuffix(name, WALSuffix) {
			logs = append(logs, filepath.Join(dir, name))
		}
	}
	return logs, nil
}

// isLive tells whether a running recorder holds the log's lock.
func isLive(log string) (bool, error) {
	f, err := os.Open(log)
	if err != nil {
		return false, err
	}
	defer f.Close() // releases the lock taken here
	return !lockWAL(f), nil
}

func recoverWAL(log string) (Recovered, error) {
	final := strings.TrimSuffix(log, WALSuffix)
	rec := Recovered{WAL: log, File: final}
	// The crash may have left the Parquet file partial (no footer) or even
	// finished (crash between rename and removing the log).
	if _, err := os.Stat(final); err == nil {
		return rec, removeAll(log, final+".partial")
	}
	if err := removeAll(final + ".partial"); err != nil {
		return rec, err
	}
	w, err := CreateFile(final)
	if err != nil {
		return rec, err
	}
	batch := make([]Exchange, 0, 512)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := w.Write(batch)
		batch = batch[:0]
		return err
	}
	cut, err := readWAL(log, func(x *Exchange) error {
		batch = append(batch, *x)
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

// encodeExchange appends a compact binary form of x to b. The field order
// is the struct's; a change here needs a version byte.
func encodeExchange(b []byte, x *Exchange) []byte {
	b = append(b, 1) // encoding version
	b = appendString(b, x.ID)
	b = binary.AppendVarint(b, x.StartedAt.UnixNano())
	b = appendString(b, x.Method)
	b = appendString(b, x.Host)
	b = appendString(b, x.Path)
	b = appendHeaders(b, x.RequestHeaders)
	b = appendBytes(b, x.RequestBody)
	b = appendBool(b, x.RequestBodyTruncated)
	b = binary.AppendVarint(b, x.RequestBodySize)
	b = binary.AppendVarint(b, int64(x.Status))
	b = appendHeaders(b, x.ResponseHeaders)
	b = appendBytes(b, x.ResponseBody)
	b = appendBool(b, x.ResponseBodyTruncated)
	b = binary.AppendVarint(b, x.ResponseBodySize)
	b = binary.AppendVarint(b, x.LatencyNs)
	b = appendString(b, x.Error)
	b = appendString(b, x.Instance)
	return b
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendHeaders(b []byte, hs []Header) []byte {
	b = binary.AppendUvarint(b, uint64(len(hs)))
	for _, h := range hs {
		b = appendString(b, h.Name)
		b = appendString(b, h.Value)
	}
	return b
}

var errWALRecord = errors.New("damaged log record")

// decoder reads the fields encodeExchange wrote, failing on any overrun.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errWALRecord
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	if d.err != nil {
		return nil
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > uint64(len(d.b)-k) {
		d.err = errWALRecord
		return nil
	}
	v := d.b[k : k+int(n)]
	d.b = d.b[k+int(n):]
	return v
}

func (d *decoder) body() []byte {
	v := d.bytes()
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) bool() bool {
	if d.err != nil || len(d.b) == 0 {
		d.err = errWALRecord
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

func (d *decoder) headers() []Header {
	n, k := binary.Uvarint(d.b)
	if d.err != nil || k <= 0 || n > uint64(len(d.b)) {
		d.err = errWALRecord
		return nil
	}
	d.b = d.b[k:]
	if n == 0 {
		return nil
	}
	hs := make([]Header, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		hs = append(hs, Header{Name: d.string(), Value: d.string()})
	}
	return hs
}

func decodeExchange(b []byte, x *Exchange) error {
	if len(b) == 0 || b[0] != 1 {
		return errWALRecord
	}
	d := &decoder{b: b[1:]}
	x.ID = d.string()
	x.StartedAt = time.Unix(0, d.varint()).UTC()
	x.Method = d.string()
	x.Host = d.string()
	x.Path = d.string()
	x.RequestHeaders = d.headers()
	x.RequestBody = d.body()
	x.RequestBodyTruncated = d.bool()
	x.RequestBodySize = d.varint()
	x.Status = int32(d.varint())
	x.ResponseHeaders = d.headers()
	x.ResponseBody = d.body()
	x.ResponseBodyTruncated = d.bool()
	x.ResponseBodySize = d.varint()
	x.LatencyNs = d.varint()
	x.Error = d.string()
	x.Instance = d.string()
	if d.err == nil && len(d.b) != 0 {
		d.err = errWALRecord
	}
	return d.err
}
