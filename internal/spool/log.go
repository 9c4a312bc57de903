package spool

import "github.com/shadowctl/shadowctl/internal/wal"

// The write-ahead log makes writing crash-safe. A Parquet file is only
// readable once its footer is written, so rows sit in memory or in a
// footless file until rotation; a SIGKILL would lose the whole file. Every
// row the sink writes to Parquet also goes to an append-only log beside it,
// synced about once a second. When the Parquet file is finalized its log is
// removed; a log found at start-up is turned back into Parquet (Recover).
//
// internal/wal frames and checksums the log's records and cuts a torn or
// damaged tail; the Codec encodes one row into each record.

// rowLog appends encoded rows to a log file.
type rowLog[T any] struct {
	*wal.Writer
	encode func([]byte, *T) []byte
	buf    []byte
}

func createRowLog[T any](path string, encode func([]byte, *T) []byte) (*rowLog[T], error) {
	w, err := wal.Create(path)
	if err != nil {
		return nil, err
	}
	return &rowLog[T]{Writer: w, encode: encode}, nil
}

// append writes rows to the log's buffer and the buffer to the file (not
// synced: Sync is separate so it can run about once a second).
func (l *rowLog[T]) append(rows []T) error {
	for i := range rows {
		l.buf = l.encode(l.buf[:0], &rows[i])
		if err := l.Append(l.buf); err != nil {
			return err
		}
	}
	return l.Flush()
}

// readLog calls fn for each good record of the log at path, in order. It
// stops at the first torn or damaged record, or one that does not decode,
// and reports how many bytes were cut there.
func readLog[T any](path string, decode func([]byte) (T, error), fn func(*T) error) (cut int64, err error) {
	return wal.Read(path, func(rec []byte) error {
		row, err := decode(rec)
		if err != nil {
			return wal.ErrDamaged
		}
		return fn(&row)
	})
}
