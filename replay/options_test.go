package replay

import (
	"strings"
	"testing"
)

func TestValidateRejectsConflictingOptions(t *testing.T) {
	u := mustURL(t, "http://127.0.0.1:1")
	cases := []struct {
		name string
		o    Options
		want string
	}{
		{"ok", Options{Target: u}, ""},
		{"rate and speed", Options{Target: u, Rate: 1, Speed: 1}, "exclude each other"},
		{"no target", Options{}, "no target"},
		{"bad scheme", Options{Target: mustURL(t, "ftp://x")}, "want http"},
		{"negative rate", Options{Target: u, Rate: -1}, "rate -1"},
		{"most concurrency", Options{Target: u, Concurrency: MaxConcurrency}, ""},
		{"huge concurrency", Options{Target: u, Concurrency: 100_000_000}, "concurrency 100000000: want at most 10000"},
	}
	for _, c := range cases {
		err := c.o.Validate()
		if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
}
