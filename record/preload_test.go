package record

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// Small bodies of known length are read whole before going upstream; the
// upstream and the recording must see the same bytes as when streaming, and a
// client that stops mid-body must end as a canceled exchange.
func TestProxyPreloadsSmallBodies(t *testing.T) {
	got := make(chan []byte, 4)
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			got <- []byte("error: " + err.Error())
			return
		}
		got <- b
		_, _ = w.Write([]byte("ok"))
	})
	for _, c := range []struct {
		name    string
		maxBody int64
		body    []byte
		expect  bool
	}{
		{"small", 4 << 20, []byte(`{"instances":[[1,2,3]]}`), false},
		{"at preload bound", 4 << 20, bytes.Repeat([]byte("a"), preloadMax), false},
		{"above preload bound streams", 4 << 20, bytes.Repeat([]byte("b"), preloadMax+1), false},
		{"above max body streams", 10, []byte(`{"instances":[[1,2,3]]}`), false},
		{"expect 100-continue streams", 4 << 20, []byte(`{"x":1}`), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rg := newRig(t, upstream, ProxyOptions{MaxBody: c.maxBody}, SinkOptions{})
			req, _ := http.NewRequest("POST", rg.front.URL+"/p", bytes.NewReader(c.body))
			if c.expect {
				req.Header.Set("Expect", "100-continue")
			}
			res := do(t, http.DefaultClient, req)
			if res.status != 200 || string(res.body) != "ok" {
				t.Fatalf("client got %d %q", res.status, res.body)
			}
			if b := <-got; !bytes.Equal(b, c.body) {
				t.Errorf("upstream got %d bytes, want %d", len(b), len(c.body))
			}
			x := rg.rows(1)[0]
			stored := c.body[:min(int64(len(c.body)), c.maxBody)]
			if !bytes.Equal(x.RequestBody, stored) || x.RequestBodySize != int64(len(c.body)) ||
				x.RequestBodyTruncated != (int64(len(c.body)) > c.maxBody) || x.Error != "" {
				t.Errorf("row body %d bytes, size %d, truncated %v, error %q", len(x.RequestBody),
					x.RequestBodySize, x.RequestBodyTruncated, x.Error)
			}
		})
	}

	t.Run("client stops mid-body", func(t *testing.T) {
		rg := newRig(t, upstream, ProxyOptions{}, SinkOptions{})
		conn, err := net.Dial("tcp", strings.TrimPrefix(rg.front.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n%s", strings.Repeat("c", 40))
		conn.(*net.TCPConn).CloseWrite()
		_, _ = io.ReadAll(conn)
		conn.Close()
		x := rg.rows(1)[0]
		if string(x.RequestBody) != strings.Repeat("c", 40) || x.RequestBodySize != 40 ||
			x.Error == "" || x.Status != 0 {
			t.Errorf("row body %q size %d status %d error %q", x.RequestBody, x.RequestBodySize, x.Status, x.Error)
		}
		select {
		case b := <-got:
			if len(b) == 100 {
				t.Errorf("upstream got a whole body the client never sent")
			}
		default: // the upstream never saw the request: fine too
		}
	})
}

// An upstream that answers a large upload before reading it (a 413) leaves
// the rest of the client's body unread: the row stores what passed, cut,
// so a replay does not send that part as the whole request.
func TestProxyStoresAnUploadAnsweredEarlyAsCut(t *testing.T) {
	early := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
	})
	rg := newRig(t, early, ProxyOptions{MaxBody: 16 << 20}, SinkOptions{})
	body := bytes.Repeat([]byte("u"), 8<<20)
	req, _ := http.NewRequest("POST", rg.front.URL+"/upload", bytes.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err == nil {
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("client got %d, want 413", res.StatusCode)
		}
	}
	x := rg.rows(1)[0]
	if x.RequestBodySize >= int64(len(body)) {
		t.Skipf("the whole body passed (%d bytes): nothing cut to show", x.RequestBodySize)
	}
	if !x.RequestBodyTruncated || int64(len(x.RequestBody)) != x.RequestBodySize {
		t.Errorf("row keeps %d bytes of %d passed, truncated %v; want them all, marked truncated",
			len(x.RequestBody), x.RequestBodySize, x.RequestBodyTruncated)
	}
}

// A chunked body read to its end, and one of known length, are whole.
func TestProxyStoresWholeBodiesAsWhole(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("ok"))
	})
	rg := newRig(t, echo, ProxyOptions{MaxBody: 1 << 20}, SinkOptions{})
	for _, chunked := range []bool{false, true} {
		body := bytes.Repeat([]byte("w"), 200<<10)
		var r io.Reader = bytes.NewReader(body)
		if chunked {
			r = io.MultiReader(r) // no length: sent chunked
		}
		req, _ := http.NewRequest("POST", rg.front.URL+"/w", r)
		do(t, http.DefaultClient, req)
	}
	for _, x := range rg.rows(2) {
		if x.RequestBodyTruncated || x.RequestBodySize != 200<<10 || len(x.RequestBody) != 200<<10 {
			t.Errorf("row keeps %d bytes, size %d, truncated %v; want all 204800, whole", len(x.RequestBody), x.RequestBodySize, x.RequestBodyTruncated)
		}
	}
}
