# ops: build, lab, tests. `make demo` and `make test` do all the set-up.
SHELL    := /bin/bash
GO       ?= go
export GOFLAGS := -buildvcs=auto
BIN      := $(CURDIR)/bin
LAB_DIR  ?= $(CURDIR)/.lab
HOSTS    ?= 3
LAB      := $(BIN)/ops-lab --dir $(LAB_DIR)
OPS      := $(BIN)/ops
LABENV   = eval "$$($(LAB) env)"

.PHONY: deps man bench build push deploy check setup inventory remote-test-run local-test-run bin lab-up lab-down lab-env lab-status demo test unit e2e lab-down-test vet fmt release

bin:
	@$(GO) build -o $(BIN)/ ./cmd/...

# Versioned archives and checksums in dist/ (from a tag; SNAPSHOT=1 from
# any commit). Not part of make test.
release:
	@scripts/release.sh $(if $(SNAPSHOT),--snapshot)

## The image and the operation server (the original Makefile's targets, through ops).
build: bin
	$(OPS) build
push: bin
	$(OPS) push
deploy: bin
	$(OPS) deploy
check: bin
	$(OPS) check
setup: bin
	$(OPS) pull
# The inventory as JSON, as the original `make inventory` printed it.
inventory: bin
	@$(BIN)/mackerel-inventory --list

## The lab: a local stand-in for a data center (see README.md).
lab-up: bin
	$(LAB) up --hosts $(HOSTS)

lab-down: bin
	$(LAB) down

lab-status: bin
	$(LAB) status

# `make -s lab-env` prints export lines only.
lab-env: bin
	@$(LAB) env

## The main job on the lab; grows as capabilities land.
demo: lab-up
	@scripts/demo.sh

# As the original Makefile: a parallel command through the container.
remote-test-run: bin
	$(OPS) remote-container -- ansible -i /usr/local/bin/mackerel-inventory all -m raw -a uptime
local-test-run: bin
	$(OPS) local-container -- ansible -i /usr/local/bin/mackerel-inventory all -m raw -a uptime

## Tests: unit tests, then end-to-end tests of the built binaries against the lab.
test: deps vet unit e2e lab-down-test

# Debian's packages the tests need (ansible-core, git, sshd, docker.io…),
# installed when missing: make test works on a fresh machine.
deps: bin
	$(LAB) deps

vet:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt needed"; exit 1; }
	@$(GO) mod tidy -diff || { echo "go mod tidy needed"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/...

# go test's own 10-minute default is too short for these packages; the
# bounds are explicit (CI has 90 minutes in all).
unit:
	$(GO) test -count=1 -timeout 30m ./...

# ops exec is proven on at least 20 real hosts.
e2e: HOSTS := 20
e2e: lab-up
	$(LABENV); OPS_BIN=$(BIN) $(GO) test -tags e2e -count=1 -timeout 60m -v ./e2e/...

# Last: stops the lab and proves nothing is left behind.
lab-down-test: bin
	OPS_BIN=$(BIN) OPS_LAB_DIR=$(LAB_DIR) $(GO) test -tags labdown -count=1 -timeout 20m -v -run TestLabDown ./e2e/...

# ops exec against ansible and parallel-ssh on a simulated fleet (N=1000, LARGE=10000).
bench: bin
	@scripts/bench.sh

# The man page, from the same declarations as --help.
man: bin
	@mkdir -p man
	$(OPS) __man > man/ops.1
	@echo "man/ops.1 (man -l man/ops.1)"

fmt:
	gofmt -w .
