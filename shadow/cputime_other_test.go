//go:build !unix

package shadow

import "time"

// cpuTime is unknown here; benchmarks then report 0 CPU per copy.
func cpuTime() time.Duration { return 0 }
