package record

import (
	"log/slog"
	"time"

	"github.com/shadowctl/shadowctl/internal/parquetfile"
	"github.com/shadowctl/shadowctl/internal/spool"
)

// Reasons a row is dropped instead of recorded: the label values of the
// dropped counter and the keys of SinkStats.Dropped.
const (
	// DropQueueFull: the queue was full (by rows or bytes) when the row came.
	DropQueueFull = spool.DropQueueFull
	// DropWriteError: the disk failed while the row's file was written.
	DropWriteError = spool.DropWriteError
	// DropClosed: the row came after the sink was closed.
	DropClosed = spool.DropClosed
)

// DropReasons lists every reason, in a fixed order.
var DropReasons = spool.DropReasons

// Defaults of SinkOptions.
const (
	DefaultQueue          = spool.DefaultQueue
	DefaultQueueBytes     = spool.DefaultQueueBytes
	DefaultRotateSize     = spool.DefaultRotateSize
	DefaultRotateInterval = spool.DefaultRotateInterval
)

// SinkOptions configures a Sink.
type SinkOptions struct {
	// Dir receives the recording files; it is created (0700) if missing.
	Dir string
	// Instance names this recorder in file names and rows.
	Instance string
	// Queue is the number of rows that may wait for the writer.
	Queue int
	// QueueBytes bounds the bytes (bodies and headers) of the waiting rows,
	// so a burst of large bodies cannot exhaust memory.
	QueueBytes int64
	// RotateSize starts a new file once the current one reaches it.
	RotateSize int64
	// RotateInterval finalizes the current file once it is this old, so rows
	// become readable at least that often.
	RotateInterval time.Duration
	// Now is the clock for file names; time.Now by default.
	Now func() time.Time
	// Logger receives disk errors (rate-limited); nil discards them.
	Logger *slog.Logger
	// NoWAL turns off the write-ahead log: faster, but a hard crash then
	// loses the whole file being written.
	NoWAL bool
	// RedactJSON masks fields inside JSON bodies before rows are written;
	// nil stores bodies as they came.
	RedactJSON *JSONRedactor

	// create opens a file; tests replace it to inject disk failures.
	create func(path string) (rowFile, error)
}

// rowFile is what the sink needs of a recording file (a *FileWriter).
type rowFile = spool.File[Exchange]

// SinkStats counts what happened to the rows offered to a sink. After a
// clean Close, Recorded + the sum of Dropped equals Offered.
type SinkStats = spool.Stats

// Sink writes exchanges to rotating recording files from one goroutine. Offer
// never blocks: when the queue is full the row is dropped and counted. Disk
// errors drop rows too, and never reach the caller; the sink tries a new file
// with the next rows, so recording resumes once the disk recovers. The
// machinery is internal/spool's, shared with the live shadow's results.
type Sink struct {
	*spool.Sink[Exchange]
}

// NewSink creates opts.Dir if needed, recovers the recordings a crash left
// there, and starts the writer goroutine; Close stops it.
func NewSink(opts SinkOptions) (*Sink, error) {
	codec := exchangeCodec(opts.create)
	if opts.RedactJSON != nil {
		codec.Prepare = opts.RedactJSON.Apply
	}
	s, err := spool.New(spool.Options{
		Dir:            opts.Dir,
		Instance:       opts.Instance,
		Queue:          opts.Queue,
		QueueBytes:     opts.QueueBytes,
		RotateSize:     opts.RotateSize,
		RotateInterval: opts.RotateInterval,
		Now:            opts.Now,
		Logger:         opts.Logger,
		NoWAL:          opts.NoWAL,
	}, codec)
	if err != nil {
		return nil, err
	}
	return &Sink{s}, nil
}

// ErrNotWritable is wrapped by NewSink's error when files cannot be created
// in the recordings folder.
var ErrNotWritable = spool.ErrNotWritable

// exchangeCodec is what the sink and Recover know of an Exchange; create
// opens its files (CreateFile when nil).
func exchangeCodec(create func(path string) (rowFile, error)) spool.Codec[Exchange] {
	if create == nil {
		create = func(path string) (rowFile, error) { return CreateFile(path) }
	}
	return spool.Codec[Exchange]{
		Size:   rowBytes,
		Create: create,
		Append: encodeExchange,
		Decode: func(rec []byte) (Exchange, error) {
			var x Exchange
			err := decodeExchange(rec, &x)
			return x, err
		},
		FileName:      FileName,
		WALSuffix:     WALSuffix,
		PartialSuffix: parquetfile.PartialSuffix,
		Names:         spool.Names{File: "recording", Files: "recordings", Writer: "recorder"},
	}
}

// rowBytes estimates the memory a row holds: its bodies (the memory behind
// them, not only what they hold), headers and a fixed part for the other
// columns.
func rowBytes(x *Exchange) int64 {
	n := int64(cap(x.RequestBody)+cap(x.ResponseBody)+len(x.Path)+len(x.Host)) + 128
	for _, h := range x.RequestHeaders {
		n += int64(len(h.Name) + len(h.Value) + 32)
	}
	for _, h := range x.ResponseHeaders {
		n += int64(len(h.Name) + len(h.Value) + 32)
	}
	return n
}
