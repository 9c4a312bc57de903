// Package bucket is shadowctl's one seam to object storage: S3 and
// S3-compatible servers, Google Cloud Storage, Azure Blob Storage and local
// folders, all through gocloud.dev/blob and named by URL
// (s3://bucket/prefix?endpoint=…&region=…&use_path_style=true, gs://…,
// azblob://…, file:///abs/path). Credentials come from each provider's
// standard chain (environment, shared config, instance or workload
// identity), never from shadowctl; what is logged of a URL is Redact's.
package bucket

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob" // azblob://
	_ "gocloud.dev/blob/fileblob"  // file://
	_ "gocloud.dev/blob/gcsblob"   // gs://
	_ "gocloud.dev/blob/s3blob"    // s3://
	"gocloud.dev/gcerrors"
)

// Schemes are the URL schemes IsURL accepts.
var Schemes = []string{"s3", "gs", "azblob", "file"}

// ErrNotFound is wrapped by the errors of objects that do not exist.
var ErrNotFound = errors.New("no such object")

// ErrURL is wrapped by Parse's errors: a URL that names no bucket.
var ErrURL = errors.New("bad bucket URL")

// IsURL reports whether s names object storage rather than a local path.
func IsURL(s string) bool {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || rest == "" {
		return false
	}
	for _, x := range Schemes {
		if scheme == x {
			return true
		}
	}
	return false
}

// Location is a parsed bucket URL: the bucket (scheme, host, query) and a
// key or a prefix within it.
type Location struct {
	// Bucket is what gocloud.dev opens: scheme://host?query.
	Bucket string
	// Key is the path within the bucket, without a leading "/": an object's
	// key, or a prefix ("" or ending in "/").
	Key string
	u   *url.URL
}

// Parse reads a bucket URL. For file:// the whole path is the folder that
// holds the objects, unless it names a file (ends in ext, say ".parquet"),
// whose folder is then the bucket: fileblob needs a folder as its root.
func Parse(raw string, objectExt string) (Location, error) {
	u, err := url.Parse(raw)
	if err != nil || !IsURL(raw) {
		return Location{}, fmt.Errorf("%w %q: want %s", ErrURL, Redact(raw), strings.Join(Schemes, "://…, ")+"://…")
	}
	if u.User != nil {
		return Location{}, fmt.Errorf("%w %q: credentials in a URL are not used: they come from the provider's standard chain (environment, instance or workload identity)", ErrURL, Redact(raw))
	}
	loc := Location{u: u}
	p := u.Path
	if u.Scheme == "file" {
		if u.Host != "" && u.Host != "localhost" {
			return Location{}, fmt.Errorf("%w %q: want file:///absolute/path", ErrURL, Redact(raw))
		}
		// Cleaned: x, x/ and x//. name one folder, so one spool folder
		// (Location.ID) and one opened bucket.
		dir, key := path.Clean(p), ""
		if objectExt != "" && strings.HasSuffix(p, objectExt) {
			dir, key = path.Dir(dir), path.Base(dir)
		}
		b := url.URL{Scheme: "file", Path: dir, RawQuery: u.RawQuery}
		loc.Bucket, loc.Key = b.String(), key
		return loc, nil
	}
	if u.Host == "" {
		return Location{}, fmt.Errorf("%w %q: no bucket name", ErrURL, Redact(raw))
	}
	key := strings.TrimPrefix(p, "/")
	if key != "" && !strings.HasSuffix(key, "/") && (objectExt == "" || !strings.HasSuffix(key, objectExt)) {
		key += "/" // a prefix is a folder: rec must not list rec2/…
	}
	b := url.URL{Scheme: u.Scheme, Host: u.Host, RawQuery: u.RawQuery}
	loc.Bucket, loc.Key = b.String(), key
	return loc, nil
}

// IsObject reports whether the location names one object, not a prefix.
func (l Location) IsObject() bool { return l.Key != "" && !strings.HasSuffix(l.Key, "/") }

// Object is the URL of the object key in the same bucket, with the same
// query, so that it can be opened on its own.
func (l Location) Object(key string) string {
	if l.u.Scheme == "file" {
		b, _ := url.Parse(l.Bucket)
		b.Path = path.Join(b.Path, key)
		return b.String()
	}
	u := *l.u
	u.Path = "/" + key
	u.RawPath = ""
	return u.String()
}

// ID names the location in local file and folder names: a hash of its
// scheme, bucket, key and query, with the query's parameters sorted by name
// (gocloud reads them by name, so their order changes nothing), so that two
// spellings of one URL share it and nothing of the URL, a secret in its
// query least of all, shows in it. A query already in order hashes as the
// raw URL did, so names made before are found again.
func (l Location) ID() string {
	b := l.Bucket
	if base, query, ok := strings.Cut(b, "?"); ok {
		b = base + "?" + sortedQuery(query)
	}
	sum := sha256.Sum256([]byte(b + "\x00" + l.Key))
	return hex.EncodeToString(sum[:6])
}

// sortedQuery is a raw query with its parameters in the order of their
// names, each written as it was; parameters of one name keep their order.
func sortedQuery(raw string) string {
	params := strings.Split(raw, "&")
	name := func(p string) string {
		k, _, _ := strings.Cut(p, "=")
		if u, err := url.QueryUnescape(k); err == nil {
			return u
		}
		return k
	}
	sort.SliceStable(params, func(i, j int) bool { return name(params[i]) < name(params[j]) })
	return strings.Join(params, "&")
}

// String is the location's URL, redacted for logs and messages.
func (l Location) String() string { return Redact(l.u.String()) }

// opened caches one *blob.Bucket per bucket URL for the life of the process:
// opening one builds a provider client (and its credential chain), which
// every object of a listing would otherwise pay again.
var opened struct {
	sync.Mutex
	m map[string]*blob.Bucket
}

// Open returns the bucket of loc, opened once per process.
func Open(ctx context.Context, loc Location) (*blob.Bucket, error) {
	opened.Lock()
	defer opened.Unlock()
	if b := opened.m[loc.Bucket]; b != nil {
		return b, nil
	}
	if err := checkGCSCredentials(ctx, loc.Bucket); err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", Redact(loc.Bucket), err)
	}
	b, anon, err := openGCSAnonymous(ctx, loc.Bucket)
	if !anon {
		b, err = blob.OpenBucket(ctx, loc.Bucket)
	}
	if err != nil {
		// gocloud's error repeats the URL, its query (a token) and all;
		// most begin "open bucket URL:" as ours would.
		err = redactErr(cleanErr(err), loc.Bucket)
		if strings.HasPrefix(err.Error(), "open bucket ") {
			return nil, err
		}
		return nil, fmt.Errorf("open bucket %s: %w", Redact(loc.Bucket), err)
	}
	if opened.m == nil {
		opened.m = map[string]*blob.Bucket{}
	}
	opened.m[loc.Bucket] = b
	return b, nil
}

// Entry is one object of a listing.
type Entry struct {
	Key  string
	Size int64
}

// List returns the objects under loc's prefix (or loc's one object), sorted
// by key. It holds only keys and sizes: the objects are not read.
func List(ctx context.Context, loc Location) ([]Entry, error) {
	b, err := Open(ctx, loc)
	if err != nil {
		return nil, err
	}
	if loc.IsObject() {
		actx, cancel := context.WithTimeout(ctx, RequestTimeout)
		defer cancel()
		a, err := b.Attributes(actx, loc.Key)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", loc, timeoutErr(actx, cleanErr(err)))
		}
		return []Entry{{Key: loc.Key, Size: a.Size}}, nil
	}
	var out []Entry
	it := b.List(&blob.ListOptions{Prefix: loc.Key})
	for {
		nctx, cancel := context.WithTimeout(ctx, RequestTimeout)
		o, err := it.Next(nctx)
		if err != nil && !errors.Is(err, io.EOF) {
			err = timeoutErr(nctx, cleanErr(err))
		}
		cancel()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", loc, err)
		}
		if !o.IsDir {
			out = append(out, Entry{Key: o.Key, Size: o.Size})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// RequestTimeout bounds each request to a bucket (a page of a listing, an
// object's attributes, a ranged read): a server that accepts and never
// answers fails the read instead of hanging it.
var RequestTimeout = 2 * time.Minute

// ErrTimeout is wrapped by the error of a request that got no answer
// within RequestTimeout.
var ErrTimeout = errors.New("no answer from the bucket in time")

// timeoutErr names the request's deadline when it is why err came.
func timeoutErr(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w (%v): %v", ErrTimeout, RequestTimeout, err)
	}
	return err
}

// cleanErr keeps gocloud's error code and the provider's message, and maps
// a missing object to ErrNotFound.
func cleanErr(err error) error {
	if gcerrors.Code(err) == gcerrors.NotFound {
		return fmt.Errorf("%w (%v)", ErrNotFound, err)
	}
	return err
}
