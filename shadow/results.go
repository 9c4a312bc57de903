package shadow

import (
	"fmt"
	"time"

	"github.com/shadowctl/shadowctl/internal/parquetfile"
	"github.com/shadowctl/shadowctl/internal/spool"
	"github.com/shadowctl/shadowctl/record"
	"github.com/shadowctl/shadowctl/replay"
)

// The live shadow's results files are written like recordings (rotated,
// finalized atomically, mode 0600, a write-ahead log synced every second,
// recovered on restart) by internal/spool, in replay's results format, so
// that `shadowctl report` reads them as it reads replay's.

// FileName names the seq'th results file instance starts at t.
func FileName(t time.Time, instance string, seq int) string {
	return "shadow-" + t.UTC().Format("20060102T150405.000000000Z") + "-" + instance + "-" +
		fmt.Sprintf("%06d", seq) + parquetfile.Ext
}

// ResultsCodec is how a spool writes, logs and recovers results rows (the
// Shadow has masked their bodies, see Options.RedactJSON).
func ResultsCodec() spool.Codec[replay.Result] {
	return spool.Codec[replay.Result]{
		Size: func(r *replay.Result) int64 {
			n := cap(r.RequestBody) + cap(r.RecordedBody) + cap(r.CandidateBody) + len(r.Path) + len(r.RecordedError) + len(r.CandidateError)
			for _, h := range r.RequestHeaders {
				n += len(h.Name) + len(h.Value) + 32
			}
			return int64(n+8*(len(r.RecordedEventNs)+len(r.CandidateEventNs))) + 256
		},
		Create:        func(path string) (spool.File[replay.Result], error) { return replay.CreateResults(path) },
		Append:        appendResult,
		Decode:        decodeResult,
		FileName:      FileName,
		WALSuffix:     record.WALSuffix,
		PartialSuffix: parquetfile.PartialSuffix,
		Names:         spool.Names{File: "results file", Files: "shadow results", Writer: "live shadow"},
	}
}
