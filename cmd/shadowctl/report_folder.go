package main

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/shadowctl/shadowctl/internal/bucket"
	"github.com/shadowctl/shadowctl/internal/parquetfile"
	"github.com/shadowctl/shadowctl/replay"
)

// foundInFolder marks the error of a file of the wrong kind that a folder
// among args turned up, so that kindHint speaks of the folder: a results
// folder is read with every *.parquet below it, and the folder of a whole
// run (demo-out/) holds its recordings too. A file named itself, or
// matched by a pattern, keeps the plain hint.
func foundInFolder(err error, args []string) error {
	var se *parquetfile.SchemaError
	if !errors.As(err, &se) {
		return err
	}
	folder := folderOf(se.Path, args)
	if folder == "" {
		return err
	}
	return inFolder{err: err, folder: folder, results: resultsIn(folder)}
}

// folderOf returns the innermost folder among args that path lies below,
// as it was given; "" when path is itself an argument or in none.
func folderOf(path string, args []string) string {
	path = filepath.Clean(path)
	found, depth := "", -1
	for _, arg := range args {
		if bucket.IsURL(arg) {
			continue
		}
		dir := filepath.Clean(arg)
		if dir == path {
			return ""
		}
		if info, err := os.Stat(arg); err != nil || !info.IsDir() {
			continue
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			continue
		}
		if d := strings.Count(dir, string(filepath.Separator)); d > depth {
			found, depth = arg, d
		}
	}
	return found
}

// resultsIn returns the results file below folder nearest to it (the first
// by name among those as near), to show what to give instead; "" when
// there is none. Only footers are read, and only on this error's path.
func resultsIn(folder string) string {
	exp, err := parquetfile.Expand([]string{folder})
	if err != nil {
		return ""
	}
	files := exp.Files // sorted by name
	depth := func(p string) int { return strings.Count(p, string(filepath.Separator)) }
	sort.SliceStable(files, func(i, j int) bool { return depth(files[i]) < depth(files[j]) })
	for _, f := range files {
		if r, err := replay.OpenResults(f); err == nil {
			r.Close()
			return f
		}
	}
	return ""
}
