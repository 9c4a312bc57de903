# shadowctl — see README.md. `make demo` and `make test` are the quick start.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
BIN      := bin
# Cloud Storage's client links gRPC DirectPath (xDS, Envoy's protos) for its
# gRPC API, which gocloud's gs:// buckets do not use: the tag leaves it out
# of every build and test binary (82 -> 63 MB, about 4 ms less per start).
# The user's own GOFLAGS (environment or go env -w) are kept.
export GOFLAGS := $(strip $(shell $(GO) env GOFLAGS) -tags=disable_grpc_modules)

.PHONY: all build test bench lint fmt demo fuzz clean

all: lint build test

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/shadowctl ./cmd/shadowctl

test:
	$(GO) test -race -timeout 15m ./...
	# Every benchmark once, so that make bench cannot break unnoticed (no timing is checked).
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 15m ./...

bench: build
	$(GO) test -run '^$$' -bench . -benchmem -count 5 -timeout 60m ./...
	# The recorder vs direct, nginx and the go floor under wrk, then replay vs vegeta vs wrk, in one run (skips without wrk).
	$(GO) run ./internal/cmd/benchpeers --shadowctl $(BIN)/shadowctl --rounds 5 --duration 5s
	# record --shadow (none, a fast shadow, a 50 ms one at 64 and at 16 workers) vs nginx mirror, and the fast shadow's no-drop rate.
	$(GO) run ./internal/cmd/benchpeers --shadowctl $(BIN)/shadowctl --rounds 5 --duration 5s --shadow

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# demo: record -> replay -> report with two real models on loopback (internal/cmd/demo).
demo: build
	$(GO) build -o $(BIN)/demomodel ./internal/cmd/demomodel
	$(GO) build -o $(BIN)/demo ./internal/cmd/demo
	$(BIN)/demo --shadowctl $(BIN)/shadowctl --demomodel $(BIN)/demomodel --dir demo-out

# fuzz: run every fuzz target for FUZZTIME each (their seed corpora in
# testdata/fuzz also run in make test, as ordinary tests).
FUZZTIME ?= 20s
FUZZ_TARGETS := record:FuzzReadRecording record:FuzzWAL cmd/shadowctl:FuzzParseSize replay:FuzzReadResults \
	report:FuzzCompare report:FuzzJSONPath report:FuzzParseGate report:FuzzReadState internal/h1:FuzzReadHead
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; name=$${t#*:}; echo "== $$pkg $$name ($(FUZZTIME))"; \
	  $(GO) test ./$$pkg -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s; \
	done

clean:
	rm -rf $(BIN)
