// Package poll waits in tests for a condition that another goroutine or
// process makes true, without sleeping a fixed time: it checks often at
// first, then backs off, and gives up at a deadline.
package poll

import (
	"testing"
	"time"
)

// Deadline is how long Until waits. It is generous because the tests that
// wait run under -race on shared machines, often next to child processes;
// a condition that is going to hold holds long before it.
const Deadline = 20 * time.Second

// The pause between checks doubles from minPause up to maxPause, so a
// condition that holds at once costs about a millisecond, and one that
// takes seconds (or is expensive to check) is not checked in a busy loop.
const (
	minPause = time.Millisecond
	maxPause = 20 * time.Millisecond
)

// Within checks cond until it holds or d has passed, and reports whether
// it held. Use it where the test says itself what failed.
func Within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for pause := minPause; !cond(); pause = min(2*pause, maxPause) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
	}
	return true
}

// Until checks cond until it holds, and fails the test if it has not
// within Deadline.
func Until(t testing.TB, cond func() bool) {
	t.Helper()
	until(t, Deadline, cond)
}

// until is Until with its deadline as an argument, so that its own test
// need not wait Deadline to see it fail.
func until(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	if !Within(d, cond) {
		t.Fatalf("poll: condition not met within %v", d)
	}
}
