# Trilens build, test and tooling. The workspace root is not a module, so the
# targets loop over the modules go.work lists.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

BIN := $(CURDIR)/.bin
export PATH := $(BIN):$(PATH)
export GOBIN := $(BIN)

PROTOC_GEN_GO_VERSION := v1.36.12
MODULES = $(shell go list -m -f '{{.Dir}}')

.PHONY: all build vet test bench tidy proto proto-check deps tools up demo

all: build

# deps installs everything the tests and the stack need that Go modules do not bring.
deps:
	scripts/deps.sh

$(BIN)/protoc-gen-go:
	go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

tools: $(BIN)/protoc-gen-go

proto: tools
	scripts/protogen.sh

# proto-check fails when the committed generated code differs from what the sources give.
proto-check: proto
	git diff --exit-code -- proto/ || { echo "generated code is stale: run make proto and commit" >&2; exit 1; }

build:
	for m in $(MODULES); do (cd $$m && go build ./...); done

vet:
	for m in $(MODULES); do (cd $$m && go vet ./...); done

test: deps
	for m in $(MODULES); do (cd $$m && go test -count=1 -timeout 20m ./...); done

tidy:
	scripts/tidy.sh
