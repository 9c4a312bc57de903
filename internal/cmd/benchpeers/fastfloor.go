package main

import (
	"errors"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// fastFloorEnv starts this binary as the fasthttp floor: "UPSTREAM_ADDR".
const fastFloorEnv = "BENCHPEERS_FASTHTTP_FLOOR"

// The fasthttp floor is the go floor's twin on valyala/fasthttp, the server
// the production-path issue names as an acceptable swap: its server and its
// HostClient, header names as sent, nothing recorded, no limits, no
// hop-by-hop handling beyond Connection. Next to the go floor it shows what
// a change of server alone could buy on this machine, before any of the
// recorder's work is added back.
func runFastFloor(upstream string) error {
	ln, err := helperListener()
	if err != nil {
		return err
	}
	up := &fasthttp.HostClient{Addr: upstream, MaxConns: 4096, MaxIdleConnDuration: time.Minute,
		DisableHeaderNamesNormalizing: true, DisablePathNormalizing: true}
	srv := &fasthttp.Server{
		DisableHeaderNamesNormalizing: true,
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.Request.Header.Del("Connection")
			if err := up.Do(&ctx.Request, &ctx.Response); err != nil {
				ctx.Error("bad gateway", fasthttp.StatusBadGateway)
			}
		},
	}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}
