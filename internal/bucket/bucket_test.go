package bucket_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shadowctl/shadowctl/internal/bucket"
	"github.com/shadowctl/shadowctl/internal/s3test"
)

func TestParse(t *testing.T) {
	q := "?endpoint=http://127.0.0.1:7070&region=us-east-1&use_path_style=true"
	for _, tc := range []struct {
		raw, bucket, key string
		object           bool
	}{
		{"s3://bkt/rec" + q, "s3://bkt" + q, "rec/", false},
		{"s3://bkt/rec/" + q, "s3://bkt" + q, "rec/", false},
		{"s3://bkt" + q, "s3://bkt" + q, "", false},
		{"s3://bkt/rec/a.parquet" + q, "s3://bkt" + q, "rec/a.parquet", true},
		{"gs://bkt/a/b", "gs://bkt", "a/b/", false},
		{"azblob://ctr/x.parquet?storage_account=acct", "azblob://ctr?storage_account=acct", "x.parquet", true},
		{"file:///data/rec", "file:///data/rec", "", false},
		{"file:///data/rec/a.parquet", "file:///data/rec", "a.parquet", true},
	} {
		loc, err := bucket.Parse(tc.raw, ".parquet")
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.raw, err)
			continue
		}
		if loc.Bucket != tc.bucket || loc.Key != tc.key || loc.IsObject() != tc.object {
			t.Errorf("Parse(%q) = bucket %q key %q object %v; want %q %q %v", tc.raw, loc.Bucket, loc.Key, loc.IsObject(),
				tc.bucket, tc.key, tc.object)
		}
	}
	for _, raw := range []string{"s3://", "s3:///x", "s3://key:secret@bkt/x", "file://host/x", "/local/path", "http://x/y"} {
		if _, err := bucket.Parse(raw, ".parquet"); err == nil {
			t.Errorf("Parse(%q) accepted", raw)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("Parse(%q): the error shows the secret: %v", raw, err)
		}
	}
	loc, _ := bucket.Parse("s3://bkt/rec"+q, ".parquet")
	if got, want := loc.Object("rec/a.parquet"), "s3://bkt/rec/a.parquet"+q; got != want {
		t.Errorf("Object = %q, want %q", got, want)
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"s3://bkt/p?endpoint=http://127.0.0.1:7070&region=us-east-1&use_path_style=true",
			"s3://bkt/p?endpoint=http://127.0.0.1:7070&region=us-east-1&use_path_style=true"},
		{"s3://bkt/p?region=eu-west-1&secret_access_key=AKIASECRET", "s3://bkt/p?region=eu-west-1&secret_access_key=REDACTED"},
		{"s3://bkt/p?endpoint=http://u:pw@127.0.0.1:7070", "s3://bkt/p?endpoint=http://127.0.0.1:7070"},
		{"azblob://ctr/p?sig=abc&sv=2020", "azblob://ctr/p?sig=REDACTED&sv=REDACTED"},
		{"s3://user:pass@bkt/p", "s3://bkt/p"},
		{"/local/file.parquet", "/local/file.parquet"},
	} {
		if got := bucket.Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// roundTrip uploads, lists, reads by ranges and downloads through the
// bucket at base, a prefix URL.
func roundTrip(t *testing.T, base func(prefix string) string) {
	ctx := context.Background()
	dir := t.TempDir()
	data := bytes.Repeat([]byte("0123456789"), 100_000) // 1 MB
	src := filepath.Join(dir, "a.parquet")
	os.WriteFile(src, data, 0o600)
	for _, name := range []string{"a.parquet", "b.parquet"} {
		loc, err := bucket.Parse(base("run/"+name), ".parquet")
		if err != nil {
			t.Fatal(err)
		}
		if err := bucket.Upload(ctx, src, loc); err != nil {
			t.Fatal(err)
		}
	}
	// A sibling prefix that shares the first letters is not listed.
	other, _ := bucket.Parse(base("run2/c.parquet"), ".parquet")
	if err := bucket.Upload(ctx, src, other); err != nil {
		t.Fatal(err)
	}
	prefix, _ := bucket.Parse(base("run"), ".parquet")
	entries, err := bucket.List(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range entries {
		keys = append(keys, e.Key)
		if e.Size != int64(len(data)) {
			t.Errorf("%s: size %d, want %d", e.Key, e.Size, len(data))
		}
	}
	// file:// keys are relative to the folder, s3:// keys to the bucket.
	if got := strings.Join(keys, " "); got != "a.parquet b.parquet" && got != "run/a.parquet run/b.parquet" {
		t.Errorf("listed %q, want the 2 objects of run/ only", got)
	}

	loc, _ := bucket.Parse(base("run/a.parquet"), ".parquet")
	o, err := bucket.OpenObject(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	if o.Size() != int64(len(data)) {
		t.Fatalf("size %d", o.Size())
	}
	for _, r := range []struct{ off, n int64 }{{0, 10}, {123_457, 4096}, {int64(len(data)) - 8, 8}} {
		p := make([]byte, r.n)
		if n, err := o.ReadAt(p, r.off); err != nil || int64(n) != r.n || !bytes.Equal(p, data[r.off:r.off+r.n]) {
			t.Errorf("ReadAt(%d, %d) = %d, %v, %q", r.off, r.n, n, err, p)
		}
	}
	p := make([]byte, 16)
	if n, err := o.ReadAt(p, int64(len(data))-4); n != 4 || !errors.Is(err, io.EOF) {
		t.Errorf("ReadAt past the end = %d, %v; want 4, io.EOF", n, err)
	}

	dst := filepath.Join(dir, "down.parquet")
	if err := bucket.Download(ctx, loc, dst); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
		t.Errorf("downloaded %d bytes, not the object", len(got))
	}
	missing, _ := bucket.Parse(base("run/none.parquet"), ".parquet")
	if err := bucket.Download(ctx, missing, filepath.Join(dir, "none")); !errors.Is(err, bucket.ErrNotFound) {
		t.Errorf("download of a missing object: %v, want ErrNotFound", err)
	}
	if ok, err := bucket.Exists(ctx, missing); ok || err != nil {
		t.Errorf("Exists(missing) = %v, %v", ok, err)
	}
	if ok, err := bucket.Exists(ctx, loc); !ok || err != nil {
		t.Errorf("Exists(a) = %v, %v", ok, err)
	}
}

func TestFileBucket(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "run"), 0o700)
	os.MkdirAll(filepath.Join(root, "run2"), 0o700)
	roundTrip(t, func(p string) string {
		// file:// roots the bucket at the folder: the prefix's folder.
		return "file://" + filepath.ToSlash(filepath.Join(root, p))
	})
}

func TestS3Bucket(t *testing.T) {
	s := s3test.Start(t)
	s.Bucket(t, "bkt", "")
	roundTrip(t, func(p string) string { return s.URL("bkt", p) })
}

// TestLocationID: one destination has one ID however its query is ordered
// and however its prefix ends; another bucket, prefix, key or parameter
// value has another; the ID is a short hex name with nothing of the URL in
// it.
func TestLocationID(t *testing.T) {
	id := func(raw string) string {
		t.Helper()
		loc, err := bucket.Parse(raw, ".parquet")
		if err != nil {
			t.Fatal(err)
		}
		return loc.ID()
	}
	base := id("s3://bkt/rec?endpoint=http://127.0.0.1:7070&region=us-east-1&use_path_style=true")
	for _, same := range []string{
		"s3://bkt/rec/?endpoint=http://127.0.0.1:7070&region=us-east-1&use_path_style=true",
		"s3://bkt/rec?use_path_style=true&region=us-east-1&endpoint=http://127.0.0.1:7070",
		"s3://bkt/rec?region=us-east-1&endpoint=http://127.0.0.1:7070&use_path_style=true",
	} {
		if got := id(same); got != base {
			t.Errorf("ID(%s) = %s, want %s as for the same destination", same, got, base)
		}
	}
	for _, other := range []string{
		"s3://bkt/rec2?endpoint=http://127.0.0.1:7070&region=us-east-1&use_path_style=true",
		"s3://bkt2/rec?endpoint=http://127.0.0.1:7070&region=us-east-1&use_path_style=true",
		"s3://bkt/rec?endpoint=http://127.0.0.1:7071&region=us-east-1&use_path_style=true",
		"s3://bkt/rec/a.parquet?endpoint=http://127.0.0.1:7070&region=us-east-1&use_path_style=true",
		"gs://bkt/rec",
	} {
		if got := id(other); got == base {
			t.Errorf("ID(%s) = %s, the ID of another destination", other, got)
		}
	}
	// A file:// folder however its path is spelled; an object in it too.
	for _, set := range [][]string{
		{"file:///tmp/bk/x", "file:///tmp/bk/x/", "file:///tmp/bk//x", "file:///tmp/bk/./x", "file://localhost/tmp/bk/x"},
		{"file:///tmp/bk/x/r.parquet", "file:///tmp/bk//x/r.parquet", "file:///tmp/bk/x/./r.parquet"},
	} {
		for _, same := range set[1:] {
			if got, want := id(same), id(set[0]); got != want {
				t.Errorf("ID(%s) = %s, want %s as for %s", same, got, want, set[0])
			}
		}
	}
	if id("file:///tmp/bk/x") == id("file:///tmp/bk/y") {
		t.Error("two file:// folders share an ID")
	}
	secret := id("azblob://ctr/rec?storage_account=acct&sas_token=hunter2")
	if len(secret) != 12 || strings.Trim(secret, "0123456789abcdef") != "" {
		t.Errorf("ID %q: want 12 hex digits", secret)
	}
}

// TestOpenErrorsAreRedacted: gocloud's error for a URL it refuses repeats
// the URL as given; what Open returns says what is wrong with the URL
// without the values of its private parameters (a token, a key).
func TestOpenErrorsAreRedacted(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ raw, want string }{
		{"s3://bkt/x?region=us-east-1&token=hunter2-session-token", `unknown query parameter "token"`},
		{"s3://bkt/x?token=hunter2-session-token&region=us-east-1", `unknown query parameter "token"`},
		{"file://" + filepath.ToSlash(dir) + "?secret_key_path=/keys/hunter2-key", "must supply both base_url and secret_key_path"},
		{"file://" + filepath.ToSlash(dir) + "?bogus=hunter2-value", `invalid query parameter "bogus"`},
	} {
		loc, err := bucket.Parse(tc.raw, "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = bucket.Open(context.Background(), loc)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%s): %v; want an error saying %q without the secret", tc.raw, err, tc.want)
		}
		if err != nil && strings.Count(err.Error(), "open bucket") != 1 {
			t.Errorf("Open(%s): %v; want it to say \"open bucket\" once", tc.raw, err)
		}
	}
}
