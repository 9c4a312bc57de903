package h1

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"syscall"
)

// ErrUnrequestedUpgrade is a 101 answer to a request that asked for no
// protocol switch (httputil.ReverseProxy answers 502 too): the connection
// no longer speaks HTTP/1.1.
var ErrUnrequestedUpgrade = errors.New("101 Switching Protocols to a request without Upgrade")

// ReadResponse reads the upstream's response head from br (a Conn's
// Reader). Interim responses are handed to interim, which may be nil (103
// Early Hints and the like; 100 Continue is the caller's business with its
// own client and is skipped). A 101 is ErrUnrequestedUpgrade: requests that
// ask for an upgrade do not come this way.
func ReadResponse(br *bufio.Reader, req *http.Request, interim func(*http.Response)) (*http.Response, error) {
	for range 10 {
		res, err := http.ReadResponse(br, req)
		if err != nil {
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
