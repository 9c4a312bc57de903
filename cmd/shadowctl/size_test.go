package main

import "testing"

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "512", want: 512},
		{in: "0", want: 0},
		{in: "128MiB", want: 128 << 20},
		{in: "4MiB", want: 4 << 20},
		{in: "4mib", want: 4 << 20},
		{in: "1GB", want: 1_000_000_000},
		{in: "1GiB", want: 1 << 30},
		{in: "1.5GiB", want: 3 << 29},
		{in: "10KB", want: 10_000},
		{in: "10 KiB", want: 10 << 10},
		{in: "64Mi", want: 64 << 20},
		{in: "2TiB", want: 2 << 40},
		{in: "7B", want: 7},
		{in: " 3M ", want: 3_000_000},
		{in: "", bad: true},
		{in: "MiB", bad: true},
		{in: "-1", bad: true},
		{in: "12XB", bad: true},
		{in: "1.2.3MB", bad: true},
		{in: "99999999999TiB", bad: true},
		{in: "9223372036854775808", bad: true},
		{in: "1e3", bad: true},
	} {
		got, err := parseSize(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("parseSize(%q) = %d, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}
