// Package wal is an append-only log of opaque records, framed and
// checksummed so that a torn or damaged tail is found and cut after a crash.
// It knows nothing of what the records hold: the caller encodes them (as
// prometheus's tsdb/wlog frames what tsdb/record encodes).
//
// Format, version 2 (written since logs are compressed): an 8-byte file
// header, the magic "\xffWAL" and the version as uint32 2, then blocks of
// [uint32 length][uint32 CRC-32C of the block][block], little endian. A
// block is the S2 block encoding (github.com/klauspost/compress/s2) of the
// records appended between two flushes, each [uvarint length][payload]. A
// torn or damaged block is cut whole: a crash loses no more than what was
// not synced, and the recorder syncs about once a second.
//
// Version 1 (files without the header, still read): records of [uint32
// length][uint32 CRC-32C of payload][payload], one after another from the
// first byte of the file. The magic, read as a version-1 length, is over
// maxRecord, so no version-1 log starts with it.
//
// Why compressed: the recorder's log holds every exchange whole (about
// 2.3 KB for a 1 KiB request and answer), so at 20,000 exchanges/s it wrote
// 45 MB/s that the kernel then wrote back to disk on the recorder's cores;
// JSON bodies compress several times over with S2 at a small part of that
// CPU.
package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/klauspost/compress/s2"
)

// maxRecord bounds one record's payload, so that a damaged length field
// cannot make a reader allocate gigabytes.
const maxRecord = 1 << 30

// maxBlock bounds a block's encoded and decoded length alike: a block
// holds one record past blockSize at most.
const maxBlock = blockSize + maxRecord + 64

// headerSize is the length and checksum before each block (or, in a
// version-1 log, each payload).
const headerSize = 8

// blockSize is how many bytes of records a block gathers before it is
// written without waiting for Flush.
const blockSize = 256 << 10

// keptBuffer bounds the buffers a Writer keeps between blocks.
const keptBuffer = 64 << 20

// bufSize is the read buffer of Read.
const bufSize = 256 << 10

// magic starts a version-2 log; fileHeader is the whole file header.
var (
	magic      = [4]byte{0xff, 'W', 'A', 'L'}
	fileHeader = [8]byte{0xff, 'W', 'A', 'L', 2, 0, 0, 0}
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrDamaged is what a Read callback returns for a record whose checksum
// matched but whose payload it cannot decode: Read stops there, as at a bad
// checksum, and counts the record's block and all after it as cut.
var ErrDamaged = errors.New("damaged log record")

// Writer appends records to a log file. Create takes an advisory lock on
// it (where the system has them) that InUse sees, and that ends when the
// Writer is closed or removed, or its process dies.
type Writer struct {
	f   *os.File
	raw []byte // records appended since the last block
	out []byte // the block being written: header and encoding
	err error  // the first write error: every later write fails with it
}

// Create makes a new log at path (mode 0600); a file already there is an
// error, never appended to.
func Create(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	lock(f)
	if _, err := f.Write(fileHeader[:]); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &Writer{f: f}, nil
}

// Append adds one record to the current block. It reaches the file with
// Flush (or once the block is full) and the disk with Sync; rec may be
// reused once Append returns.
func (w *Writer) Append(rec []byte) error {
	if w.err != nil {
		return w.err
	}
	if len(rec) > maxRecord {
		return fmt.Errorf("write %s: a record of %d bytes is over the log's %d", w.f.Name(), len(rec), maxRecord)
	}
	w.raw = binary.AppendUvarint(w.raw, uint64(len(rec)))
	w.raw = append(w.raw, rec...)
	if len(w.raw) >= blockSize {
		return w.writeBlock()
	}
	return nil
}

// Flush writes the records appended since the last block to the file as
// one block, not synced: Sync is apart so that it can run about once a
// second rather than once a batch.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.raw) == 0 {
		return nil
	}
	return w.writeBlock()
}

// writeBlock encodes the pending records and writes them in one write(2).
func (w *Writer) writeBlock() error {
	if n := headerSize + s2.MaxEncodedLen(len(w.raw)); cap(w.out) < n {
		w.out = make([]byte, n)
	}
	enc := s2.Encode(w.out[headerSize:cap(w.out)], w.raw)
	out := w.out[:headerSize+len(enc)]
	binary.LittleEndian.PutUint32(out[0:], uint32(len(enc)))
	binary.LittleEndian.PutUint32(out[4:], crc32.Checksum(enc, castagnoli))
	// The buffers are kept for the next block, grown to the largest
	// records seen (bodies are capped by --max-body): reallocating them for
	// each large record made garbage faster than the GC took it back
	// (TestRecorderMemoryUnderLargeUploads). Only a huge one is let go.
	w.raw = w.raw[:0]
	if cap(w.raw) > keptBuffer {
		w.raw = nil
	}
	if cap(w.out) > keptBuffer {
		w.out = nil
	}
	if _, err := w.f.Write(out); err != nil {
		w.err = fmt.Errorf("write %s: %w", w.f.Name(), err)
		return w.err
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
// block (a record in a version-1 log), or at a record for which fn returns
// ErrDamaged, and reports how many bytes were cut from there (from the
// start of that record's block): 0 for a log read to its end. Another error
// from fn stops Read and is returned as is.
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
	if head, err := r.Peek(len(fileHeader)); err == nil && [4]byte(head[:4]) == magic {
		if [8]byte(head) != fileHeader {
			return size, nil // a version this code does not know: keep nothing
		}
		_, _ = r.Discard(len(fileHeader))
		return readBlocks(r, size, int64(len(fileHeader)), fn)
	} else if len(head) >= 4 && [4]byte(head[:4]) == magic {
		return size, nil // a torn file header
	}
	return readRecords(r, size, fn)
}

// frame is what readFrame found at the reader's position.
type frame int

const (
	frameGood frame = iota
	frameEnd        // the log ends here, cleanly
	frameBad        // torn or damaged: cut from here
)

// readFrame reads the [uint32 length][uint32 CRC-32C][payload] frame at
// off into buf (grown as needed), refusing a length over max or past the
// file's size.
func readFrame(r *bufio.Reader, size, off, max int64, buf []byte) ([]byte, frame) {
	var hdr [headerSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return buf, frameEnd
		}
		return buf, frameBad // torn header
	}
	n := int64(binary.LittleEndian.Uint32(hdr[0:]))
	sum := binary.LittleEndian.Uint32(hdr[4:])
	if n > max || n > size-off-headerSize {
		return buf, frameBad
	}
	if int64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil || crc32.Checksum(buf, castagnoli) != sum {
		return buf, frameBad
	}
	return buf, frameGood
}

// readBlocks reads a version-2 log from off, just past its file header.
func readBlocks(r *bufio.Reader, size, off int64, fn func(rec []byte) error) (cut int64, err error) {
	var block, raw []byte
	for {
		var f frame
		switch block, f = readFrame(r, size, off, maxBlock, block); f {
		case frameEnd:
			return 0, nil
		case frameBad:
			return size - off, nil
		}
		dn, err := s2.DecodedLen(block)
		if err != nil || dn > maxBlock {
			return size - off, nil
		}
		if cap(raw) < dn {
			raw = make([]byte, dn)
		}
		if raw, err = s2.Decode(raw[:cap(raw)], block); err != nil {
			return size - off, nil
		}
		for rest := raw; len(rest) > 0; {
			l, k := binary.Uvarint(rest)
			if k <= 0 || l > uint64(len(rest)-k) {
				return size - off, nil // checksummed, so written so by a bug
			}
			rec := rest[k : k+int(l)]
			rest = rest[k+int(l):]
			if err := fn(rec); err != nil {
				if errors.Is(err, ErrDamaged) {
					return size - off, nil
				}
				return 0, err
			}
		}
		off += headerSize + int64(len(block))
	}
}

// readRecords reads a version-1 log.
func readRecords(r *bufio.Reader, size int64, fn func(rec []byte) error) (cut int64, err error) {
	var off int64
	var payload []byte
	for {
		var f frame
		switch payload, f = readFrame(r, size, off, maxRecord, payload); f {
		case frameEnd:
			return 0, nil
		case frameBad:
			return size - off, nil
		}
		if err := fn(payload); err != nil {
			if errors.Is(err, ErrDamaged) {
				return size - off, nil
			}
			return 0, err
		}
		off += headerSize + int64(len(payload))
	}
}
