package replay

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
)

// Classify names the kind of a failed request: err is what the client
// returned (nil when an answer came), status the answer's status code.
// The empty kind means a 1xx, 2xx or 3xx answer.
func Classify(err error, status int) string {
	if err == nil {
		switch {
		case status >= 500:
			return KindHTTP5xx
		case status >= 400:
			return KindHTTP4xx
		}
		return ""
	}
	var (
		dnsErr   *net.DNSError
		netErr   net.Error
		recErr   tls.RecordHeaderError
		alertErr tls.AlertError
		verErr   *tls.CertificateVerificationError
		uaErr    x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		certErr  x509.CertificateInvalidError
	)
	switch {
	case errors.Is(err, ErrBodyTooLarge):
		return KindTooLarge
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return KindTimeout
	case errors.As(err, &dnsErr):
		return KindDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return KindReset
	case errors.As(err, &recErr), errors.As(err, &alertErr), errors.As(err, &verErr),
		errors.As(err, &uaErr), errors.As(err, &hostErr), errors.As(err, &certErr):
		return KindTLS
	}
	// Some errors reach us only as text (net/http wraps a few without %w).
	msg := err.Error()
	switch {
	case strings.Contains(msg, "tls:") || strings.Contains(msg, "x509:"):
		return KindTLS
	case strings.Contains(msg, "server closed idle connection"), strings.Contains(msg, "connection reset"):
		return KindReset
	}
	return KindOther
}

// connectFailure tells whether kind means no connection could be made.
func connectFailure(kind string) bool {
	return kind == KindRefused || kind == KindDNS || kind == KindTLS
}
