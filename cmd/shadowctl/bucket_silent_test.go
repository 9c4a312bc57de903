package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/bucket"
	"github.com/shadowctl/shadowctl/internal/s3test"
)

// TestReplayToASilentBucketEnds: replay --out to a bucket endpoint that
// accepts and never answers fails with one line and exit 1 once a request
// has had bucket.RequestTimeout, and an interrupt ends it at once (exit
// 130) rather than waiting.
func TestReplayToASilentBucketEnds(t *testing.T) {
	rec := filepath.Join(t.TempDir(), "rec.parquet")
	writeReplayFixture(t, rec, 3)
	t.Setenv("TMPDIR", t.TempDir())
	// within runs replay to the bucket at addr under ctx, and fails the
	// test if it has not ended 30 s later.
	within := func(ctx context.Context, t *testing.T, addr string) (string, int) {
		out := "s3://silent/run1/r.parquet?endpoint=http://" + addr + "&region=us-east-1&use_path_style=true"
		t.Helper()
		type res struct {
			stderr string
			code   int
		}
		done := make(chan res, 1)
		go func() {
			_, stderr, code := runCLIContext(ctx, t, "replay", "--target", "http://127.0.0.1:1", "--out", out, rec)
			done <- res{stderr, code}
		}()
		select {
		case r := <-done:
			return r.stderr, r.code
		case <-time.After(30 * time.Second):
			t.Fatal("replay still waiting for the bucket after 30s")
			return "", 0
		}
	}

	t.Run("timeout", func(t *testing.T) {
		defer func(d time.Duration) { bucket.RequestTimeout = d }(bucket.RequestTimeout)
		bucket.RequestTimeout = 300 * time.Millisecond
		addr, _ := s3test.Silent(t)
		stderr, code := within(context.Background(), t, addr)
		if code != exitFailed || !strings.Contains(stderr, "no answer from the bucket in time (300ms)") ||
			strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("exit %d, stderr %q; want exit 1 and one line saying the bucket did not answer", code, stderr)
		}
	})
	t.Run("interrupt", func(t *testing.T) {
		addr, accepted := s3test.Silent(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-accepted: // the request is waiting on the bucket
				cancel()
			case <-ctx.Done():
			}
		}()
		start := time.Now()
		stderr, code := within(ctx, t, addr)
		if code != exitInterrupted {
			t.Errorf("exit %d, stderr %q; want 130", code, stderr)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("took %v to stop after the interrupt", d)
		}
	})
}

// TestReplaySecondInterruptAbandonsTheUpload: the upload at the end goes on
// after an interrupt (the rows done must reach the bucket), but a second
// one gives it up at once, the results kept in the spool for --resume,
// rather than after four tries of bucket.RequestTimeout each.
func TestReplaySecondInterruptAbandonsTheUpload(t *testing.T) {
	putting := make(chan struct{}, 8)
	release := make(chan struct{})
	s3 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			w.WriteHeader(http.StatusNotFound) // no object yet
			return
		}
		putting <- struct{}{}
		<-release // takes the upload and never answers
	}))
	defer s3.Close()
	defer close(release) // before Close, which waits for the handler
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	spool := t.TempDir()
	t.Setenv("TMPDIR", spool)
	model := httptest.NewServer(http.HandlerFunc(labelModel))
	defer model.Close()
	rec := filepath.Join(t.TempDir(), "rec.parquet")
	writeReplayFixture(t, rec, 3)

	again := make(chan struct{})
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), againKey{}, (<-chan struct{})(again)))
	defer cancel()
	go func() {
		<-putting // the upload has begun: interrupt twice
		cancel()
		close(again)
	}()
	out := "s3://b/run/r.parquet?endpoint=" + s3.URL + "&region=us-east-1&use_path_style=true"
	done := make(chan struct{})
	var stderr string
	var code int
	start := time.Now()
	go func() {
		defer close(done)
		_, stderr, code = runCLIContext(ctx, t, "replay", "--target", model.URL, "--out", out, rec)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("replay still uploading 30s after the second interrupt")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
	kept, _ := filepath.Glob(filepath.Join(spool, "shadowctl-results-*.parquet"))
	if code == exitOK || !strings.Contains(stderr, "upload abandoned") || !strings.Contains(stderr, "kept in") {
		t.Errorf("exit %d, stderr %q; want a failure saying the upload was abandoned and the results kept", code, stderr)
	}
	if len(kept) == 0 {
		all, _ := filepath.Glob(filepath.Join(spool, "*", "*"))
		t.Errorf("no results kept in the spool: %v (stderr %q)", all, stderr)
	}
}
