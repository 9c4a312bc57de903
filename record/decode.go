package record

import (
	"fmt"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
)

// columns are the leaf column indexes of Exchange's schema.
type columns struct {
	id, startedAt, method, host, path    int
	reqName, reqValue, reqBody, reqTrunc int
	reqSize, status                      int
	resName, resValue, resBody, resTrunc int
	resSize, latency, err, instance      int
	firstByte, events, eventNs           int
	// listed is the definition level of a list element that is there
	// (below it the list is empty, or the file lacks the column).
	listed int
}

func (c *columns) list(col int) bool {
	return col < len(exchangeLists) && exchangeLists[col]
}

// exchangeLists tells which columns are of list elements.
var exchangeLists = func() []bool {
	c := &exchangeColumns
	l := make([]bool, len(parquet.SchemaOf(new(Exchange)).Columns()))
	for _, col := range []int{c.reqName, c.reqValue, c.resName, c.resValue, c.eventNs} {
		l[col] = true
	}
	return l
}()

var exchangeColumns = func() (c columns) {
	s := parquet.SchemaOf(new(Exchange))
	col := func(path ...string) int {
		leaf, ok := s.Lookup(path...)
		if !ok {
			panic("record: no column " + strings.Join(path, "."))
		}
		return leaf.ColumnIndex
	}
	c.id, c.startedAt, c.method, c.host, c.path = col("id"), col("started_at"), col("method"), col("host"), col("path")
	c.reqName, c.reqValue = col("request_headers", "list", "element", "name"), col("request_headers", "list", "element", "value")
	c.reqBody, c.reqTrunc, c.reqSize, c.status = col("request_body"), col("request_body_truncated"), col("request_body_size"), col("status")
	c.resName, c.resValue = col("response_headers", "list", "element", "name"), col("response_headers", "list", "element", "value")
	c.resBody, c.resTrunc, c.resSize = col("response_body"), col("response_body_truncated"), col("response_body_size")
	c.latency, c.err, c.instance = col("latency_ns"), col("error"), col("instance")
	c.firstByte, c.events, c.eventNs = col("response_first_byte_ns"), col("response_events"), col("response_event_ns", "list", "element")
	c.listed = -1
	for _, p := range [][]string{{"request_headers", "list", "element", "name"}, {"request_headers", "list", "element", "value"},
		{"response_headers", "list", "element", "name"}, {"response_headers", "list", "element", "value"}, {"response_event_ns", "list", "element"}} {
		leaf, _ := s.Lookup(p...)
		if c.listed >= 0 && leaf.MaxDefinitionLevel != c.listed {
			panic("record: list columns of unlike definition levels")
		}
		c.listed = leaf.MaxDefinitionLevel
	}
	return c
}()

// rowDecoder fills Exchanges from rows in Exchange's schema, as parquet-go's
// Reconstruct would (TestDecodeRowIsReconstruct), without its reflection: a
// tenth of replay's CPU went there. A short string equal to the one in the
// same place of the row before (method, host, path, the n-th header's name
// and value) is that row's string, not a new copy: most rows repeat them.
type rowDecoder struct {
	method, host, path, err, instance string
	req, res                          [keptHeaders]Header
}

// keptHeaders is how many headers of each list rowDecoder compares with the
// row before.
const keptHeaders = 16

func newRowDecoder() *rowDecoder { return &rowDecoder{} }

// same returns last when b holds it, else b as a new string, which it keeps
// in *last.
func same(last *string, b []byte) string {
	if string(b) != *last { // compared without a copy
		*last = string(b)
	}
	return *last
}

// header is the n-th name or value of a header list.
func header(kept *[keptHeaders]Header, n int, name bool, b []byte) string {
	if n >= keptHeaders {
		return string(b)
	}
	if name {
		return same(&kept[n].Name, b)
	}
	return same(&kept[n].Value, b)
}

// decode fills x from row. Nulls (the columns a recording/1 file lacks)
// leave zero values.
func (d *rowDecoder) decode(row parquet.Row, x *Exchange) error {
	c := &exchangeColumns
	var reqNames, resNames int // names met so far in each list, to pair values
	for i, v := range row {
		col := v.Column()
		switch {
		case c.list(col) && v.DefinitionLevel() < c.listed:
			// An empty list, or a column the file lacks: Reconstruct
			// makes the list empty, not nil.
			switch col {
			case c.reqName:
				x.RequestHeaders = []Header{}
			case c.resName:
				x.ResponseHeaders = []Header{}
			case c.eventNs:
				x.ResponseEventNs = []int64{}
			}
			continue
		case v.IsNull():
			continue // a column the file lacks: left zero
		}
		switch col {
		case c.id:
			x.ID = string(v.ByteArray())
		case c.startedAt:
			x.StartedAt = time.Unix(0, v.Int64()).UTC()
		case c.method:
			x.Method = same(&d.method, v.ByteArray())
		case c.host:
			x.Host = same(&d.host, v.ByteArray())
		case c.path:
			x.Path = same(&d.path, v.ByteArray())
		case c.reqName:
			addName(&x.RequestHeaders, &d.req, row[i:])
			reqNames++
		case c.reqValue:
			if err := setValue(x.RequestHeaders, &reqNames, &d.req, v); err != nil {
				return err
			}
		case c.reqBody:
			x.RequestBody = append([]byte{}, v.ByteArray()...)
		case c.reqTrunc:
			x.RequestBodyTruncated = v.Boolean()
		case c.reqSize:
			x.RequestBodySize = v.Int64()
		case c.status:
			x.Status = v.Int32()
		case c.resName:
			addName(&x.ResponseHeaders, &d.res, row[i:])
			resNames++
		case c.resValue:
			if err := setValue(x.ResponseHeaders, &resNames, &d.res, v); err != nil {
				return err
			}
		case c.resBody:
			x.ResponseBody = append([]byte{}, v.ByteArray()...)
		case c.resTrunc:
			x.ResponseBodyTruncated = v.Boolean()
		case c.resSize:
			x.ResponseBodySize = v.Int64()
		case c.latency:
			x.LatencyNs = v.Int64()
		case c.err:
			x.Error = same(&d.err, v.ByteArray())
		case c.instance:
			x.Instance = same(&d.instance, v.ByteArray())
		case c.firstByte:
			x.ResponseFirstByteNs = v.Int64()
		case c.events:
			x.ResponseEvents = v.Int64()
		case c.eventNs:
			if x.ResponseEventNs == nil {
				x.ResponseEventNs = make([]int64, 0, run(row[i:]))
			}
			x.ResponseEventNs = append(x.ResponseEventNs, v.Int64())
		}
	}
	return nil
}

// addName appends the header named by rest[0] to *hs, sizing the list at
// its first name (rest holds the list's names one after the other).
func addName(hs *[]Header, kept *[keptHeaders]Header, rest parquet.Row) {
	if *hs == nil {
		*hs = make([]Header, 0, run(rest))
	}
	*hs = append(*hs, Header{Name: header(kept, len(*hs), true, rest[0].ByteArray())})
}

// run counts the values at the start of vs that are of its first's column:
// a list's length.
func run(vs parquet.Row) int {
	n := 0
	for n < len(vs) && vs[n].Column() == vs[0].Column() {
		n++
	}
	return n
}

// setValue gives the next header of hs its value. The values of a list come
// after all its names (a row's values are in column order), one per name:
// *pending counts the names still waiting for theirs.
func setValue(hs []Header, pending *int, kept *[keptHeaders]Header, v parquet.Value) error {
	if *pending == 0 {
		return fmt.Errorf("%w: a header value without a name", ErrFormat)
	}
	n := len(hs) - *pending
	hs[n].Value = header(kept, n, false, v.ByteArray())
	*pending--
	return nil
}
