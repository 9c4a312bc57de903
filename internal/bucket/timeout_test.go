package bucket

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/s3test"
)

// An S3 endpoint that accepts connections and never answers fails a
// listing, an open, an existence check, an upload and a download with
// ErrTimeout, instead of hanging them.
func TestSilentEndpointTimesOut(t *testing.T) {
	addr, _ := s3test.Silent(t)
	old := RequestTimeout
	RequestTimeout = 300 * time.Millisecond
	defer func() { RequestTimeout = old }()
	base := "s3://silent-bucket/rec?endpoint=http://" + addr + "&region=us-east-1&use_path_style=true"
	obj := "s3://silent-bucket/rec/b.parquet?endpoint=http://" + addr + "&region=us-east-1&use_path_style=true"
	dir := t.TempDir()
	file := filepath.Join(dir, "up.parquet")
	if err := os.WriteFile(file, []byte("PAR1 not much PAR1"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.parquet")
	if err := os.WriteFile(big, make([]byte, 12<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		do   func() error
	}{
		{"list", func() error {
			loc, err := Parse(base, ".parquet")
			if err != nil {
				return err
			}
			_, err = List(context.Background(), loc)
			return err
		}},
		{"open", func() error {
			loc, err := Parse("s3://silent-bucket/rec/a.parquet?endpoint=http://"+addr+"&region=us-east-1&use_path_style=true", ".parquet")
			if err != nil {
				return err
			}
			_, err = OpenObject(context.Background(), loc)
			return err
		}},
		{"exists", func() error {
			loc, err := Parse(obj, ".parquet")
			if err != nil {
				return err
			}
			_, err = Exists(context.Background(), loc)
			return err
		}},
		{"upload", func() error {
			loc, err := Parse(obj, ".parquet")
			if err != nil {
				return err
			}
			return Upload(context.Background(), file, loc)
		}},
		{"upload in parts", func() error {
			// Past one part: the writer blocks in the middle of the copy.
			loc, err := Parse(obj, ".parquet")
			if err != nil {
				return err
			}
			return Upload(context.Background(), big, loc)
		}},
		{"ship", func() error {
			// The recorder's uploads: the file stays for the next try.
			loc, err := Parse(base, ".parquet")
			if err != nil {
				return err
			}
			err = NewShipper(ShipperOptions{Dir: dir, Dest: loc, Ext: "up.parquet"}).Flush(context.Background())
			if _, serr := os.Stat(file); serr != nil {
				t.Errorf("ship: the file left the spool: %v", serr)
			}
			return err
		}},
		{"download", func() error {
			loc, err := Parse(obj, ".parquet")
			if err != nil {
				return err
			}
			return Download(context.Background(), loc, filepath.Join(dir, "got.parquet"))
		}},
	} {
		start := time.Now()
		done := make(chan error, 1)
		go func() { done <- c.do() }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrTimeout) {
				t.Errorf("%s: %v, want ErrTimeout", c.name, err)
			}
			t.Logf("%s: %v after %v", c.name, err, time.Since(start))
		case <-time.After(30 * time.Second):
			t.Errorf("%s: still waiting after 30 s", c.name)
		}
	}
}

// An upload that is slow but moving is not taken for a dead one: the
// provider's writer holds parts in flight and reads no more of the file
// until one completes, and its commit comes after the last read, so an
// upload may go longer than RequestTimeout without a read.
func TestSlowUploadIsNotAStall(t *testing.T) {
	old := RequestTimeout
	RequestTimeout = 200 * time.Millisecond
	defer func() { RequestTimeout = old }()
	var puts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		puts.Add(1)
		time.Sleep(3 * RequestTimeout) // a slow link: the part takes a while
		io.Copy(io.Discard, r.Body)
		w.Header().Set("ETag", `"e"`)
	}))
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	file := filepath.Join(t.TempDir(), "up.parquet")
	if err := os.WriteFile(file, []byte("PAR1 a small file PAR1"), 0o600); err != nil {
		t.Fatal(err)
	}
	loc, err := Parse("s3://slow/rec/up.parquet?endpoint="+srv.URL+"&region=us-east-1&use_path_style=true", ".parquet")
	if err != nil {
		t.Fatal(err)
	}
	if err := Upload(context.Background(), file, loc); err != nil {
		t.Errorf("a slow upload (%d requests): %v", puts.Load(), err)
	}
}
