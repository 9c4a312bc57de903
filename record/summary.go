package record

import (
	"context"
	"errors"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxKeys bounds how many distinct values a Summary counts per dimension,
// so a recording with unbounded path cardinality cannot exhaust memory; the
// rest are counted under OtherKey.
const maxKeys = 10000

// OtherKey collects the values past the bound of a count.
const OtherKey = "(other)"

// Summary describes what a set of recordings holds: what `shadowctl
// inspect` shows.
type Summary struct {
	Files     []FileSummary `json:"files"`
	Skipped   []string      `json:"skipped_in_progress"`
	Exchanges int64         `json:"exchanges"`
	// Duplicates are rows not counted in Exchanges: an exchange already
	// read from another file (a recording copied into two folders read).
	Duplicates int64          `json:"duplicates"`
	First      time.Time      `json:"first"`
	Last       time.Time      `json:"last"`
	Methods    []Count        `json:"methods"`
	Paths      []Count        `json:"paths"`
	Statuses   []Count        `json:"statuses"`
	Truncated  TruncatedCount `json:"truncated"`
	Errors     int64          `json:"errors"`
}

// FileSummary is one file's row count.
type FileSummary struct {
	Path string `json:"path"`
	Rows int64  `json:"rows"`
}

// TruncatedCount counts exchanges whose stored body was cut at --max-body.
type TruncatedCount struct {
	Requests  int64 `json:"requests"`
	Responses int64 `json:"responses"`
}

// Count is how many exchanges share a value.
type Count struct {
	Key   string `json:"key"`
	Count int64  `json:"count"`
}

// Summarize reads every exchange of the recordings named by args (files,
// folders, globs) once.
func Summarize(ctx context.Context, args []string) (*Summary, error) {
	files, err := fileRows(args)
	if err != nil {
		return nil, err
	}
	r, err := Open(args)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	s := &Summary{Files: files, Skipped: append([]string{}, r.Skipped()...)} // [] in JSON when none, as documented
	methods, paths, statuses := counter{}, counter{}, counter{}
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		x, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		s.Exchanges++
		if s.First.IsZero() || x.StartedAt.Before(s.First) {
			s.First = x.StartedAt
		}
		if x.StartedAt.After(s.Last) {
			s.Last = x.StartedAt
		}
		methods.add(x.Method)
		p, _, _ := strings.Cut(x.Path, "?")
		paths.add(p)
		statuses.add(strconv.Itoa(int(x.Status)))
		if x.RequestBodyTruncated {
			s.Truncated.Requests++
		}
		if x.ResponseBodyTruncated {
			s.Truncated.Responses++
		}
		if x.Error != "" {
			s.Errors++
		}
	}
	s.Duplicates = r.Duplicates()
	s.Methods, s.Paths, s.Statuses = methods.sorted(), paths.sorted(), statuses.sorted()
	return s, nil
}

func fileRows(args []string) ([]FileSummary, error) {
	r, err := Open(args)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out := make([]FileSummary, 0, len(r.files))
	for _, f := range r.files {
		out = append(out, FileSummary{Path: f.path, Rows: f.rows})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

type counter map[string]int64

func (c counter) add(k string) {
	if _, ok := c[k]; !ok && len(c) >= maxKeys {
		k = OtherKey
	}
	c[k]++
}

// sorted lists the counts, most frequent first, ties by key.
func (c counter) sorted() []Count {
	out := make([]Count, 0, len(c))
	for k, n := range c {
		out = append(out, Count{k, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Key < out[j].Key
	})
	return out
}
