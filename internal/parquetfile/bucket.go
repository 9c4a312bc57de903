package parquetfile

import (
	"context"
	"fmt"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/shadowctl/shadowctl/internal/bucket"
)

// objectReadBuffer is the read-ahead of each column of a file in a bucket:
// every read of an object is a ranged GET, so parquet-go's 4 KiB default
// would make a request per 4 KiB of each column.
const objectReadBuffer = 1 << 20

// expandBucket lists the objects under a bucket URL (or the one object it
// names) whose keys end in Ext or Ext+PartialSuffix, and adds each as an
// object URL that Open takes. Only keys and sizes are fetched.
func expandBucket(arg string, add func(url string, partial bool)) error {
	loc, err := bucket.Parse(arg, Ext)
	if err != nil {
		return err
	}
	entries, err := bucket.List(context.Background(), loc)
	if err != nil {
		return err
	}
	n := 0
	for _, e := range entries {
		partial := strings.HasSuffix(e.Key, Ext+PartialSuffix)
		if partial || strings.HasSuffix(e.Key, Ext) {
			add(loc.Object(e.Key), partial)
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("%s: %w (no %s objects)", loc, ErrNoFiles, Ext)
	}
	return nil
}

// openObject opens an object of a bucket as openAt does a file: the footer
// by a ranged read, the rows as they are read.
func openObject[T any](raw string, accept []string) (*Reader[T], error) {
	loc, err := bucket.Parse(raw, Ext)
	if err != nil {
		return nil, err
	}
	o, err := bucket.OpenObject(context.Background(), loc)
	if err != nil {
		return nil, err
	}
	return openAt[T](o, o.Size(), o, o.Name(), accept, parquet.ReadBufferSize(objectReadBuffer))
}
