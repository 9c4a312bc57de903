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
)

// ErrNoFiles is wrapped by the errors of arguments that name no file: a
// missing path, or a pattern that matches nothing.
var ErrNoFiles = errors.New("no such file")

// Expanded is the outcome of Expand: the files to read, and the in-progress
// files that were passed over (callers warn about those).
type Expanded struct {
	Files   []string
	Partial []string
}

// Expand turns arguments that are files, folders or glob patterns into a
// sorted, de-duplicated list of files. A folder contributes every *.parquet
// below it. In-progress files (PartialSuffix) are never read, only listed.
// An argument that matches nothing is an error: a typo must not read as an
// empty recording.
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
	for _, arg := range args {
		if bucket.IsURL(arg) {
			if err := expandBucket(arg, addAs); err != nil {
				return Expanded{}, err
			}
			continue
		}
		matches := []string{arg}
		if _, err := os.Lstat(arg); err != nil && hasMeta(arg) {
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
				add(path)
				continue
			}
			err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.IsDir() {
					return nil
				}
				if strings.HasSuffix(p, Ext) || strings.HasSuffix(p, Ext+PartialSuffix) {
					add(p)
				}
				return nil
			})
			if err != nil {
				return Expanded{}, fmt.Errorf("read folder %s: %w", path, err)
			}
		}
	}
	sort.Strings(out.Files)
	sort.Strings(out.Partial)
	return out, nil
}

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
