package shadow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/theory/jsonpath"

	"github.com/shadowctl/shadowctl/internal/h1"
	"github.com/shadowctl/shadowctl/internal/keyhash"
	"github.com/shadowctl/shadowctl/record"
	"github.com/shadowctl/shadowctl/replay"
)

// Key picks what makes the mirroring choice consistent: the requests of one
// user (a header) or one entity (a request field) are all mirrored or none,
// as GoReplay's hash-consistent sampling does.
type Key struct {
	header string         // canonical header name, or
	path   *jsonpath.Path // a JSONPath into the request body
}

// ParseKey parses "header:NAME" or "request:JSONPATH".
func ParseKey(s string) (*Key, error) {
	kind, arg, ok := strings.Cut(s, ":")
	if !ok || arg == "" {
		return nil, fmt.Errorf("key %q: want header:NAME or request:JSONPATH", s)
	}
	switch kind {
	case "header":
		if err := replay.CheckHeader(arg, ""); err != nil {
			return nil, fmt.Errorf("key %q: %w", s, err)
		}
		name := http.CanonicalHeaderKey(arg)
		if h1.IsHopByHop(name) {
			// Never among the end-to-end headers a key is read from: every
			// request would have the empty key, mirrored all or none.
			return nil, fmt.Errorf("key %q: %s is a connection header, not the client's; name an end-to-end header such as X-User-Id", s, name)
		}
		return &Key{header: name}, nil
	case "request":
		p, err := jsonpath.Parse(arg)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", s, err)
		}
		return &Key{path: p}, nil
	}
	return nil, errors.New("key " + s + ": want header:NAME or request:JSONPATH")
}

// value is the key of r: the header's first value, or the compact JSON of
// what the path selects ("" when absent: those requests share one key).
func (k *Key) value(r *record.MirrorRequest) string {
	if k.header == "Host" {
		return r.Host // the request's authority, not among its header fields
	}
	if k.header != "" {
		return r.Get(k.header)
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(r.Body))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return ""
	}
	got := k.path.Select(v)
	if len(got) == 0 {
		return ""
	}
	b, _ := json.Marshal([]any(got))
	return string(b)
}

// fraction maps r's key to [0, 1): the same key, the same place, so a
// request is mirrored when its key's place is below the sample fraction.
func (k *Key) fraction(r *record.MirrorRequest) float64 {
	// Deterministic, so every replica of the recorder makes the same
	// choice for a key.
	return float64(keyhash.Sum64(k.value(r))>>11) / (1 << 53)
}
