// Package s3test starts a real S3-compatible server on loopback for tests:
// versitygw with its posix backend in a temporary folder. .ci/run installs
// it; elsewhere a test that needs it skips, unless CI is set, where its
// absence is a failure.
package s3test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/poll"
)

// The credentials of the test server's root user: given to the server on its
// command line and to clients through the AWS SDK's standard environment
// variables, as a user's would be.
const (
	AccessKey = "shadowctl-test"
	SecretKey = "shadowctl-test-secret"
	Region    = "us-east-1"
)

// Server is a running versitygw.
type Server struct {
	// Endpoint is its http:// URL.
	Endpoint string
	// Root is the posix folder whose subfolders are its buckets.
	Root string
}

// Binary finds versitygw on PATH or in $GOPATH/bin (where go install puts it).
func Binary() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		home, _ := os.UserHomeDir()
		gopath = filepath.Join(home, "go")
	}
	p := filepath.Join(gopath, "bin", "versitygw")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// Start runs a server for the test (stopped at its end) and sets the AWS
// credential variables for this process; Env has them for child processes.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("versitygw not installed (.ci/run installs it: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)")
		}
		t.Skip("versitygw not installed: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0")
	}
	root := t.TempDir()
	// A port from :0, given back just before the server takes it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--access", AccessKey, "--secret", SecretKey, "--region", Region, "--port", addr,
		"posix", "--nometa", root)
	logf, err := os.Create(filepath.Join(t.TempDir(), "versitygw.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		logf.Close()
	})
	up := poll.Within(poll.Deadline, func() bool {
		select {
		case <-done:
			return true
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	select {
	case <-done:
		log, _ := os.ReadFile(logf.Name())
		t.Fatalf("versitygw exited at start:\n%s", log)
	default:
	}
	if !up {
		t.Fatalf("versitygw not listening on %s", addr)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", SecretKey)
	return &Server{Endpoint: "http://" + addr, Root: root}
}

// Env is the environment a child process needs to reach the server: the
// credentials through the SDK's standard variables, nothing on a command line.
func (s *Server) Env() []string {
	return append(os.Environ(), "AWS_ACCESS_KEY_ID="+AccessKey, "AWS_SECRET_ACCESS_KEY="+SecretKey)
}

// Bucket creates a bucket (a folder of the posix backend) and returns the
// URL of prefix in it.
func (s *Server) Bucket(t testing.TB, name, prefix string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(s.Root, name), 0o755); err != nil {
		t.Fatal(err)
	}
	return s.URL(name, prefix)
}

// URL is the s3:// URL of prefix in bucket, with the server's endpoint.
func (s *Server) URL(bucketName, prefix string) string {
	return fmt.Sprintf("s3://%s/%s?endpoint=%s&region=%s&use_path_style=true", bucketName, prefix, s.Endpoint, Region)
}
