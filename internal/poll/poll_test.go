package poll

import (
	"fmt"
	"testing"
	"time"
)

func TestWithin(t *testing.T) {
	for _, tc := range []struct {
		name      string
		holdsAt   int // the call on which cond first holds; 0 for never
		d         time.Duration
		want      bool
		wantCalls int // 0: at least 2, as many as fit in d
	}{
		{"holds at once", 1, time.Second, true, 1},
		{"holds on the fifth check", 5, 10 * time.Second, true, 5},
		{"never holds", 0, 30 * time.Millisecond, false, 0},
		{"a zero wait still checks once", 1, 0, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			start := time.Now()
			got := Within(tc.d, func() bool { calls++; return calls == tc.holdsAt })
			took := time.Since(start)
			if got != tc.want {
				t.Errorf("Within = %v, want %v", got, tc.want)
			}
			if tc.wantCalls != 0 && calls != tc.wantCalls {
				t.Errorf("cond called %d times, want %d", calls, tc.wantCalls)
			}
			if !tc.want && (calls < 2 || took < tc.d) {
				t.Errorf("gave up after %d calls and %v, want at least 2 calls and %v", calls, took, tc.d)
			}
		})
	}
}

// fakeT records what a failing Until reports instead of ending the test.
type fakeT struct {
	testing.TB
	failed string
}

func (f *fakeT) Helper() {}

func (f *fakeT) Fatalf(format string, args ...any) { f.failed = fmt.Sprintf(format, args...) }

func TestUntil(t *testing.T) {
	ft := &fakeT{}
	calls := 0
	until(ft, time.Second, func() bool { calls++; return calls == 3 })
	if ft.failed != "" || calls != 3 {
		t.Errorf("a condition that holds on the third check: %d calls, failed %q", calls, ft.failed)
	}
	until(ft, 10*time.Millisecond, func() bool { return false })
	if want := "poll: condition not met within 10ms"; ft.failed != want {
		t.Errorf("a condition that never holds failed the test with %q, want %q", ft.failed, want)
	}
}
