package h1

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"syscall"

	"golang.org/x/net/http/httpguts"
)

// ErrUnrequestedUpgrade is a 101 answer to a request that asked for no
// protocol switch (httputil.ReverseProxy answers 502 too): the connection
// no longer speaks HTTP/1.1.
var ErrUnrequestedUpgrade = errors.New("101 Switching Protocols to a request without Upgrade")

// ErrInvalidResponse is a response head http.ReadResponse parses but a
// strict peer refuses (nginx's "upstream sent invalid header"): a status
// below 100, a header name that is no token (a space before the colon),
// a value with a control character. Passed on, such a header would be
// dropped by Go's server on the way to the client yet kept in the
// recording, and missed by redaction (its name is no name).
var ErrInvalidResponse = errors.New("invalid response head")

// checkHead refuses what ErrInvalidResponse says.
func checkHead(res *http.Response) error {
	if res.StatusCode < 100 {
		return fmt.Errorf("%w: status %d", ErrInvalidResponse, res.StatusCode)
	}
	for k, vs := range res.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("%w: header name %q", ErrInvalidResponse, k)
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Errorf("%w: header %s holds a control character", ErrInvalidResponse, k)
			}
		}
	}
	return nil
}

// ReadResponse reads the upstream's response head from br (a Conn's
// Reader). Interim responses are handed to interim, which may be nil (103
// Early Hints and the like; 100 Continue is the caller's business with its
// own client and is skipped). A 101 is ErrUnrequestedUpgrade: requests that
// ask for an upgrade do not come this way.
func ReadResponse(br *bufio.Reader, req *http.Request, interim func(*http.Response)) (*http.Response, error) {
	for range 10 {
		if res := readHead(br, req); res != nil {
			return res, nil // a final answer whose head checkHead would pass
		}
		res, err := http.ReadResponse(br, req)
		if err != nil {
			return nil, err
		}
		if err := checkHead(res); err != nil {
			return nil, err
		}
		switch {
		case res.StatusCode == http.StatusSwitchingProtocols:
			return nil, ErrUnrequestedUpgrade
		case res.StatusCode >= 200:
			return res, nil
		case res.StatusCode != http.StatusContinue && interim != nil:
			interim(res)
		}
	}
	return nil, errors.New("too many 1xx responses")
}

// StaleConnError reports whether err, on a reused connection before any
// byte of a response, means the upstream had closed it as the request went
// out: then a Retryable request may go again on a new connection.
func StaleConnError(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
