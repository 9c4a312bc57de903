package spool

import (
	"testing"
	"time"
)

// The writer's rest grows while batches stay small and shrinks once they
// reach their aim, within its bounds; the aim is a fraction of a small
// queue's rows and of its bytes.
func TestWriterRestFollowsTheBatches(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		d    time.Duration
		fill float64
		want time.Duration
	}{
		{2 * ms, 0.01, 4 * ms}, {4 * ms, 0.4, 8 * ms}, {16 * ms, 0.2, 20 * ms}, {20 * ms, 0, 20 * ms},
		{8 * ms, 0.5, 8 * ms}, {8 * ms, 0.99, 8 * ms}, {8 * ms, 1, 4 * ms}, {20 * ms, 3, 10 * ms}, {2 * ms, 1, 2 * ms},
	} {
		if got := nextRest(c.d, c.fill); got != c.want {
			t.Errorf("nextRest(%v, %v) = %v, want %v", c.d, c.fill, got, c.want)
		}
	}
	for _, c := range []struct {
		rows       int
		bytes      int64
		queue      int
		queueBytes int64
		want       float64
	}{
		{128, 0, 10000, 128 << 20, 0.5}, // aims at 256 rows
		{256, 0, 10000, 128 << 20, 1},
		{10, 0, 100, 128 << 20, 10.0 / 12}, // a queue of 100: 12 rows
		{1, 0, 4, 128 << 20, 1},            // never less than one row
		{2, 32 << 20, 10000, 128 << 20, 2}, // 32 MiB of 16 (an eighth of the bytes)
	} {
		if got := restAim(c.rows, c.bytes, c.queue, c.queueBytes); got != c.want {
			t.Errorf("restAim(%d, %d, %d, %d) = %v, want %v", c.rows, c.bytes, c.queue, c.queueBytes, got, c.want)
		}
	}
}
