package bucket

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2/google"
)

// Without credentials a gs:// bucket fails at once with ErrNoCredentials
// and what to do, before gocloud prints anything; URLs and settings that
// need no credentials are not asked for them.
func TestGCSWithoutCredentials(t *testing.T) {
	asked := 0
	old := findCredentials
	findCredentials = func(context.Context, google.CredentialsParams) error {
		asked++
		return errors.New("google: could not find default credentials")
	}
	defer func() { findCredentials = old }()
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	t.Setenv("STORAGE_EMULATOR_HOST_GRPC", "")

	loc, err := Parse("gs://bkt/rec/", ".parquet")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), loc)
	if !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), "GOOGLE_APPLICATION_CREDENTIALS") ||
		!strings.Contains(err.Error(), "?anonymous=true") {
		t.Errorf("Open: %v", err)
	}
	if asked != 1 {
		t.Errorf("credentials looked up %d times, want 1", asked)
	}

	asked = 0
	for _, u := range []string{"gs://bkt?anonymous=true", "gs://bkt?access_id=-", "s3://bkt?region=x", "file:///tmp"} {
		if err := checkGCSCredentials(context.Background(), u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	t.Setenv("STORAGE_EMULATOR_HOST", "127.0.0.1:1")
	if err := checkGCSCredentials(context.Background(), "gs://bkt"); err != nil {
		t.Errorf("with an emulator: %v", err)
	}
	if asked != 0 {
		t.Errorf("credentials looked up %d times for URLs that need none", asked)
	}
}

// A gs:// URL that asks for no credentials opens without looking for them:
// gocloud's opener would, and print a warning on standard output (where
// `report --format json` writes) when there are none.
func TestGCSAnonymousPrintsNothing(t *testing.T) {
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(t.TempDir(), "none.json"))
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	t.Setenv("STORAGE_EMULATOR_HOST_GRPC", "")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	defer func() { os.Stdout = stdout }()
	for _, u := range []string{"gs://anon-bkt-1/rec/?anonymous=true", "gs://anon-bkt-2/rec/?access_id=-"} {
		loc, err := Parse(u, ".parquet")
		if err != nil {
			t.Fatal(err)
		}
		// Opening makes no request: no network is needed.
		if _, err := Open(context.Background(), loc); err != nil {
			t.Errorf("Open %s: %v", u, err)
		}
	}
	os.Stdout = stdout
	w.Close()
	out, _ := io.ReadAll(r)
	if len(out) > 0 {
		t.Errorf("opening anonymous gs:// buckets printed on standard output: %q", out)
	}
}
