package replay

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func countResults(t *testing.T, path string) int64 {
	t.Helper()
	r, err := OpenResults(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	return r.NumRows()
}

// TestDestinationInABucket: results for a bucket are uploaded whole on
// Close and leave no spool copy; an existing object is refused without
// resume and continued with it; an upload that keeps failing keeps the
// spool copy, which the next resumed run continues and uploads.
func TestDestinationInABucket(t *testing.T) {
	defer func(d time.Duration) { uploadBackoff = d }(uploadBackoff)
	uploadBackoff = time.Millisecond
	ctx := context.Background()
	root, spool := t.TempDir(), t.TempDir()
	obj := filepath.Join(root, "r.parquet")
	url := "file://" + filepath.ToSlash(obj)
	rows := func(ids ...string) []Result {
		var out []Result
		for _, id := range ids {
			out = append(out, Result{ID: id, Method: "POST", Path: "/p"})
		}
		return out
	}
	d, err := CreateDestination(ctx, url, spool, Fresh)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Write(rows("a", "b")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(obj); !os.IsNotExist(err) {
		t.Fatalf("the object exists before Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countResults(t, obj); n != 2 {
		t.Errorf("object has %d rows, want 2", n)
	}
	if m, _ := filepath.Glob(filepath.Join(spool, "*")); len(m) != 0 {
		t.Errorf("spool not empty after the upload: %v", m)
	}

	if _, err := CreateDestination(ctx, url, spool, Fresh); !errors.Is(err, ErrExists) {
		t.Errorf("existing object without resume: %v, want ErrExists", err)
	}
	d, err = CreateDestination(ctx, url, spool, Continue)
	if err != nil {
		t.Fatal(err)
	}
	if d.Done.Len() != 2 || !d.Done.Has("a") {
		t.Errorf("resumed with %d ids done, want a and b", d.Done.Len())
	}
	if err := d.Write(rows("c")); err != nil {
		t.Fatal(err)
	}
	closeWithTheBucketGone(t, d, root)
	if n := countResults(t, d.Local); n != 3 {
		t.Errorf("spool copy has %d rows, want 3 kept", n)
	}
	resumeAndUpload(t, url, spool, 3, obj)
}

// TestDestinationKeepsAnUnuploadedCopy: the local copy of results whose
// upload failed is not removed by a run that starts anew: that run is
// refused with a KeptError naming the copy, which stays whole, and a run
// that resumes it still uploads it.
func TestDestinationKeepsAnUnuploadedCopy(t *testing.T) {
	defer func(d time.Duration) { uploadBackoff = d }(uploadBackoff)
	uploadBackoff = time.Millisecond
	ctx := context.Background()
	root, spool := t.TempDir(), t.TempDir()
	obj := filepath.Join(root, "r.parquet")
	url := "file://" + filepath.ToSlash(obj)
	d, err := CreateDestination(ctx, url, spool, Fresh)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Write([]Result{{ID: "a", Method: "POST", Path: "/p"}, {ID: "b", Method: "POST", Path: "/p"}}); err != nil {
		t.Fatal(err)
	}
	closeWithTheBucketGone(t, d, root)
	kept := d.Local

	_, err = CreateDestination(ctx, url, spool, Fresh)
	var ke *KeptError
	if !errors.As(err, &ke) || ke.Path != kept {
		t.Fatalf("a fresh run over a kept copy: %v, want a KeptError naming %s", err, kept)
	}
	if n := countResults(t, kept); n != 2 {
		t.Errorf("kept copy has %d rows after the refused run, want 2", n)
	}
	if _, err := os.Stat(obj); !os.IsNotExist(err) {
		t.Errorf("the refused run wrote the object: %v", err)
	}
	resumeAndUpload(t, url, spool, 2, obj)
}

// TestDestinationFindsItsKeptCopyWhateverTheQueryOrder: the copy kept after
// a failed upload is found by a run naming the same object with the URL's
// parameters in another order: resumed with resume, refused without.
func TestDestinationFindsItsKeptCopyWhateverTheQueryOrder(t *testing.T) {
	defer func(d time.Duration) { uploadBackoff = d }(uploadBackoff)
	uploadBackoff = time.Millisecond
	ctx := context.Background()
	root, spool := t.TempDir(), t.TempDir()
	obj := "file://" + filepath.ToSlash(filepath.Join(root, "r.parquet"))
	d, err := CreateDestination(ctx, obj+"?create_dir=true&no_tmp_dir=true", spool, Fresh)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Write([]Result{{ID: "a", Method: "POST", Path: "/p"}}); err != nil {
		t.Fatal(err)
	}
	closeWithTheBucketGone(t, d, root)

	reordered := obj + "?no_tmp_dir=true&create_dir=true"
	var ke *KeptError
	if _, err := CreateDestination(ctx, reordered, spool, Fresh); !errors.As(err, &ke) {
		t.Errorf("a fresh run, the query reordered: %v, want a KeptError", err)
	}
	resumeAndUpload(t, reordered, spool, 1, filepath.Join(root, "r.parquet"))
}

// closeWithTheBucketGone closes d with the file bucket's folder root made
// a file, so that every upload fails and the copy is kept, then makes root
// a folder again.
func closeWithTheBucketGone(t *testing.T, d *Destination, root string) {
	t.Helper()
	os.RemoveAll(root) // the object and fileblob's attributes beside it
	os.WriteFile(root, []byte("in the way"), 0o600)
	if err := d.Close(); !errors.Is(err, ErrUpload) {
		t.Fatalf("Close with the bucket gone: %v, want ErrUpload", err)
	}
	os.Remove(root)
	os.MkdirAll(root, 0o700)
}

// resumeAndUpload resumes the results at url, which must find want rows
// done, and closes them: the object at obj then holds those rows.
func resumeAndUpload(t *testing.T, url, spool string, want int64, obj string) {
	t.Helper()
	d, err := CreateDestination(context.Background(), url, spool, Continue)
	if err != nil {
		t.Fatal(err)
	}
	if int64(d.Done.Len()) != want {
		t.Errorf("resumed with %d rows done, want %d", d.Done.Len(), want)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countResults(t, obj); n != want {
		t.Errorf("object has %d rows after the resumed upload, want %d", n, want)
	}
}
