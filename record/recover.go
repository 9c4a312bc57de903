package record

import "github.com/shadowctl/shadowctl/internal/spool"

// Recovered describes what Recover did with one log left by a crash.
type Recovered = spool.Recovered

// Recover turns every log left in dir by a recorder that did not stop
// cleanly into a finished Parquet file, and removes the log and any
// half-written Parquet file beside it. Run it before recording into dir.
func Recover(dir string) ([]Recovered, error) {
	return spool.Recover(dir, exchangeCodec(nil))
}
