// Package wal is an append-only log of opaque records, framed and
// checksummed so that a torn or damaged tail is found and cut after a crash.
// It knows nothing of what the records hold: the caller encodes them (as
// prometheus's tsdb/wlog frames what tsdb/record encodes).
//
// Format: records of [uint32 length][uint32 CRC-32C of payload][payload],
// little endian, one after another from the first byte of the file.
package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// maxRecord bounds one record's payload, so that a damaged length field
// cannot make a reader allocate gigabytes.
const maxRecord = 1 << 30

// headerSize is the length and checksum before each payload.
const headerSize = 8

// bufSize is the buffer of both Writer and Read: a batch of records is one
// write(2), not one per record.
const bufSize = 256 << 10

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrDamaged is what a Read callback returns for a record whose checksum
// matched but whose payload it cannot decode: Read stops there, as at a bad
// checksum, and counts the record and all after it as cut.
var ErrDamaged = errors.New("damaged log record")

// Writer appends records to a log file. Create takes an advisory lock on
// it (where the system has them) that InUse sees, and that ends when the
// Writer is closed or removed, or its process dies.
type Writer struct {
	f   *os.File
	buf *bufio.Writer
}

// Create makes a new log at path (mode 0600); a file already there is an
// error, never appended to.
func Create(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	lock(f)
	return &Writer{f: f, buf: bufio.NewWriterSize(f, bufSize)}, nil
}

// Append adds one record to the buffer. It reaches the file with Flush and
// the disk with Sync; rec may be reused once Append returns.
func (w *Writer) Append(rec []byte) error {
	var hdr [headerSize]byte
	binary.LittleEndian.PutUint32(hdr[0:], uint32(len(rec)))
	binary.LittleEndian.PutUint32(hdr[4:], crc32.Checksum(rec, castagnoli))
	if _, err := w.buf.Write(hdr[:]); err != nil {
		return fmt.Errorf("write %s: %w", w.f.Name(), err)
	}
	if _, err := w.buf.Write(rec); err != nil {
		return fmt.Errorf("write %s: %w", w.f.Name(), err)
	}
	return nil
}

// Flush writes the buffered records to the file, not synced: Sync is apart
// so that it can run about once a second rather than once a batch.
func (w *Writer) Flush() error {
	if err := w.buf.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", w.f.Name(), err)
	}
	return nil
}

// Sync makes what Flush wrote durable.
func (w *Writer) Sync() error {
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", w.f.Name(), err)
	}
	return nil
}

// Remove closes and deletes the log, once what it guarded is safe
// elsewhere. Records not flushed are dropped.
func (w *Writer) Remove() error {
	name := w.f.Name()
	w.f.Close()
	if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

// Close closes the log and keeps it for a later Read. Records not flushed
// are dropped.
func (w *Writer) Close() error { return w.f.Close() }

// InUse tells whether a Writer, in this process or another, holds the log
// at path. Where the system has no advisory locks it is always false.
func InUse(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close() // releases the lock taken here
	return !lock(f), nil
}

// Read calls fn with each good record of the log at path, in order; the
// slice is only valid during the call. It stops at the first torn or damaged
// record, or one for which fn returns ErrDamaged, and reports how many bytes
// were cut there: 0 for a log read to its end. Another error from fn stops
// Read and is returned as is.
func Read(path string, fn func(rec []byte) error) (cut int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	size := info.Size()
	r := bufio.NewReaderSize(f, bufSize)
	var off int64
	var payload []byte
	for {
		var hdr [headerSize]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return 0, nil
			}
			return size - off, nil // torn header
		}
		n := binary.LittleEndian.Uint32(hdr[0:])
		sum := binary.LittleEndian.Uint32(hdr[4:])
		if n > maxRecord || int64(n) > size-off-headerSize {
			return size - off, nil
		}
		if cap(payload) < int(n) {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			return size - off, nil
		}
		if crc32.Checksum(payload, castagnoli) != sum {
			return size - off, nil
		}
		if err := fn(payload); err != nil {
			if errors.Is(err, ErrDamaged) {
				return size - off, nil
			}
			return 0, err
		}
		off += headerSize + int64(n)
	}
}
