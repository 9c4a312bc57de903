//go:build !unix

package record

import "time"

// cpuTime is unknown here; benchmarks then report 0 CPU per row.
func cpuTime() time.Duration { return 0 }
