package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// startNginx runs nginx from dir as a reverse proxy to upstream; with
// mirror set, it also mirrors each request, body included, to that address
// (ngx_http_mirror_module), as the peer of record --shadow. It returns
// nginx's address, its master's pid and its stop.
func startNginx(ctx context.Context, bin, dir, upstream, mirror string) (string, int, func(), error) {
	addr, err := freePort()
	if err != nil {
		return "", 0, nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", 0, nil, err
	}
	// Both upstreams keep connections alive, so the mirror pays for no
	// more than the wait on its shadow.
	var mirrorUp, mirrorDirectives, mirrorLocation string
	if mirror != "" {
		mirrorUp = fmt.Sprintf("\n  upstream shadow { server %s; keepalive 64; }", mirror)
		mirrorDirectives = `
      mirror /mirror;
      mirror_request_body on;`
		mirrorLocation = `
    location = /mirror {
      internal;
      proxy_pass http://shadow$request_uri;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }`
	}
	conf := fmt.Sprintf(`daemon off;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  upstream up { server %[2]s; keepalive 64; }%[4]s
  server {
    listen %[3]s;
    location / {%[5]s
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }%[6]s
  }
}
`, dir, upstream, addr, mirrorUp, mirrorDirectives, mirrorLocation)
	cf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		return "", 0, nil, err
	}
	cmd := exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", cf)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", 0, nil, fmt.Errorf("start nginx: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	if err := waitListening(ctx, addr, exited); err != nil {
		stop()
		return "", 0, nil, fmt.Errorf("nginx: %w", err)
	}
	return addr, cmd.Process.Pid, stop, nil
}
