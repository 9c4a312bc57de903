package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/shadowctl/shadowctl/record"
)

// answerOf is the body the test server answers exchange i with: n bytes,
// different for every exchange.
func answerOf(i, n int) []byte {
	return bytes.Repeat([]byte(strconv.Itoa(i)+","), n)[:n]
}

// Answer buffers are recycled once their rows are written: every row of the
// file must still hold its own answer, whatever its size and framing.
func TestEveryAnswerReachesTheFileIntact(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Query().Get("i"))
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		b := answerOf(i, n)
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
			w.Write(b)
			return
		}
		half := len(b) / 2
		w.Write(b[:half])
		w.(http.Flusher).Flush() // length unknown: chunked
		w.Write(b[half:])
	}))
	defer srv.Close()

	var xs []record.Exchange
	add := func(rounds int, sizes ...int) {
		for range rounds {
			for _, n := range sizes {
				for _, chunked := range []string{"", "1"} {
					i := len(xs)
					xs = append(xs, ex(i, fmt.Sprintf("/b?i=%d&n=%d&chunked=%s", i, n, chunked)))
				}
			}
		}
	}
	add(30, 0, 1, minPooledBody-1, minPooledBody, minPooledBody+1, 4096, 70_000)
	add(2, maxPooledBody, maxPooledBody+1)

	path := filepath.Join(t.TempDir(), "results.parquet")
	w, err := CreateResults(path)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Run(context.Background(), Options{Target: mustURL(t, srv.URL), Concurrency: 8},
		&sliceSource{xs: xs}, w)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if sum.OK != int64(len(xs)) {
		t.Fatalf("%d ok of %d: %v", sum.OK, len(xs), sum.Errors)
	}
	rows := readResultRows(t, path)
	for _, x := range rows {
		var i, n int
		var chunked string
		fmt.Sscanf(x.Path, "/b?i=%d&n=%d&chunked=%s", &i, &n, &chunked)
		if want := answerOf(i, n); !bytes.Equal(x.CandidateBody, want) {
			t.Errorf("%s: %d bytes %.20q…, want %d bytes %.20q…", x.Path, len(x.CandidateBody), x.CandidateBody, n, want)
		}
	}
	if len(rows) != len(xs) {
		t.Errorf("%d rows, want %d", len(rows), len(xs))
	}
}

// The results writer copies the bodies it is given: overwriting them after
// Write changes nothing in the file.
func TestResultsWriterKeepsNoBody(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.parquet")
	w, err := CreateResults(path)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]byte{[]byte(`{"a":1}`), bytes.Repeat([]byte("b"), 5000)}
	for i, body := range want {
		cand, base := bytes.Clone(body), bytes.Clone(body)
		st := int32(200)
		if err := w.Write([]Result{{ID: strconv.Itoa(i), CandidateBody: cand, BaselineStatus: &st, BaselineBody: base}}); err != nil {
			t.Fatal(err)
		}
		clear(cand)
		clear(base)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rows := readResultRows(t, path)
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i, x := range rows {
		if !bytes.Equal(x.CandidateBody, want[i]) || !bytes.Equal(x.BaselineBody, want[i]) {
			t.Errorf("row %d: bodies %.20q and %.20q, want %.20q", i, x.CandidateBody, x.BaselineBody, want[i])
		}
	}
}

func TestBodyBuffers(t *testing.T) {
	for _, c := range []struct{ n, wantCap int }{
		{0, 0},
		{minPooledBody - 1, minPooledBody - 1},
		{minPooledBody, minPooledBody},
		{minPooledBody + 1, 2 * minPooledBody},
		{5000, 8192},
		{maxPooledBody, maxPooledBody},
		{maxPooledBody + 1, maxPooledBody + 1},
	} {
		for round := range 2 { // the second may get a recycled buffer
			b := getBody(c.n)
			if len(b) != c.n || cap(b) != c.wantCap {
				t.Errorf("getBody(%d), round %d: len %d cap %d, want cap %d", c.n, round, len(b), cap(b), c.wantCap)
			}
			putBody(b)
		}
	}
	// Buffers not made by getBody are left alone.
	for _, b := range [][]byte{nil, {}, make([]byte, 0, 1000), make([]byte, 10, 2*maxPooledBody)} {
		putBody(b)
	}
	if b := getBody(600); cap(b) != 1024 {
		t.Errorf("getBody(600) after foreign puts: cap %d, want 1024", cap(b))
	}
}

// Answers longer than MaxBody are not kept: the row says so with its own
// kind, and the status the target sent. Up to the limit they are whole.
func TestAnswersOverMaxBodyAreErrorRows(t *testing.T) {
	const max = 1000
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		var n int
		var chunked bool
		fmt.Sscanf(r.URL.Path, "/n%d", &n)
		chunked = r.URL.Query().Get("chunked") == "1"
		if !chunked {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		w.Write(bytes.Repeat([]byte("x"), n))
	}))
	defer srv.Close()
	cases := []struct {
		path     string
		wantKind string
	}{
		{"/n1000", ""},
		{"/n1001", KindTooLarge},
		{"/n1000?chunked=1", ""},
		{"/n1001?chunked=1", KindTooLarge},
		{"/n5000000?chunked=1", KindTooLarge},
	}
	var xs []record.Exchange
	for i, c := range cases {
		xs = append(xs, ex(i, c.path))
	}
	sink := &memWriter{}
	opts := Options{Target: mustURL(t, srv.URL), Baseline: mustURL(t, srv.URL), Concurrency: 2, MaxBody: max, EarlyStop: -1}
	sum, err := Run(context.Background(), opts, &sliceSource{xs: xs}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Errors[KindTooLarge] != 3 {
		t.Errorf("errors %v, want 3 %s", sum.Errors, KindTooLarge)
	}
	rows := sink.byID()
	for i, c := range cases {
		r := rows[xs[i].ID]
		if r.CandidateErrorKind != c.wantKind || *r.BaselineErrorKind != c.wantKind || r.CandidateStatus != 200 {
			t.Errorf("%s: candidate %d %q, baseline %q; want 200 %q on both", c.path, r.CandidateStatus, r.CandidateErrorKind, *r.BaselineErrorKind, c.wantKind)
		}
		switch {
		case c.wantKind == "" && len(r.CandidateBody) != max:
			t.Errorf("%s: kept %d bytes, want %d", c.path, len(r.CandidateBody), max)
		case c.wantKind != "" && (len(r.CandidateBody) != 0 || !strings.Contains(r.CandidateError, "too large") ||
			!strings.Contains(r.CandidateError, fmt.Sprint(max))):
			t.Errorf("%s: kept %d bytes, error %q; want none, and an error saying it was over %d bytes", c.path, len(r.CandidateBody), r.CandidateError, max)
		}
	}
}

// The largest --max-body there is still keeps a body of unknown length:
// one byte over it (how a longer body is told) must not wrap around.
func TestReadBodyUnknownLengthAtTheLargestMax(t *testing.T) {
	for _, max := range []int64{math.MaxInt64, math.MaxInt64 - 1, 5} {
		res := &http.Response{ContentLength: -1, Body: io.NopCloser(strings.NewReader("hello"))}
		b, err := readBody(res, max)
		if err != nil || string(b) != "hello" {
			t.Errorf("max %d: got %q, %v; want the whole body", max, b, err)
		}
	}
	res := &http.Response{ContentLength: -1, Body: io.NopCloser(strings.NewReader("hello!"))}
	if _, err := readBody(res, 5); !errors.Is(err, ErrBodyTooLarge) {
		t.Errorf("6 bytes over max 5: err %v, want ErrBodyTooLarge", err)
	}
}
