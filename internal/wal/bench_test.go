package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exchangeRecord is about what the recorder logs per exchange: a 1 KiB
// KServe request of numbers that differ from one exchange to the next,
// its answer, and some headers.
func exchangeRecord(i int) []byte {
	var b strings.Builder
	b.WriteString(`POST /v1/models/m:predict Content-Type: application/json User-Agent: client/1.0 {"instances":[[`)
	for j := 0; b.Len() < 1100; j++ {
		if j > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%.4f", float64((i*7919+j*104729)%100000)/1000)
	}
	fmt.Fprintf(&b, `]]} 200 Content-Type: application/json {"predictions":[{"label":"class_%d","scores":[`, i%3)
	for j := 0; j < 60; j++ {
		if j > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%.6f", float64((i*31+j*17)%1000)/1000)
	}
	b.WriteString(`]}]}`)
	return []byte(b.String())
}

// BenchmarkAppend logs exchange-like records in batches of 64 (the
// recorder's at load), one block per batch, and reports the bytes on disk
// per record against the bytes of the records.
func BenchmarkAppend(b *testing.B) {
	recs := make([][]byte, 1024)
	raw := 0
	for i := range recs {
		recs[i] = exchangeRecord(i)
		raw += len(recs[i])
	}
	path := filepath.Join(b.TempDir(), "x.wal")
	w, err := Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Remove()
	b.SetBytes(int64(raw / len(recs)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := w.Append(recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
		if i%64 == 63 {
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
	w.Flush()
	b.StopTimer()
	info, _ := os.Stat(path)
	b.ReportMetric(float64(info.Size())/float64(b.N), "disk-B/rec")
	b.ReportMetric(float64(raw)/float64(len(recs)), "raw-B/rec")
}
