package record

import (
	"errors"
	"io"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/parquetfile"
)

// readWith reads every row of a recording file through parquetfile, with
// decodeRow or (own false) parquet-go's Reconstruct.
func readWith(t *testing.T, path string, own bool) []Exchange {
	t.Helper()
	f, err := parquetfile.Open[Exchange](path, Schemas...)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if own {
		f.Decode(newRowDecoder().decode)
	}
	var out []Exchange
	for {
		x, err := f.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, *x)
	}
}

// TestDecodeRowIsReconstruct: decodeRow reads every row exactly as
// parquet-go's Reconstruct does (the reader used it before), over rows with
// empty and absent lists, empty and binary bodies, several values per
// header, event times, and over the frozen files of both formats (the first
// lacks the timing columns).
func TestDecodeRowIsReconstruct(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	bytesOf := func(n int) []byte {
		if n < 0 {
			return nil
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	headers := func() []Header {
		n := rng.IntN(4)
		if n == 0 {
			return nil
		}
		hs := make([]Header, n)
		for i := range hs {
			hs[i] = Header{Name: pick("Content-Type", "X-Multi", "Accept", ""), Value: pick("application/json", "a", "", "é\x00")}
		}
		return hs
	}
	base := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)
	xs := make([]Exchange, 600) // more than a page's worth of rows for some columns
	for i := range xs {
		at := base.Add(time.Duration(rng.Int64N(int64(time.Hour))) - 30*time.Minute)
		x := Exchange{ID: NewID(at), StartedAt: at, Method: pick("GET", "POST", ""), Host: pick("model", ""),
			Path: pick("/v1/predict", "/a?b=c", ""), RequestHeaders: headers(), RequestBody: bytesOf(rng.IntN(300) - 20),
			RequestBodyTruncated: rng.IntN(5) == 0, RequestBodySize: rng.Int64N(1 << 40), Status: int32(pick("0", "200", "503")[0]),
			ResponseHeaders: headers(), ResponseBody: bytesOf(rng.IntN(300) - 20), ResponseBodyTruncated: rng.IntN(7) == 0,
			ResponseBodySize: rng.Int64N(1 << 30), LatencyNs: rng.Int64N(1 << 35), Error: pick("", "", "client canceled"),
			Instance: pick("a", "b", ""), ResponseFirstByteNs: rng.Int64N(1 << 30)}
		if rng.IntN(3) == 0 {
			x.ResponseEvents = int64(rng.IntN(5))
			for range x.ResponseEvents {
				x.ResponseEventNs = append(x.ResponseEventNs, rng.Int64N(1<<30))
			}
		}
		xs[i] = x
	}
	path := filepath.Join(t.TempDir(), "rec.parquet")
	writeRecording(t, path, xs)
	for _, p := range []string{path, filepath.Join("..", "testdata", "recording-1.parquet"), filepath.Join("..", "testdata", "recording-2.parquet")} {
		want, got := readWith(t, p, false), readWith(t, p, true)
		if len(want) == 0 || len(got) != len(want) {
			t.Fatalf("%s: %d rows decoded, %d reconstructed", p, len(got), len(want))
		}
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				g, w := reflect.ValueOf(got[i]), reflect.ValueOf(want[i])
				for f := range g.NumField() {
					if !reflect.DeepEqual(g.Field(f).Interface(), w.Field(f).Interface()) {
						t.Errorf("%s row %d %s: decoded %#v, reconstructed %#v", p, i, g.Type().Field(f).Name, g.Field(f), w.Field(f))
					}
				}
				t.FailNow()
			}
		}
	}
}

// BenchmarkDecodeRow compares the two ways of filling rows on the
// benchmark's recording: CPU per row.
func BenchmarkDecodeRow(b *testing.B) {
	path := filepath.Join(b.TempDir(), "rec.parquet")
	w, err := CreateFile(path)
	if err != nil {
		b.Fatal(err)
	}
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	const n = 20000
	for i := range n {
		at := base.Add(time.Duration(i) * 50 * time.Microsecond)
		x := Exchange{ID: NewID(at), StartedAt: at, Method: "POST", Host: "model", Path: "/v1/models/m:predict",
			RequestHeaders: []Header{{"Accept", "*/*"}, {"Content-Length", "1024"}, {"Content-Type", "application/json"}},
			RequestBody:    jsonBody(1024, i), Status: 200, ResponseHeaders: []Header{{"Content-Type", "application/json"}},
			ResponseBody: jsonBody(1024, i+1), LatencyNs: 300_000, Instance: "bench"}
		if err := w.Write([]Exchange{x}); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	for _, own := range []bool{false, true} {
		b.Run(map[bool]string{false: "reconstruct", true: "decodeRow"}[own], func(b *testing.B) {
			for b.Loop() {
				f, err := parquetfile.Open[Exchange](path, Schemas...)
				if err != nil {
					b.Fatal(err)
				}
				if own {
					f.Decode(newRowDecoder().decode)
				}
				for {
					if _, err := f.Next(); err != nil {
						break
					}
				}
				f.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
		})
	}
}
