package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"sync"

	"golang.org/x/net/http/httpguts"
)

// readHead reads the common response head straight from br's buffer, where
// it most often is whole once the first byte came: HTTP/1.1, a final status
// with a body (2xx–5xx but 204 and 304, to a request other than HEAD), and
// lines that end in CRLF, each a token name, a colon and a value of plain
// bytes, with exactly one Content-Length of digits and none of
// Transfer-Encoding, Connection, Trailer or Pragma (whose handling changes
// the head or the framing). For any other head, or one not whole in the
// buffer yet, it returns nil and consumes nothing, and http.ReadResponse
// reads it: this is a fast path for a subset of what ReadResponse accepts,
// and gives what ReadResponse gives for it (FuzzReadHead checks both on the
// same bytes). It saves ReadResponse's textproto reader, the strings of each
// line and half its allocations: readMIMEHeader was 7% of replay's CPU.
func readHead(br *bufio.Reader, req *http.Request) *http.Response {
	if req != nil && req.Method == http.MethodHead {
		return nil
	}
	buf, _ := br.Peek(br.Buffered())
	// The status line: "HTTP/1.1 NNN" and a reason, or none.
	const proto = "HTTP/1.1 "
	eol := lineEnd(buf)
	if eol < len(proto)+3 || string(buf[:len(proto)]) != proto {
		return nil
	}
	d := buf[len(proto) : len(proto)+3]
	if d[0] < '2' || d[0] > '5' || !digit(d[1]) || !digit(d[2]) {
		return nil
	}
	code := int(d[0]-'0')*100 + int(d[1]-'0')*10 + int(d[2]-'0')
	if code == http.StatusNoContent || code == http.StatusNotModified {
		return nil
	}
	if eol > len(proto)+3 && buf[len(proto)+3] != ' ' {
		return nil
	}
	for _, c := range buf[len(proto)+3 : eol] {
		if !plainByte(c) {
			return nil
		}
	}
	// Check every line first, so that a head left to ReadResponse (a
	// Connection header, say) costs no allocation here; then the head is
	// one string, its names and values substrings of it.
	type field struct{ at, colon, vs, ve int } // offsets in buf
	var fields [maxLines]field
	lines, end, cl := 0, eol+2, int64(-1)
	for {
		n := lineEnd(buf[end:])
		if n < 0 {
			return nil // not whole in the buffer, or a bare CR or LF
		}
		if n == 0 {
			break
		}
		if lines == maxLines {
			return nil
		}
		line := buf[end : end+n]
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || colon > maxName {
			return nil
		}
		for _, c := range line[:colon] {
			if !tokenByte[c] {
				return nil // leading white space (a fold) or no token
			}
		}
		for _, c := range line[colon+1:] {
			if !plainByte(c) {
				return nil
			}
		}
		vs, ve := colon+1, n
		for vs < ve && (line[vs] == ' ' || line[vs] == '\t') {
			vs++
		}
		for ve > vs && (line[ve-1] == ' ' || line[ve-1] == '\t') {
			ve--
		}
		switch name := line[:colon]; {
		case bytes.EqualFold(name, []byte("Transfer-Encoding")), bytes.EqualFold(name, []byte("Connection")),
			bytes.EqualFold(name, []byte("Trailer")), bytes.EqualFold(name, []byte("Pragma")):
			return nil // they change the head or the framing
		case bytes.EqualFold(name, []byte("Content-Length")):
			if cl >= 0 || ve == vs || ve-vs > 18 {
				return nil // duplicate, empty or over 63 bits
			}
			cl = 0
			for _, c := range line[vs:ve] {
				if !digit(c) {
					return nil
				}
				cl = cl*10 + int64(c-'0')
			}
		}
		fields[lines] = field{end, colon, vs, ve}
		lines++
		end += n + 2
	}
	if cl < 0 {
		return nil
	}
	s := string(buf[:end])
	h := make(http.Header, lines)
	strs := make([]string, lines)
	for _, f := range fields[:lines] {
		key := canonicalKey(buf[f.at:f.at+f.colon], s[f.at:f.at+f.colon])
		value := s[f.at+f.vs : f.at+f.ve]
		if vv := h[key]; vv != nil {
			h[key] = append(vv, value)
		} else {
			vv, strs = strs[:1:1], strs[1:]
			vv[0] = value
			h[key] = vv
		}
	}
	_, _ = br.Discard(end + 2)
	res := &http.Response{
		Status: s[len(proto):eol], StatusCode: code, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, ContentLength: cl, Request: req, Body: http.NoBody,
	}
	if cl > 0 {
		res.Body = &lengthBody{r: br, left: cl}
	}
	return res
}

// maxLines and maxName are the most header lines, and the longest name,
// that readHead takes.
const (
	maxLines = 32
	maxName  = 64
)

// lineEnd is the length of b's first line, which must end in CRLF with no
// other CR or LF before it: -1 when it does not, or b holds no LF.
func lineEnd(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i < 1 || b[i-1] != '\r' || bytes.IndexByte(b[:i-1], '\r') >= 0 {
		return -1
	}
	return i - 1
}

func digit(c byte) bool { return '0' <= c && c <= '9' }

// plainByte is a byte textproto accepts in a header value and in the
// reason phrase: tab, visible ASCII, space, or any byte of 0x80 and above.
func plainByte(c byte) bool { return c == '\t' || (c >= ' ' && c != 0x7f) }

// tokenByte holds the bytes of a header name (RFC 9110's tchar).
var tokenByte = func() (t [256]bool) {
	for c := range 128 {
		t[c] = httpguts.IsTokenRune(rune(c))
	}
	return t
}()

// canonicalKey is name's canonical form (http.CanonicalHeaderKey's) for a
// name of tokens up to maxName bytes: str (name as a string) when name is
// canonical already, or a common name's shared string, so that most keys
// cost no allocation.
func canonicalKey(name []byte, str string) string {
	var b [maxName]byte
	k := b[:len(name)]
	upper, same := true, true
	for i, c := range name {
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		same = same && c == name[i]
		k[i] = c
		upper = c == '-'
	}
	if same {
		return str
	}
	if common, ok := commonKeys[string(k)]; ok {
		return common
	}
	return string(k)
}

// commonKeys are the names model servers and proxies answer with most.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept-Ranges", "Access-Control-Allow-Origin", "Age", "Cache-Control",
		"Content-Encoding", "Content-Language", "Content-Length", "Content-Type", "Date", "Etag",
		"Expires", "Last-Modified", "Location", "Server", "Set-Cookie", "Strict-Transport-Security",
		"Vary", "Via", "X-Content-Type-Options", "X-Powered-By",
		"X-Request-Id", "Traceparent",
	} {
		m[k] = k
	}
	return m
}()

// lengthBody is a Content-Length body read from the connection's reader,
// as net/http's body of the same response reads it: io.EOF with the last
// byte, io.ErrUnexpectedEOF when the connection ends short of it, and a
// Close that reads what is left (so the caller's rule of dropping, not
// closing, a body it stopped reading holds the same on both paths).
type lengthBody struct {
	mu     sync.Mutex
	r      *bufio.Reader
	left   int64
	sawEOF bool
	closed bool
}

func (b *lengthBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	return b.read(p)
}

func (b *lengthBody) read(p []byte) (int, error) {
	if b.sawEOF {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	switch {
	case err == io.EOF:
		b.sawEOF = true
		if b.left > 0 {
			err = io.ErrUnexpectedEOF
		}
	case err == nil && n > 0 && b.left == 0:
		b.sawEOF, err = true, io.EOF
	}
	return n, err
}

func (b *lengthBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	var err error
	if !b.sawEOF {
		_, err = io.Copy(io.Discard, readerFunc(b.read))
	}
	b.closed = true
	return err
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
