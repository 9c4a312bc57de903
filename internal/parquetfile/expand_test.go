package parquetfile

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shadowctl/shadowctl/internal/bucket"
	"github.com/shadowctl/shadowctl/internal/wal"
)

// A folder or file that exists is read as named, even when its name holds
// glob characters; only a name that does not exist is a pattern, and then
// only its last element when its folder exists as written.
func TestExpandTakesExistingNamesWithGlobCharactersAsWritten(t *testing.T) {
	root := t.TempDir()
	mk := func(rel string) string {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	g1 := mk("g[1]/a.parquet")
	g1b := mk("g[1]/b.parquet")
	mk("g[1]/c.parquet.partial")
	other := mk("g1/other.parquet") // what the pattern g[1] would match
	br := mk("br[/a.parquet")
	star := mk("a*b/x.parquet")
	mk("axb/wrong.parquet")
	lit := mk("files/rec-[1].parquet")
	mk("files/rec-1.parquet")

	for _, tc := range []struct {
		name    string
		arg     string
		want    []string
		partial int
	}{
		{"folder named g[1]", filepath.Join(root, "g[1]"), []string{g1, g1b}, 1},
		{"pattern inside g[1]", filepath.Join(root, "g[1]", "*.parquet"), []string{g1, g1b}, 0},
		{"file inside g[1]", g1, []string{g1}, 0},
		{"folder named br[", filepath.Join(root, "br["), []string{br}, 0},
		{"pattern inside br[", filepath.Join(root, "br[", "*.parquet"), []string{br}, 0},
		{"folder named a*b", filepath.Join(root, "a*b"), []string{star}, 0},
		{"file named rec-[1].parquet", lit, []string{lit}, 0},
		{"a pattern over folders still globs", filepath.Join(root, "g?", "*.parquet"), []string{other}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex, err := Expand([]string{tc.arg})
			if err != nil {
				t.Fatalf("Expand(%q): %v", tc.arg, err)
			}
			if !slices.Equal(ex.Files, tc.want) || len(ex.Partial) != tc.partial {
				t.Errorf("Expand(%q) = %q, partial %q; want %q and %d partial", tc.arg, ex.Files, ex.Partial, tc.want, tc.partial)
			}
		})
	}

	for _, tc := range []struct {
		arg  string
		want string
	}{
		{filepath.Join(root, "missing["), "syntax error in pattern"},
		{filepath.Join(root, "g[1]", "*.csv"), "no such file"},
	} {
		_, err := Expand([]string{tc.arg})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.arg) {
			t.Errorf("Expand(%q) = %v, want an error naming it with %q", tc.arg, err, tc.want)
		}
		if tc.want == "no such file" && !errors.Is(err, ErrNoFiles) {
			t.Errorf("Expand(%q) = %v, want ErrNoFiles", tc.arg, err)
		}
	}
}

// A pattern and a folder give only Parquet files to read: a pattern like
// rec/* matched a recorder's write-ahead log, which was then opened as
// Parquet and failed. Logs a crash left are listed (Logs), a live writer's
// are not, and Missing says what there was instead of files.
func TestExpandListsLogsAndReadsOnlyParquet(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.parquet", "b.parquet.partial", "b.parquet.wal", "c.parquet.wal", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	live, err := wal.Create(filepath.Join(dir, "d.parquet.wal")) // held, as a running writer holds its log
	if err != nil {
		t.Fatal(err)
	}
	defer live.Remove()
	for _, arg := range []string{dir, filepath.Join(dir, "*")} {
		ex, err := Expand([]string{arg})
		if err != nil {
			t.Fatal(err)
		}
		j := func(paths []string) string {
			var names []string
			for _, p := range paths {
				names = append(names, filepath.Base(p))
			}
			return strings.Join(names, " ")
		}
		if j(ex.Files) != "a.parquet" || j(ex.Partial) != "b.parquet.partial" || j(ex.Logs) != "b.parquet.wal c.parquet.wal" {
			t.Errorf("%s: files %q, partial %q, logs %q", arg, j(ex.Files), j(ex.Partial), j(ex.Logs))
		}
		if m := ex.Missing(); !strings.Contains(m, "1 in progress (") || !strings.Contains(m, "2 write-ahead log(s)") {
			t.Errorf("%s: Missing() = %q", arg, m)
		}
	}
	// A file named is taken as it is, whatever its name.
	if ex, err := Expand([]string{filepath.Join(dir, "notes.txt")}); err != nil || len(ex.Files) != 1 {
		t.Errorf("a named file: %+v, %v", ex, err)
	}
}

// An argument meant as a URL of a scheme bucket does not support says so,
// naming no file; one that exists locally under such a name is read.
func TestExpandRefusesUnsupportedSchemes(t *testing.T) {
	for _, arg := range []string{"ftp://bkt/rec/", "gcs://bkt/rec/", "S3://bkt/rec/"} {
		_, err := Expand([]string{arg})
		if !errors.Is(err, bucket.ErrScheme) || !errors.Is(err, ErrNoFiles) || !strings.HasPrefix(err.Error(), arg+": unsupported URL scheme") {
			t.Errorf("Expand(%q) = %v, want an unsupported scheme, wrapping ErrScheme and ErrNoFiles", arg, err)
		}
	}
	t.Chdir(t.TempDir())
	if err := os.MkdirAll("ftp:/bkt", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("ftp:/bkt/a.parquet", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := Expand([]string{"ftp:/bkt"}); err != nil || len(got.Files) != 1 {
		t.Errorf("Expand of an existing folder ftp:/bkt = %+v, %v; want its file", got, err)
	}
}
