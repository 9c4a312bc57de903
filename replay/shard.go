// Sharded replay: N workers split one recording with no coordinator, each
// replaying the exchanges whose id hashes to its shard.

package replay

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/shadowctl/shadowctl/internal/keyhash"
)

// Shard is one of Count shards, numbered from 0 (Kubernetes numbers the Pods
// of an Indexed Job the same way). The zero value is the whole recording.
type Shard struct {
	Index, Count int
}

// IndexEnv is the variable a Kubernetes Indexed Job sets to each Pod's
// completion index, which ParseShard reads for "auto/N".
const IndexEnv = "JOB_COMPLETION_INDEX"

// ErrShard is wrapped by ParseShard's errors.
var ErrShard = errors.New("want K/N with 0 <= K < N (K may be auto or $" + IndexEnv + ")")

// ParseShard reads "K/N", where K is a number, "auto", "$JOB_COMPLETION_INDEX"
// or "${JOB_COMPLETION_INDEX}"; the last three take K from lookup (os.Getenv,
// in a command) of IndexEnv. An empty string is the whole recording.
func ParseShard(s string, lookup func(string) string) (Shard, error) {
	if s == "" {
		return Shard{}, nil
	}
	k, n, ok := strings.Cut(s, "/")
	if !ok {
		return Shard{}, fmt.Errorf("%q: %w", s, ErrShard)
	}
	count, err := strconv.Atoi(n)
	if err != nil || count < 1 {
		return Shard{}, fmt.Errorf("%q: %w", s, ErrShard)
	}
	switch k {
	case "auto", "$" + IndexEnv, "${" + IndexEnv + "}":
		v := lookup(IndexEnv)
		if v == "" {
			return Shard{}, fmt.Errorf("%q: %s is not set (it is set in the Pods of a Kubernetes Indexed Job)", s, IndexEnv)
		}
		index, err := strconv.Atoi(v)
		switch {
		case err != nil || index < 0:
			return Shard{}, fmt.Errorf("%q: %s=%q: want a shard number from 0 to %d", s, IndexEnv, v, count-1)
		case index >= count:
			return Shard{}, fmt.Errorf("%q: %s=%q is not below %d, the shard count: the Job's completions "+
				"and the N of K/N must be the same", s, IndexEnv, v, count)
		}
		return Shard{Index: index, Count: count}, nil
	}
	index, err := strconv.Atoi(k)
	if err != nil || index < 0 || index >= count {
		return Shard{}, fmt.Errorf("%q: %w", s, ErrShard)
	}
	return Shard{Index: index, Count: count}, nil
}

// All reports whether the shard is the whole recording.
func (s Shard) All() bool { return s.Count <= 1 }

// Has reports whether the exchange id falls in the shard. It depends on the
// id alone, so the same exchange lands in the same shard in every run, on
// every machine and in every version: the shard of an id is
// mix(fnv1a64(id)) mod Count, mix being splitmix64's finalizer (it spreads
// FNV's low bits, which alone decide a modulus by a power of two).
func (s Shard) Has(id string) bool {
	if s.All() {
		return true
	}
	return ShardOf(id, s.Count) == s.Index
}

// ShardOf is the shard, among count, of the exchange id.
func ShardOf(id string, count int) int {
	return int(keyhash.Sum64(id) % uint64(count))
}

// String is "K/N", or "" for the whole recording.
func (s Shard) String() string {
	if s.All() {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Name is the results file name of the shard, from the name given for the
// whole run: the shard is inserted before the extension, "results.parquet"
// becoming "results-00003-of-00010.parquet", so the shards of one run sort
// together and runs split differently never share a file. A name ending in
// "/" is a folder (or a bucket prefix): the file is "results-…" inside it.
// Any shard given is named, 0/1 too ("results-00000-of-00001.parquet"), as
// --shard promises; only the zero Shard (none given) keeps name.
func (s Shard) Name(name string) string {
	if s.Count == 0 {
		return name
	}
	tag := fmt.Sprintf("-%05d-of-%05d", s.Index, s.Count)
	base, query := name, ""
	if strings.Contains(name, "://") {
		// A bucket URL's query (s3://b/r.parquet?region=x) stays at the end.
		if i := strings.IndexByte(name, '?'); i >= 0 {
			base, query = name[:i], name[i:]
		}
	}
	if strings.HasSuffix(base, "/") {
		return base + "results" + tag + ".parquet" + query
	}
	ext := path.Ext(base)
	return strings.TrimSuffix(base, ext) + tag + ext + query
}

// share is the part of total one shard expects: the ids hash evenly, so a
// progress bar's total is close, and only a bar's.
func (s Shard) share(total int64) int64 {
	if s.All() {
		return total
	}
	return (total + int64(s.Count) - 1) / int64(s.Count)
}
