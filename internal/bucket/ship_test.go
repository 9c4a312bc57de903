package bucket_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shadowctl/shadowctl/internal/bucket"
	"github.com/shadowctl/shadowctl/internal/poll"
)

// TestShipperUploadsFinishedFilesAndKeepsFailures: finished files go up and
// leave the spool; in-progress files and logs stay untouched; while the
// bucket is unreachable the files stay, counted as pending and failed, and
// go up once it is back.
func TestShipperUploadsFinishedFilesAndKeepsFailures(t *testing.T) {
	spool, root := t.TempDir(), t.TempDir()
	dest := filepath.Join(root, "dest")
	for name, body := range map[string]string{"a.parquet": "aaaa", "b.parquet": "bb", "c.parquet.partial": "x", "c.parquet.wal": "y"} {
		os.WriteFile(filepath.Join(spool, name), []byte(body), 0o600)
	}
	loc, err := bucket.Parse("file://"+filepath.ToSlash(dest), "")
	if err != nil {
		t.Fatal(err)
	}
	s := bucket.NewShipper(bucket.ShipperOptions{Dir: spool, Dest: loc, Ext: ".parquet",
		Every: time.Millisecond, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	reg := prometheus.NewRegistry()
	if err := s.Register(reg, "recordings"); err != nil {
		t.Fatal(err)
	}
	// The folder of a file:// bucket does not exist yet: uploads fail.
	if err := s.Flush(context.Background()); err == nil {
		t.Fatal("upload to a missing bucket succeeded")
	}
	st := s.Stats()
	if st.Uploaded != 0 || st.Failed != 1 || st.PendingFiles != 2 || st.PendingBytes != 6 {
		t.Errorf("while down: %+v; want 0 uploaded, 1 failed, 2 files (6 bytes) pending", st)
	}
	if _, err := os.Stat(filepath.Join(spool, "a.parquet")); err != nil {
		t.Errorf("a failed upload removed its file: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	os.MkdirAll(dest, 0o700) // the bucket is back
	poll.Until(t, func() bool { return s.Stats().Uploaded == 2 })
	cancel()
	<-done
	for name, want := range map[string]string{"a.parquet": "aaaa", "b.parquet": "bb"} {
		if got, err := os.ReadFile(filepath.Join(dest, name)); err != nil || string(got) != want {
			t.Errorf("%s in the bucket: %q, %v", name, got, err)
		}
		if _, err := os.Stat(filepath.Join(spool, name)); !os.IsNotExist(err) {
			t.Errorf("%s still in the spool after its upload: %v", name, err)
		}
	}
	for _, name := range []string{"c.parquet.partial", "c.parquet.wal"} {
		if _, err := os.Stat(filepath.Join(spool, name)); err != nil {
			t.Errorf("%s was touched: %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(dest, name)); err == nil {
			t.Errorf("%s was uploaded", name)
		}
	}
	want := `
# HELP shadowctl_upload_pending_files Finished files in the spool folder waiting for their upload.
# TYPE shadowctl_upload_pending_files gauge
shadowctl_upload_pending_files{what="recordings"} 0
# HELP shadowctl_upload_bytes_total Bytes of the files uploaded.
# TYPE shadowctl_upload_bytes_total counter
shadowctl_upload_bytes_total{what="recordings"} 6
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "shadowctl_upload_pending_files", "shadowctl_upload_bytes_total"); err != nil {
		t.Error(err)
	}
}
