package replay

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/bucket"
	"github.com/shadowctl/shadowctl/internal/s3test"
	"github.com/shadowctl/shadowctl/record"
)

// BenchmarkReplaySource replays the same recording (200,000 exchanges in
// two files; SHADOWCTL_BENCH_EXCHANGES changes it) at the same concurrency
// from local files and from a real S3 server on loopback (versitygw), to
// show what reading by ranged GETs costs.
func BenchmarkReplaySource(b *testing.B) {
	n := 200_000
	if s := os.Getenv("SHADOWCTL_BENCH_EXCHANGES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	dir := b.TempDir()
	writeLargeRecording(b, dir, n)
	s := s3test.Start(b)
	prefix := s.Bucket(b, "bench", "rec")
	files, _ := filepath.Glob(filepath.Join(dir, "*.parquet"))
	for _, f := range files {
		loc, _ := bucket.Parse(s.URL("bench", "rec/"+filepath.Base(f)), ".parquet")
		if err := bucket.Upload(context.Background(), f, loc); err != nil {
			b.Fatal(err)
		}
	}
	srv := fastServer()
	defer srv.Close()
	for _, src := range []struct{ name, arg string }{{"local", dir}, {"s3", prefix}} {
		b.Run(src.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				r, err := record.Open([]string{src.arg})
				if err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				sum, err := Run(context.Background(), Options{Target: mustURL(b, srv.URL), Concurrency: benchConcurrency}, r, discardWriter{})
				if err != nil {
					b.Fatal(err)
				}
				r.Close()
				if sum.OK != int64(n) {
					b.Fatalf("%d ok of %d", sum.OK, n)
				}
				b.ReportMetric(float64(n)/time.Since(t0).Seconds(), "req/s")
			}
		})
	}
}
