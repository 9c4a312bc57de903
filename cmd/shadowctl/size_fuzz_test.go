package main

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParseSize feeds arbitrary flag values to parseSize: a size is never
// negative and prints back to itself in bytes; an error names the value.
// Seeds in testdata/fuzz/FuzzParseSize.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"512", "4MiB", "1.5GiB", "1GB", " 2 kb ", "9223372036854775807", "9223372036854775808",
		"8EiB", "1e9", "-1", ".", "1..2", "0.0000001KiB", "99999999999TiB", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "size "+strconv.Quote(s)+": ") {
				t.Fatalf("error %q does not name the value", err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("parseSize(%q) = %d", s, n)
		}
		if m, err := parseSize(strconv.FormatInt(n, 10)); err != nil || m != n {
			t.Fatalf("parseSize(%q) = %d, but %d reads back as %d, %v", s, n, n, m, err)
		}
	})
}
