package report

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/shadowctl/shadowctl/replay"
)

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type parquetLabel struct {
	Key   string  `parquet:"key"`
	Label string  `parquet:"label"`
	Extra float64 `parquet:"extra"`
}

func writeParquetLabels(t *testing.T, path string, rows []parquetLabel) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[parquetLabel](f)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReadLabelsThreeFormats: the same labels spread over a CSV, a JSON
// Lines and a Parquet file (with extra columns, batches and a key no row
// has), then a report whose rows miss one key.
func TestReadLabelsThreeFormats(t *testing.T) {
	dir := t.TempDir()
	csvFile := writeFile(t, dir, "a.csv", "note,key,label\nx,r1,cat\ny,r2,\"[\"\"dog\"\", \"\"cat\"\"]\"\nz,extra1,dog\n")
	jsonl := writeFile(t, dir, "b.jsonl", `{"key": "r3", "label": ["cat", "cat", "dog"], "source": "ops"}`+"\n\n"+`{"key": 4, "label": "dog"}`+"\n")
	pq := filepath.Join(dir, "c.parquet")
	writeParquetLabels(t, pq, []parquetLabel{{Key: "r5", Label: "cat", Extra: 1}, {Key: "extra2", Label: `["a","b"]`}})
	l, err := ReadLabels([]string{csvFile, jsonl, pq})
	if err != nil {
		t.Fatal(err)
	}
	if l.Len() != 7 {
		t.Errorf("keys = %d, want 7", l.Len())
	}
	rows := []replay.Result{
		v1Row("r1", `["cat"]`, `["dog"]`),
		v1Row("r2", `["dog","cat"]`, `["dog","dog"]`),
		v1Row("r3", `["cat","cat","cat"]`, `["cat","cat","dog"]`),
		v1Row("4", `["dog"]`, `["dog"]`),
		v1Row("r5", `["dog"]`, `["cat"]`),
		v1Row("r6", `["dog"]`, `["cat"]`), // no label
	}
	a := build(t, Options{Labels: l}, rows).Accuracy
	// Labeled: 1 + 2 + 3 + 1 + 1 = 8. Recorded right: r1, r2 ×2, r3 ×2, 4 =
	// 6; candidate right: r2[0], r3 ×3, 4, r5 = 6.
	if a.Labeled != 8 || a.Unlabeled != 1 || a.LabelsUnmatched != 2 {
		t.Errorf("labeled %d unlabeled %d unmatched %d, want 8 1 2", a.Labeled, a.Unlabeled, a.LabelsUnmatched)
	}
	if a.Recorded.Correct != 6 || a.Candidate.Correct != 6 {
		t.Errorf("correct rec %d cand %d, want 6 6", a.Recorded.Correct, a.Candidate.Correct)
	}
	// b: r1, r2[1] (rec right, cand wrong) = 2; c: r3[2], r5 = 2.
	if a.McNemar.B != 2 || a.McNemar.C != 2 {
		t.Errorf("mcnemar %+v, want 2 2", a.McNemar)
	}
}

// TestReadLabelsBOM: a UTF-8 byte order mark (what some editors and Excel
// write first) is accepted at the start of a CSV and a JSON Lines file.
func TestReadLabelsBOM(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{
		writeFile(t, dir, "bom.csv", "\ufeffkey,label\nr1,cat\nr2,dog\n"),
		writeFile(t, dir, "bom.jsonl", "\ufeff"+`{"key":"r1","label":"cat"}`+"\n"+`{"key":"r2","label":"dog"}`+"\n"),
		writeFile(t, dir, "bom.ndjson", "\ufeff"+`{"key":"r1","label":"cat"}`+"\r\n"+`{"key":"r2","label":"dog"}`),
	} {
		l, err := ReadLabels([]string{p})
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
			continue
		}
		if got, _ := l.lookup("r1"); l.Len() != 2 || len(got) != 1 || got[0] != "cat" {
			t.Errorf("%s: %d keys, r1 = %v, want 2 keys and cat", filepath.Base(p), l.Len(), got)
		}
	}
}

func TestReadLabelsBadFiles(t *testing.T) {
	dir := t.TempDir()
	pqWrong := filepath.Join(dir, "wrong.parquet")
	f, _ := os.Create(pqWrong)
	w := parquet.NewGenericWriter[struct {
		ID string `parquet:"id"`
	}](f)
	w.Write([]struct {
		ID string `parquet:"id"`
	}{{ID: "x"}})
	w.Close()
	f.Close()
	for _, c := range []struct{ name, path, want string }{
		{"csv columns", writeFile(t, dir, "cols.csv", "id,truth\n1,a\n"), "cols.csv:1: want columns key and label, have id, truth"},
		{"csv empty", writeFile(t, dir, "empty.csv", ""), "empty file"},
		{"jsonl not json", writeFile(t, dir, "bad.jsonl", `{"key":"a","label":"b"}`+"\nnot json\n"), "bad.jsonl:2: not a JSON object"},
		{"jsonl no label", writeFile(t, dir, "nolabel.jsonl", `{"key":"a"}`), "nolabel.jsonl:1: want members key and label"},
		{"jsonl nested", writeFile(t, dir, "nested.jsonl", `{"key":"a","label":[["x"]]}`), "element 0 is not a string, number or boolean"},
		{"conflict", writeFile(t, dir, "twice.csv", "key,label\na,x\na,y\n"), `twice.csv:3: key "a" labeled twice: x and y`},
		{"parquet columns", pqWrong, "want columns key and label (not lists), have id"},
		{"not parquet", writeFile(t, dir, "junk.parquet", "PAR1 not really"), "junk.parquet: not a Parquet file"},
		{"folder", dir, "not a regular file"},
		{"missing", filepath.Join(dir, "none.csv"), "no such file"},
		{"extension", writeFile(t, dir, "labels.txt", "key,label\n"), `unknown format ".txt": want .csv, .jsonl, .ndjson, .json or .parquet`},
		// A .json file is JSON Lines: an array of objects is the usual
		// mistake, and says so.
		{"json array", writeFile(t, dir, "array.json", `[{"key":"a","label":"b"}]`), "array.json:1: want one JSON object per line (JSON Lines), got an array"},
		{"json array later", writeFile(t, dir, "array2.jsonl", `{"key":"a","label":"b"}`+"\n  [1]\n"), "array2.jsonl:2: want one JSON object per line (JSON Lines), got an array"},
		{"json string", writeFile(t, dir, "string.ndjson", `"a"`), "string.ndjson:1: want one JSON object per line (JSON Lines), got a string"},
		{"bom not first", writeFile(t, dir, "bom2.jsonl", `{"key":"a","label":"b"}`+"\n\ufeff{\"key\":\"c\",\"label\":\"d\"}\n"), "bom2.jsonl:2: not a JSON object"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadLabels([]string{c.path})
			if !errors.Is(err, ErrLabels) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want ErrLabels with %q", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

// TestLabelsHashCollisions: keys whose hashes collide are told apart.
func TestLabelsHashCollisions(t *testing.T) {
	l := &Labels{hash: func(string) uint64 { return 7 }}
	for i, k := range []string{"a", "b", "c"} {
		if err := l.Set(k, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Set("b", "9"); err == nil || !strings.Contains(err.Error(), `key "b" labeled twice: 1 and 9`) {
		t.Errorf("conflict on a spilled key: %v", err)
	}
	for i, k := range []string{"a", "b", "c"} {
		got, ok := l.lookup(k)
		if !ok || len(got) != 1 || got[0] != fmt.Sprint(i) {
			t.Errorf("lookup %s = %v %v", k, got, ok)
		}
	}
	if _, ok := l.lookup("d"); ok {
		t.Error("found a key never set")
	}
	if l.Len() != 3 || l.unmatched() != 0 {
		t.Errorf("len %d unmatched %d", l.Len(), l.unmatched())
	}
}

// TestLabelErrorsShowNoControlBytes: a label file comes from outside the
// tool, and its errors land in terminals and CI logs: its columns and
// labels are shown escaped (a header could retitle the terminal).
func TestLabelErrorsShowNoControlBytes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, text, want string }{
		{"hdr.csv", "\x1b]0;pwned\x07\x1b[31mkey,lbl\nk,1\n", `have \x1b]0;pwned\a\x1b[31mkey, lbl`},
		{"twice.csv", "key,label\nk1,a\x1b[2J\nk1,\"b\x1b[5m\r\"\n", `key "k1" labeled twice: a\x1b[2J and b\x1b[5m\r`},
	} {
		_, err := ReadLabels([]string{writeFile(t, dir, tc.name, tc.text)})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.ContainsAny(err.Error(), "\x1b\r\a") {
			t.Errorf("%s: %v; want %q, no control byte", tc.name, err, tc.want)
		}
	}
}
