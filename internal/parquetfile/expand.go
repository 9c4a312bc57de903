package parquetfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/shadowctl/shadowctl/internal/bucket"
	"github.com/shadowctl/shadowctl/internal/wal"
)

// ErrNoFiles is wrapped by the errors of arguments that name no file: a
// missing path, or a pattern that matches nothing.
var ErrNoFiles = errors.New("no such file")

// Expanded is the outcome of Expand: the files to read, and the in-progress
// files that were passed over (callers warn about those).
type Expanded struct {
	Files   []string
	Partial []string
	// Logs are the write-ahead logs found beside them (a folder's, or a
	// pattern's matches): a writer that did not stop cleanly left them,
	// and its next start turns them into files. They are never read.
	Logs []string
}

// logSuffix ends the write-ahead log of a file.
const logSuffix = Ext + WALSuffix

// Missing says, for arguments that gave no file to read, what was there
// instead: in-progress files, or logs a crash left; "" when nothing.
func (e Expanded) Missing() string {
	var parts []string
	if n := len(e.Partial); n > 0 {
		parts = append(parts, fmt.Sprintf("%d in progress (%s), finalized at rotation or when the writer stops", n, strings.Join(e.Partial, ", ")))
	}
	if n := len(e.Logs); n > 0 {
		parts = append(parts, fmt.Sprintf("%d write-ahead log(s) a writer left when it did not stop cleanly (%s): starting it again on that folder recovers them", n, strings.Join(e.Logs, ", ")))
	}
	return strings.Join(parts, "; ")
}

// Expand turns arguments that are files, folders or glob patterns into a
// sorted, de-duplicated list of files. A folder contributes every *.parquet
// below it. In-progress files (PartialSuffix) are never read, only listed.
// An argument that matches nothing is an error: a typo must not read as an
// empty recording, and one meant as a URL of a scheme bucket does not
// support wraps bucket.ErrScheme too.
//
// An argument that exists is taken as it is written, even when its name holds
// glob characters (a folder named "g[1]" or "br["): only an argument that
// names nothing is a pattern.
func Expand(args []string) (Expanded, error) {
	var out Expanded
	seen := map[string]bool{}
	addAs := func(path string, partial bool) {
		if seen[path] {
			return
		}
		seen[path] = true
		if partial {
			out.Partial = append(out.Partial, path)
			return
		}
		out.Files = append(out.Files, path)
	}
	add := func(path string) { addAs(path, strings.HasSuffix(path, PartialSuffix)) }
	// found is a file a folder or a pattern turned up, not one named: only
	// Parquet files (and in-progress ones) are read; logs are noted.
	found := func(path string) {
		switch {
		case strings.HasSuffix(path, Ext) || strings.HasSuffix(path, Ext+PartialSuffix):
			add(path)
		case strings.HasSuffix(path, logSuffix) && !seen[path]:
			seen[path] = true
			if live, err := wal.InUse(path); err == nil && !live { // a live writer's log goes with its partial file
				out.Logs = append(out.Logs, path)
			}
		}
	}
	for _, arg := range args {
		if bucket.IsURL(arg) {
			if err := expandBucket(arg, addAs); err != nil {
				return Expanded{}, err
			}
			continue
		}
		_, lstatErr := os.Lstat(arg)
		if lstatErr != nil {
			// gcs://, S3:// or ftp:// read as a path would say only
			// "no such file", and the user would look for the file.
			if err := bucket.CheckScheme(arg); err != nil {
				return Expanded{}, &schemeError{err}
			}
		}
		matches, pattern := []string{arg}, false
		if lstatErr != nil && hasMeta(arg) {
			pattern = true
			m, err := match(arg)
			if err != nil {
				return Expanded{}, fmt.Errorf("pattern %q: %w", arg, err)
			}
			if len(m) == 0 {
				return Expanded{}, fmt.Errorf("pattern %q: %w", arg, ErrNoFiles)
			}
			matches = m
		}
		for _, path := range matches {
			info, err := os.Stat(path)
			if errors.Is(err, fs.ErrNotExist) {
				return Expanded{}, fmt.Errorf("open %s: %w", path, ErrNoFiles)
			}
			if err != nil {
				return Expanded{}, fmt.Errorf("open %s: %w", path, err)
			}
			if !info.IsDir() {
				if pattern {
					found(path)
				} else {
					add(path)
				}
				continue
			}
			err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.IsDir() {
					return nil
				}
				found(p)
				return nil
			})
			if err != nil {
				return Expanded{}, fmt.Errorf("read folder %s: %w", path, err)
			}
		}
	}
	sort.Strings(out.Files)
	sort.Strings(out.Partial)
	sort.Strings(out.Logs)
	return out, nil
}

// schemeError is an argument meant as a URL of a scheme that is not
// supported: it names no file (ErrNoFiles) and says why (bucket.ErrScheme).
type schemeError struct{ err error }

func (e *schemeError) Error() string   { return e.err.Error() }
func (e *schemeError) Unwrap() []error { return []error{e.err, ErrNoFiles} }

// match expands the pattern arg. When the folder part exists as written, its
// entries are listed and only the last element is a pattern, so a folder
// whose name holds glob characters ("g[1]/*.parquet") is searched, not
// matched; otherwise every element is a pattern (filepath.Glob).
func match(arg string) ([]string, error) {
	dir, pattern := filepath.Split(arg)
	if dir == "" || !hasMeta(dir) {
		return filepath.Glob(arg)
	}
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return filepath.Glob(arg)
	}
	return matchDir(filepath.Clean(dir), pattern)
}

// matchDir lists the entries of dir whose names match pattern
// (filepath.Match syntax), sorted. Unlike filepath.Glob on a joined path, the
// folder's own name is never read as a pattern, so it may hold '[', '*' or
// '?'.
func matchDir(dir, pattern string) ([]string, error) {
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if ok, _ := filepath.Match(pattern, e.Name()); ok {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out, nil
}

func hasMeta(path string) bool {
	return strings.ContainsAny(path, `*?[`)
}
