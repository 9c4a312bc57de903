package main

import (
	"crypto/x509"
	"errors"
	"net/url"
	"os"
	"strconv"

	"github.com/shadowctl/shadowctl/replay"
)

// Flag parsing that several commands share: what a flag's value must be,
// worded with the flag's name.

// parseHTTPURL parses the http:// or https:// URL of flag: a host, a port
// from 1 to 65535 if any, and no user info (credentials on the command line
// show in the process list). The message never prints a password.
func parseHTTPURL(flag, raw, userInfoHint string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" || u.Hostname() == "" {
		return nil, usageErrorf("--%s %q: want an http:// or https:// URL with a host", flag, raw)
	}
	if u.User != nil {
		return nil, usageErrorf("--%s %q: user info is not sent: %s; remove it from the URL", flag, u.Redacted(), userInfoHint)
	}
	if p := u.Port(); p != "" && !validPort(p) {
		return nil, usageErrorf("--%s %q: port %s: want 1 to 65535", flag, u.Redacted(), p)
	}
	return u, nil
}

// validPort tells whether p, the port of a URL, is a number from 1 to 65535.
func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// loadCAFile reads the PEM CA certificates of --ca-file, added to the
// system's.
func loadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErrorf("--ca-file: %v", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, usageErrorf("--ca-file %s: no PEM certificate in it", path)
	}
	return pool, nil
}

// replayOptionFlags names the flag behind each replay.Options field.
var replayOptionFlags = map[string]string{
	"Concurrency": "--concurrency", "Rate": "--rate", "Speed": "--speed", "Limit": "--limit",
}

// replayOptionError words an error of replay.Options.Validate with the flags.
func replayOptionError(err error) error {
	var oe *replay.OptionError
	switch {
	case errors.As(err, &oe) && replayOptionFlags[oe.Option] != "":
		return usageErrorf("%s %v: %v", replayOptionFlags[oe.Option], oe.Value, oe.Err)
	case errors.Is(err, replay.ErrRateAndSpeed):
		return usageErrorf("--rate and --speed exclude each other: pace at a fixed rate, or follow the recorded times")
	}
	return usageErrorf("%v", err)
}
