# carto-setup: `make` runs lint and the tests. Every target is phony.
.PHONY: all generate fmt lint vet staticcheck deadcode imports check-generated test test-all test-short build run demo demo-deps demo-clean bench bench-logs docker clean ci deps

SHELL   := /bin/bash
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/carto-setup/carto-setup/internal/app.Version=$(VERSION)
BIN     := bin/carto-setup
ARGS    ?=

all: lint test

# Regenerate templ code; the generated files are committed.
generate:
	$(GO) tool templ generate

fmt:
	$(GO) tool templ fmt .
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...

# The committed *_templ.go files must match their .templ sources.
check-generated: generate
	@git diff --exit-code -- '*_templ.go' || (echo "generated templ code is stale: run make generate and commit" && exit 1)
	@test -z "$$(git status --porcelain -- '*_templ.go')" || (echo "untracked generated files: commit them" && git status --porcelain -- '*_templ.go' && exit 1)

lint: vet check-generated staticcheck deadcode imports
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

staticcheck:
	$(GO) tool staticcheck ./...

# Functions the binary never calls but that stay on purpose, one per line
# as package-path.Name. A name here that the binary does call fails the
# check too, so the list never outlives its reason. The reasons:
#   app.WithClock, auth.Auth.SignIn, auth.Throttle.LockedOut,
#   statelock.Holding, custpkg.RequiredVars, standin.Ports: hooks and
#     helpers that only tests use (a fixed clock, a sign-in without an
#     address, reading a lock's holder without taking it).
#   release.SampleCustomerEnv, release.RealisticCustomerEnv: the customer
#     packages the tests of several packages install.
#   migrations.Latest: the test that wizard.SchemaVersion is the newest
#     migration.
#   engine.NewLogClient, logstream.NewMasker: used by the log benchmark,
#     a program of its own (internal/bench/logbench).
DEADCODE_ALLOW := \
	github.com/carto-setup/carto-setup/internal/app.WithClock \
	github.com/carto-setup/carto-setup/internal/auth.Auth.SignIn \
	github.com/carto-setup/carto-setup/internal/auth.Throttle.LockedOut \
	github.com/carto-setup/carto-setup/internal/statelock.Holding \
	github.com/carto-setup/carto-setup/internal/custpkg.RequiredVars \
	github.com/carto-setup/carto-setup/internal/demo/standin.Ports \
	github.com/carto-setup/carto-setup/internal/demo/release.SampleCustomerEnv \
	github.com/carto-setup/carto-setup/internal/demo/release.RealisticCustomerEnv \
	github.com/carto-setup/carto-setup/migrations.Latest \
	github.com/carto-setup/carto-setup/internal/engine.NewLogClient \
	github.com/carto-setup/carto-setup/internal/logstream.NewMasker

# The binary's call graph from main: any function nothing reaches is dead,
# unless DEADCODE_ALLOW says why it stays.
deadcode:
	@found=$$($(GO) tool deadcode -f '{{range .Funcs}}{{$$.Path}}.{{.Name}}{{"\n"}}{{end}}' ./cmd/carto-setup | sort -u); \
	allow=$$(printf '%s\n' $(DEADCODE_ALLOW) | sort -u); \
	dead=$$(comm -23 <(echo "$$found") <(echo "$$allow") | grep . || true); \
	stale=$$(comm -13 <(echo "$$found") <(echo "$$allow") | grep . || true); \
	if [ -n "$$dead" ]; then echo "unreachable from main (delete, wire, or add to DEADCODE_ALLOW with why):"; echo "$$dead"; fi; \
	if [ -n "$$stale" ]; then echo "in DEADCODE_ALLOW but reachable now (remove them):"; echo "$$stale"; fi; \
	test -z "$$dead$$stale"

# Imports in three groups (standard library, third party, ours) in the
# shipped code; generated templ code is left as templ writes it.
imports:
	@out=$$($(GO) tool goimports -local github.com/carto-setup/carto-setup -l $$(git ls-files '*.go' | grep -v -e '_test\.go$$' -e '_templ\.go$$')); \
	if [ -n "$$out" ]; then echo "goimports would regroup (go tool goimports -local github.com/carto-setup/carto-setup -w FILE):"; echo "$$out"; exit 1; fi

# The whole suite. Tests that need Docker, PostgreSQL, redis-server or
# Chromium skip when those are missing, except under CI=true where they fail.
# The browser tests run after the rest, not beside it: Chromium aborts page
# loads (ERR_NETWORK_CHANGED) whenever another test's containers change the
# host's interfaces.
test:
	$(GO) test -race -count=1 -timeout 40m $$($(GO) list ./... | grep -v /internal/e2e)
	$(GO) test -race -count=1 -timeout 30m ./internal/e2e

test-short:
	$(GO) test -short -count=1 ./...

# Install what the tests need (Debian, as root), then run the whole suite.
test-all: deps test

deps:
	bash .ci/install-deps

# A static binary: the stand-in and helper images are built FROM scratch
# from it, so it must not need a C library.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/carto-setup

run: build
	./$(BIN) $(ARGS)

# Start the wizard on a stand-in CARTO release (no licence needed), with
# the demo's own PostgreSQL (its programs are installed first when missing
# and this is root). The wizard stops with Ctrl-C; the stack and the demo
# database keep running until `make demo-clean`.
demo: demo-deps
	@echo "make demo: building $(BIN) (the first build downloads the Go modules and compiles everything: 3 to 6 minutes on 2 cores; later builds take seconds)..."
	@$(MAKE) --no-print-directory build
	@echo "make demo: starting the wizard on a stand-in CARTO release..."
	./$(BIN) --demo $(ARGS)

demo-deps:
	@bash .ci/demo-deps

# Stop the demo's stack and PostgreSQL and remove everything the demo made:
# its containers, volumes and images, its database and its state directory.
demo-clean: build
	./$(BIN) down --demo --purge $(ARGS)

# Go micro-benchmarks, then the wizard binary's start-up time, idle memory
# and page-render latency (internal/bench/wizbench). Reports; never gates.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./internal/bench/wizbench -bin $(BIN)

# The live log view against docker logs -f on the same containers in one
# run (internal/bench/logbench; needs Docker, about 8 minutes on 2 cores).
# The tables go to stdout, the raw results to bin/bench-logs.json; see
# docs/performance.md. LOGBENCH passes flags, e.g.
# LOGBENCH="-phases burst -cpuprofile bin/pprof".
LOGBENCH ?=
bench-logs:
	$(GO) run ./internal/bench/logbench -json bin/bench-logs.json $(LOGBENCH)

docker:
	docker build -t carto-setup:$(VERSION) .

clean:
	rm -rf bin

ci: lint test-all
