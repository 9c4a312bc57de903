package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
)

// floorEnv starts this binary as the floor proxy: "UPSTREAM_ADDR".
const floorEnv = "BENCHPEERS_FLOOR"

// The floor is the least a reverse proxy in Go does: a goroutine per client
// connection, net/http's request and response parsers, one upstream
// connection per client connection, the head and body copied through. It
// keeps none of the recorder's promises (no limits or timeouts, no
// hop-by-hop handling, no client-gone cancellation, no recording), so it
// is not a product: it shows what Go costs on this machine before any of
// them, next to nginx, so the recorder's figures can be read against it.
func runFloor(upstream string) error {
	ln, err := helperListener()
	if err != nil {
		return err
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return nil
		}
		go floorConn(c, upstream)
	}
}

// helperListener listens on loopback for a helper process (a floor),
// prints its address on the first line of stdout, and closes it when stdin
// closes (the benchmark ended).
func helperListener() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	fmt.Println(ln.Addr().String())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = ln.Close()
	}()
	return ln, nil
}

func floorConn(c net.Conn, upstream string) {
	defer c.Close()
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer u.Close()
	cr, cw := bufio.NewReaderSize(c, 4096), bufio.NewWriterSize(c, 4096)
	ur, uw := bufio.NewReaderSize(u, 4096), bufio.NewWriterSize(u, 4096)
	for {
		req, err := http.ReadRequest(cr)
		if err != nil {
			return
		}
		_, _ = uw.WriteString(req.Method + " " + req.RequestURI + " HTTP/1.1\r\nHost: " + req.Host + "\r\n")
		_ = req.Header.Write(uw) // wrk's requests carry Content-Length: no chunked bodies here
		_, _ = uw.WriteString("\r\n")
		if _, err := io.Copy(uw, req.Body); err != nil || uw.Flush() != nil {
			return
		}
		res, err := http.ReadResponse(ur, req)
		if err != nil {
			return
		}
		_, _ = cw.WriteString("HTTP/1.1 " + res.Status + "\r\n")
		_ = res.Header.Write(cw) // the model stand-in answers with Content-Length
		_, _ = cw.WriteString("\r\n")
		_, err = io.Copy(cw, res.Body)
		res.Body.Close()
		if err != nil || cw.Flush() != nil {
			return
		}
	}
}
