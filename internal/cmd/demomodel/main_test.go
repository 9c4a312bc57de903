package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/demomodel"
)

// TestMain lets TestSignals run this test binary as the command itself.
func TestMain(m *testing.M) {
	if os.Getenv("DEMOMODEL_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var listeningLine = regexp.MustCompile(`^listening on (http://127\.0\.0\.1:[0-9]+)\n$`)

// firstRow is dataset row 0, which every version labels malignant.
func firstRow(t *testing.T) []float64 {
	t.Helper()
	d, err := demomodel.Load()
	if err != nil {
		t.Fatal(err)
	}
	return d.Features[0]
}

// infer asks the server at base for a V2 prediction of x and returns the
// model version and label.
func infer(t *testing.T, base string, x []float64) (version, label string) {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"inputs": []map[string]any{{"name": "input-0", "shape": []int{1, len(x)}, "datatype": "FP32", "data": x}},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/v2/models/breast-cancer/infer", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("infer: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		ModelVersion string `json:"model_version"`
		Outputs      []struct {
			Data []string `json:"data"`
		} `json:"outputs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || len(out.Outputs) != 1 || len(out.Outputs[0].Data) != 1 {
		t.Fatalf("infer: status %d, decode error %v, %+v", resp.StatusCode, err, out)
	}
	return out.ModelVersion, out.Outputs[0].Data[0]
}

func TestRunServesUntilCancelled(t *testing.T) {
	for _, version := range demomodel.Versions {
		t.Run(version, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stdoutR, stdoutW := io.Pipe()
			var stderr bytes.Buffer // written only by run, read after it returns
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, []string{"--version", version, "--latency", "0"}, stdoutW, &stderr)
				stdoutW.Close()
			}()

			line, err := bufio.NewReader(stdoutR).ReadString('\n')
			m := listeningLine.FindStringSubmatch(line)
			if err != nil || m == nil {
				cancel()
				t.Fatalf("first stdout line %q (%v), want %q; run: %v", line, err, listeningLine, <-done)
			}
			base := m[1]

			if resp, err := http.Get(base + "/v2/health/ready"); err != nil || resp.StatusCode != 200 {
				t.Fatalf("ready: %v %v", resp, err)
			} else {
				resp.Body.Close()
			}
			if gotVersion, label := infer(t, base, firstRow(t)); gotVersion != version || label != "malignant" {
				t.Errorf("infer: version %q label %q, want %q malignant", gotVersion, label, version)
			}

			cancel()
			rest, _ := io.ReadAll(stdoutR) // until run returns and closes the pipe
			if err := <-done; err != nil {
				t.Fatalf("run: %v", err)
			}
			if len(rest) != 0 {
				t.Errorf("stdout after the listening line: %q, want nothing", rest)
			}
			for _, want := range []string{"trained model", "serving", "stopped"} {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
				}
			}
			if _, err := http.Get(base + "/v2/health/ready"); err == nil {
				t.Error("server still answers after shutdown")
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		is      error
	}{
		{name: "unknown version", args: []string{"--version", "v3"}, wantErr: `unknown model version "v3"`},
		{name: "fail rate", args: []string{"--fail-rate", "2"}, wantErr: "fail rate 2 outside [0, 1]"},
		{name: "bad name", args: []string{"--name", "a/b"}, wantErr: `model name "a/b"`},
		{name: "extra argument", args: []string{"serve"}, wantErr: `unexpected arguments ["serve"]`},
		{name: "bad listen", args: []string{"--listen", "127.0.0.1:notaport"}, wantErr: "listen: "},
		{name: "unknown flag", args: []string{"--nope"}, is: errUsage},
		{name: "bad duration", args: []string{"--latency", "fast"}, is: errUsage},
		{name: "help", args: []string{"-h"}, is: flag.ErrHelp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			switch {
			case err == nil:
				t.Fatal("run succeeded, want an error")
			case tt.is != nil && !errors.Is(err, tt.is):
				t.Errorf("run error = %v, want %v", err, tt.is)
			case tt.is == nil && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("run error = %v, want it to contain %q", err, tt.wantErr)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
			if tt.is != nil && !strings.Contains(stderr.String(), "-fail-rate") {
				t.Errorf("stderr lacks the usage:\n%s", stderr.String())
			}
		})
	}
}

// TestSignals runs the real command and stops it with each signal.
func TestSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "--version", "v2", "--jitter", "1ms")
			cmd.Env = append(os.Environ(), "DEMOMODEL_RUN_MAIN=1")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			out := bufio.NewReader(stdout)
			line, err := out.ReadString('\n')
			m := listeningLine.FindStringSubmatch(line)
			if err != nil || m == nil {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("first stdout line %q (%v); stderr:\n%s", line, err, stderr.String())
			}
			if version, label := infer(t, m[1], firstRow(t)); version != "v2" || label != "malignant" {
				t.Errorf("infer: version %q label %q, want v2 malignant", version, label)
			}

			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			rest, _ := io.ReadAll(out)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("exit: %v; stderr:\n%s", err, stderr.String())
			}
			if len(rest) != 0 {
				t.Errorf("stdout after the listening line: %q, want nothing", rest)
			}
			if !strings.Contains(stderr.String(), "stopped") {
				t.Errorf("stderr lacks the clean stop:\n%s", stderr.String())
			}
		})
	}
}
