// Ground-truth labels: reading label files (CSV, JSON Lines, Parquet) into
// one table keyed in memory.

package report

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/shadowctl/shadowctl/internal/safetext"
)

// ErrLabels is wrapped by every error about a label file or a label that
// cannot be used (a missing column, a bad line, a batch label of the wrong
// length): bad input, not a failure of the report.
var ErrLabels = errors.New("bad labels")

// LabelError says what is wrong with a label file, and where.
type LabelError struct {
	// File is the label file; Line its line (CSV, JSON Lines) or row
	// (Parquet), counting from 1, or 0 for the whole file.
	File string
	Line int64
	Err  error
}

func (e *LabelError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("labels %s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("labels %s: %v", e.File, e.Err)
}

func (e *LabelError) Unwrap() []error { return []error{ErrLabels, e.Err} }

// labelText is the text of a label value: a string as is, a number as
// written, a boolean as true/false; a list of those is a batch.
func labelText(v any) (string, bool, error) {
	switch x := v.(type) {
	case string:
		if t, ok := plainBatch(x); ok {
			return t, true, nil
		}
		if strings.HasPrefix(strings.TrimSpace(x), "[") {
			var list []any
			d := json.NewDecoder(strings.NewReader(x))
			d.UseNumber()
			if err := d.Decode(&list); err != nil {
				return "", false, fmt.Errorf("label %q: not a JSON array (%v)", x, err)
			}
			return labelText(list)
		}
		return x, false, nil
	case json.Number:
		return x.String(), false, nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), false, nil
	case int64:
		return strconv.FormatInt(x, 10), false, nil
	case int32:
		return strconv.FormatInt(int64(x), 10), false, nil
	case bool:
		return strconv.FormatBool(x), false, nil
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			t, batch, err := labelText(e)
			if err != nil || batch || e == nil {
				return "", false, fmt.Errorf("batch label %s: element %d is not a string, number or boolean", compactFull(toDecoded(x)), i)
			}
			if strings.Contains(t, batchSep) {
				return "", false, fmt.Errorf("batch label element %q holds a control character U+001F", t)
			}
			parts[i] = t
		}
		return strings.Join(parts, batchSep), true, nil
	case nil:
		return "", false, errors.New("label is null")
	}
	return "", false, fmt.Errorf("label %v: not a string, number, boolean or array of them", v)
}

// plainBatch is the fast path of a batch label of numbers and booleans
// written without quotes ("[1, 0, 2]"): its elements as written, joined.
func plainBatch(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' || strings.ContainsAny(s[1:], `"[{`) || strings.Contains(s, batchSep) {
		return "", false
	}
	inner := strings.TrimSpace(s[1 : len(s)-1])
	if inner == "" {
		return "", false
	}
	var sb strings.Builder
	sb.Grow(len(inner))
	for i := 0; ; i++ {
		part, rest, more := strings.Cut(inner, ",")
		part = strings.TrimSpace(part)
		if part != "true" && part != "false" {
			if _, err := strconv.ParseFloat(part, 64); err != nil || part == "" || !isJSONNumber(part) {
				return "", false
			}
		}
		if i > 0 {
			sb.WriteString(batchSep)
		}
		sb.WriteString(part)
		if !more {
			return sb.String(), true
		}
		inner = rest
	}
}

// isJSONNumber tells a JSON number literal from what else ParseFloat takes
// (Inf, 0x1p3, 1_000).
func isJSONNumber(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			return false
		}
	}
	return true
}

// toDecoded turns json.Number leaves into strings, for an error message.
func toDecoded(v []any) any {
	out := make([]any, len(v))
	for i, e := range v {
		if n, ok := e.(json.Number); ok {
			out[i] = n.String()
			continue
		}
		out[i] = e
	}
	return out
}

// ReadLabels reads label files, each CSV (with a header), JSON Lines or
// Parquet (told by its extension: .csv, .jsonl/.ndjson/.json, .parquet),
// with columns key and label, into one table. A label is the true value of
// a single-instance request, or a JSON array with one value per instance of
// a batch. Errors wrap ErrLabels.
func ReadLabels(paths []string) (*Labels, error) {
	l := &Labels{}
	for _, p := range paths {
		if err := l.readFile(p); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (l *Labels) readFile(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return &LabelError{File: path, Err: err}
	}
	if !info.Mode().IsRegular() {
		return &LabelError{File: path, Err: errors.New("not a regular file")}
	}
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".csv":
		err = l.readCSV(path)
	case ".jsonl", ".ndjson", ".json":
		err = l.readJSONL(path)
	case ".parquet":
		err = l.readParquet(path)
	default:
		return &LabelError{File: path, Err: fmt.Errorf("unknown format %q: want .csv, .jsonl, .ndjson, .json or .parquet", ext)}
	}
	return err
}

func (l *Labels) readCSV(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return &LabelError{File: path, Err: err}
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<16))
	r.ReuseRecord = true
	head, err := r.Read()
	if err == io.EOF {
		return &LabelError{File: path, Err: errors.New("empty file: want a header with columns key and label")}
	}
	if err != nil {
		return &LabelError{File: path, Line: 1, Err: err}
	}
	ki, li := -1, -1
	for i, h := range head {
		switch strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")) {
		case "key":
			ki = i
		case "label":
			li = i
		}
	}
	if ki < 0 || li < 0 {
		return &LabelError{File: path, Line: 1, Err: fmt.Errorf("want columns key and label, have %s", safetext.Clip(strings.Join(head, ", "), maxCell))}
	}
	for line := int64(2); ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &LabelError{File: path, Err: err}
		}
		if err := l.Set(rec[ki], rec[li]); err != nil {
			return &LabelError{File: path, Line: line, Err: err}
		}
	}
}

func (l *Labels) readJSONL(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return &LabelError{File: path, Err: err}
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<16), 16<<20)
	for line := int64(1); s.Scan(); line++ {
		b := s.Bytes()
		if line == 1 {
			// A byte order mark, as the CSV reader accepts it: editors
			// and spreadsheets write one first.
			b = bytes.TrimPrefix(b, []byte("\ufeff"))
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		if b[0] != '{' && json.Valid(b) {
			return &LabelError{File: path, Line: line, Err: fmt.Errorf("want one JSON object per line (JSON Lines), got %s", jsonKind(b[0]))}
		}
		var row map[string]any
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&row); err != nil {
			return &LabelError{File: path, Line: line, Err: fmt.Errorf("not a JSON object: %v", err)}
		}
		k, okK := row["key"]
		v, okV := row["label"]
		if !okK || !okV {
			return &LabelError{File: path, Line: line, Err: errors.New("want members key and label")}
		}
		key, batch, err := labelText(k)
		if err != nil || batch {
			return &LabelError{File: path, Line: line, Err: errors.New("key is not a string or number")}
		}
		if err := l.Set(key, v); err != nil {
			return &LabelError{File: path, Line: line, Err: err}
		}
	}
	if err := s.Err(); err != nil {
		return &LabelError{File: path, Err: err}
	}
	return nil
}

// jsonKind names the kind of a valid JSON value, not an object, that
// starts with c: "an array" for a .json file holding one array of objects.
func jsonKind(c byte) string {
	switch {
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == '-' || c >= '0' && c <= '9':
		return "a number"
	case c == 't' || c == 'f':
		return "a boolean"
	}
	return "null"
}

func (l *Labels) readParquet(path string) (err error) {
	f, err := os.Open(path)
	if err != nil {
		return &LabelError{File: path, Err: err}
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return &LabelError{File: path, Err: err}
	}
	// parquet-go may panic on a damaged file: a bad file is an error.
	defer func() {
		if p := recover(); p != nil {
			err = &LabelError{File: path, Err: fmt.Errorf("damaged Parquet file (%v)", p)}
		}
	}()
	pf, err := parquet.OpenFile(f, info.Size(), parquet.SkipBloomFilters(true))
	if err != nil {
		return &LabelError{File: path, Err: fmt.Errorf("not a Parquet file (%v)", err)}
	}
	kc, okK := pf.Schema().Lookup("key")
	lc, okL := pf.Schema().Lookup("label")
	if !okK || !okL || kc.MaxRepetitionLevel > 0 || lc.MaxRepetitionLevel > 0 {
		var have []string
		for _, c := range pf.Schema().Columns() {
			have = append(have, strings.Join(c, "."))
		}
		return &LabelError{File: path, Err: fmt.Errorf("want columns key and label (not lists), have %s", safetext.Clip(strings.Join(have, ", "), maxCell))}
	}
	var row int64
	buf := make([]parquet.Row, 256)
	for _, rg := range pf.RowGroups() {
		rows := rg.Rows()
		for {
			n, rerr := rows.ReadRows(buf)
			for _, r := range buf[:n] {
				row++
				var key, label any
				for _, v := range r {
					switch v.Column() {
					case kc.ColumnIndex:
						key = parquetValue(v)
					case lc.ColumnIndex:
						label = parquetValue(v)
					}
				}
				k, batch, err := labelText(key)
				if err != nil || batch {
					rows.Close()
					return &LabelError{File: path, Line: row, Err: errors.New("key is null or not a string or number")}
				}
				if err := l.Set(k, label); err != nil {
					rows.Close()
					return &LabelError{File: path, Line: row, Err: err}
				}
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				rows.Close()
				return &LabelError{File: path, Err: rerr}
			}
		}
		rows.Close()
	}
	return nil
}

// parquetValue is a Parquet leaf value as a Go scalar (nil when null).
func parquetValue(v parquet.Value) any {
	if v.IsNull() {
		return nil
	}
	switch v.Kind() {
	case parquet.Boolean:
		return v.Boolean()
	case parquet.Int32:
		return int64(v.Int32())
	case parquet.Int64:
		return v.Int64()
	case parquet.Float:
		return float64(v.Float())
	case parquet.Double:
		f := v.Double()
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f)
		}
		return f
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return string(v.ByteArray())
	}
	return nil
}
