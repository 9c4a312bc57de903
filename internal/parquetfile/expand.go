package parquetfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
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
func Expand(args []string) (Expanded, error) {
	var out Expanded
	seen := map[string]bool{}
	add := func(path string) {
		if seen[path] {
			return
		}
		seen[path] = true
		if strings.HasSuffix(path, PartialSuffix) {
			out.Partial = append(out.Partial, path)
			return
		}
		out.Files = append(out.Files, path)
	}
	for _, arg := range args {
		matches := []string{arg}
		if hasMeta(arg) {
			m, err := filepath.Glob(arg)
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

func hasMeta(path string) bool {
	return strings.ContainsAny(path, `*?[`)
}
