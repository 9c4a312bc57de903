package shadow

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"

	"github.com/theory/jsonpath"
	"github.com/theory/jsonpath/spec"
	"github.com/tidwall/gjson"

	"github.com/shadowctl/shadowctl/internal/h1"
	"github.com/shadowctl/shadowctl/internal/keyhash"
	"github.com/shadowctl/shadowctl/record"
	"github.com/shadowctl/shadowctl/replay"
)

// Key picks what makes the mirroring choice consistent: the requests of one
// user (a header) or one entity (a request field) are all mirrored or none,
// as GoReplay's hash-consistent sampling does.
type Key struct {
	header string          // canonical header name, or
	path   []spec.Selector // the names and indexes of a JSONPath to one value of the request body
}

// ParseKey parses "header:NAME" or "request:JSONPATH", a path to one value
// (names and indexes: $.user.id, $.users[0]['id']).
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
		// One value, by names and indexes only: it is found by scanning
		// the body, on the request's path, with no decoding of the rest
		// (decoding a 64 KiB body to pick a field took a millisecond).
		sq := p.Query().Singular()
		if sq == nil {
			return nil, fmt.Errorf("key %q: want a path to one value, by names and indexes only (such as $.user.id)", s)
		}
		var sels []spec.Selector
		for _, seg := range p.Query().Segments() {
			sels = append(sels, seg.Selectors()...)
		}
		return &Key{path: sels}, nil
	}
	return nil, errors.New("key " + s + ": want header:NAME or request:JSONPATH")
}

// value is the key of r: the header's first value, or the compact JSON of
// the value the path leads to, as a one-element list; false when there is
// none.
func (k *Key) value(r *record.MirrorRequest) (string, bool) {
	if k.header == "Host" {
		return r.Host, r.Host != "" // the request's authority, not among its header fields
	}
	if k.header != "" {
		v := r.Get(k.header)
		return v, v != ""
	}
	cur := gjson.ParseBytes(r.Body)
	for _, sel := range k.path {
		switch sel := sel.(type) {
		case spec.Name:
			cur = member(cur, string(sel))
		case spec.Index:
			cur = element(cur, int(sel))
		default:
			return "", false
		}
		if !cur.Exists() {
			return "", false
		}
	}
	// Only the value is decoded, and written again in one spelling:
	// "u1" and "\u0075\u0031" are one key, and spaces do not count;
	// numbers stay as written (7 and 7.0 are two keys).
	var v any
	d := json.NewDecoder(strings.NewReader(cur.Raw))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return "", false
	}
	b, err := json.Marshal([]any{v})
	if err != nil {
		return "", false
	}
	return string(b), true
}

// member is the value of an object's member name (the last of the same
// name, as decoding keeps it), or none.
func member(obj gjson.Result, name string) gjson.Result {
	var got gjson.Result
	if !obj.IsObject() {
		return got
	}
	obj.ForEach(func(key, value gjson.Result) bool {
		if key.Str == name {
			got = value
		}
		return true
	})
	return got
}

// element is an array's element i (from the end when negative), or none.
func element(arr gjson.Result, i int) gjson.Result {
	var got gjson.Result
	if !arr.IsArray() {
		return got
	}
	if i < 0 {
		n := 0
		arr.ForEach(func(_, _ gjson.Result) bool { n++; return true })
		if i += n; i < 0 {
			return got
		}
	}
	j := 0
	arr.ForEach(func(_, value gjson.Result) bool {
		if j == i {
			got = value
			return false
		}
		j++
		return true
	})
	return got
}

// fraction maps r's key to [0, 1): the same key, the same place, so a
// request is mirrored when its key's place is below the sample fraction.
// A request without the key gets a random place: mirrored at the sample
// fraction, not all or none (keyless requests, anonymous users say, would
// otherwise share one place).
func (k *Key) fraction(r *record.MirrorRequest) float64 {
	v, ok := k.value(r)
	if !ok {
		return rand.Float64()
	}
	// Deterministic, so every replica of the recorder makes the same
	// choice for a key.
	return float64(keyhash.Sum64(v)>>11) / (1 << 53)
}
