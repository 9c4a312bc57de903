package replay

// Rows go to the RowWriter in batches of batchRows, at most queuedBatches
// of them waiting: a few hundred KiB with 1 KiB bodies.
const (
	batchRows     = 256
	queuedBatches = 2
)

// batchWriter writes batches of rows to a RowWriter on its own goroutine,
// so the workers keep sending while a row group is encoded, compressed and
// written: written inline, that stalled every worker behind the collector.
type batchWriter struct {
	out   RowWriter
	full  chan []Result
	free  chan []Result
	done  chan struct{}
	err   error // out's first error; read after done closes
	onErr func(error)
}

// startBatchWriter starts the writer; onErr is called once, from its
// goroutine, with out's first error. Rows after it are dropped.
func startBatchWriter(out RowWriter, onErr func(error)) *batchWriter {
	w := &batchWriter{
		out: out, onErr: onErr, done: make(chan struct{}),
		full: make(chan []Result, queuedBatches), free: make(chan []Result, queuedBatches+1),
	}
	for range queuedBatches + 1 {
		w.free <- make([]Result, 0, batchRows)
	}
	go w.run()
	return w
}

func (w *batchWriter) run() {
	defer close(w.done)
	for b := range w.full {
		if w.err == nil {
			if err := w.out.Write(b); err != nil {
				w.err = err
				w.onErr(err)
			}
		}
		// Written or dropped, the rows are done with: their answer buffers
		// serve later answers, the rest goes to the garbage collector.
		for i := range b {
			putBody(b[i].CandidateBody)
			putBody(b[i].BaselineBody)
		}
		clear(b)
		w.free <- b[:0]
	}
}

// get returns an empty batch, waiting while out is behind.
func (w *batchWriter) get() []Result { return <-w.free }

// put queues a batch to write.
func (w *batchWriter) put(b []Result) { w.full <- b }

// close waits for the queued batches and returns out's first error.
func (w *batchWriter) close() error {
	close(w.full)
	<-w.done
	return w.err
}
