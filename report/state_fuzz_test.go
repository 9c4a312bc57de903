package report

import (
	"bytes"
	"errors"
	"regexp"
	"testing"
)

// FuzzReadState feeds arbitrary bytes to ReadState: it fails with an
// ErrStateFormat or ErrStateVersion, or returns a Builder whose state writes
// back to a state that reads the same, and that reports and merges without
// panicking.
func FuzzReadState(f *testing.F) {
	// Small seeds, so that the fuzzer runs fast: 60 rows, one with groups,
	// one whose delta latencies are a histogram (2,049 values in a few
	// buckets) rather than the values.
	hist := &hybrid{}
	for i := range exactLimit + 1 {
		hist.Add(float64(1e6 + i))
	}
	hj, err := hist.MarshalJSON()
	if err != nil {
		f.Fatal(err)
	}
	delta := regexp.MustCompile(`"latency_delta_ns":\{"exact":\[[^\]]*\]\}`)
	for _, opts := range []Options{{}, {By: "path", Top: 3}} {
		b, err := NewBuilder(opts)
		if err != nil {
			f.Fatal(err)
		}
		rows := mixedRows(60, 4)
		for i := range rows {
			b.Add(&rows[i])
		}
		var buf bytes.Buffer
		if err := b.WriteState(&buf); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
		if opts.By == "" {
			seed := []byte(delta.ReplaceAllLiteralString(buf.String(), `"latency_delta_ns":`+string(hj)))
			if _, err := ReadState(bytes.NewReader(seed)); err != nil || bytes.Equal(seed, buf.Bytes()) {
				f.Fatalf("histogram seed: %v", err)
			}
			f.Add(seed)
		}
	}
	f.Add([]byte(`{"format":"shadowctl.report-state/2"}`))
	f.Add([]byte{0x1f, 0x8b, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ReadState(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrStateFormat) && !errors.Is(err, ErrStateVersion) {
				t.Fatalf("error %v is neither ErrStateFormat nor ErrStateVersion", err)
			}
			return
		}
		var first, second bytes.Buffer
		if err := b.WriteState(&first); err != nil {
			t.Fatal(err)
		}
		again, err := ReadState(bytes.NewReader(first.Bytes()))
		if err != nil {
			t.Fatalf("a state read back does not read: %v", err)
		}
		if err := again.WriteState(&second); err != nil || first.String() != second.String() {
			t.Fatalf("a state read back writes another state: %v", err)
		}
		b.Report()
		if err := b.Merge(again); err != nil {
			t.Fatal(err)
		}
		b.Report()
	})
}
