# Trilens: build, test, benchmark and run. The workspace root is not a
# module, so targets loop over the modules go.work lists.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

BIN := $(CURDIR)/.bin
export PATH := $(BIN):$(PATH)
export GOBIN := $(BIN)

PROTOC_GEN_GO_VERSION := v1.36.12
MODULES = $(shell go list -m -f '{{.Dir}}')

.PHONY: all help deps tools proto proto-check build vet test bench demo tidy tidy-check

all: build

help:
	@echo "make demo   install what is missing, start the whole stack, feed it demo evidence"
	@echo "make test   run every test against real NATS and ClickHouse (what CI runs)"
	@echo "make bench  run the benchmarks and print their figures"
	@echo "make proto  regenerate the Go code of proto/"
	@echo "make tidy   tidy every module's go.mod"

# deps installs what Go modules do not bring (Debian's clickhouse-server,
# protoc, the scanners and tools the tests run): scripts/deps.sh and deps.d/.
deps:
	scripts/deps.sh

$(BIN)/protoc-gen-go:
	go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

tools: $(BIN)/protoc-gen-go

proto: tools
	scripts/protogen.sh

# proto-check fails when the committed generated code differs from the sources.
proto-check: proto
	@git diff --exit-code --stat -- proto/ || { echo "generated code in proto/ is stale: run make proto and commit" >&2; exit 1; }

build:
	for m in $(MODULES); do (cd $$m && go build ./...); done
	go build -o $(BIN)/trilens ./services/trilens/cmd/trilens

vet:
	for m in $(MODULES); do (cd $$m && go vet ./...); done

# test runs every module's tests, even after a failure, and fails at the end.
test: deps proto-check tidy-check vet
	failed=""; for m in $(MODULES); do (cd $$m && go test -count=1 -timeout 30m ./...) || failed="$$failed $${m#$(CURDIR)/}"; done; \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed" >&2; exit 1; fi
	scripts/self-audit.sh

bench: deps build
	scripts/bench.sh

demo: deps build
	$(BIN)/trilens up --demo

tidy:
	for m in $(MODULES); do (cd $$m && go mod tidy); done

tidy-check: tidy
	@git diff --exit-code --stat -- '*go.mod' '*go.sum' || { echo "go.mod/go.sum not tidy: run make tidy and commit" >&2; exit 1; }

# grafana builds a real Grafana (API only) and the ClickHouse data source
# plugin under .cache/grafana (30-45 minutes cold, cached); test-grafana
# pushes every dashboard, folder and alert rule to it and runs one panel
# query through it against a real ClickHouse. Both stay out of `make test`.
.PHONY: grafana test-grafana
grafana:
	scripts/grafana/build.sh

test-grafana: deps grafana
	cd services/trilens && TRILENS_GRAFANA_HOME=$(CURDIR)/.cache/grafana go test -tags grafana -count=1 -timeout 15m -run TestRealGrafana ./dashboards/

# self-audit feeds Trilens its own evidence (release build, SBOM, cosign
# signatures, gosec, gitleaks, govulncheck when a vulnerability database is
# at hand) through the CLI into a private `trilens up` and gates on
# .trilens/self-audit.yaml; `make test` ends with it. release builds the
# binary twice from an empty build cache, checks the builds are identical,
# writes its SBOM and signs both into dist/ (COSIGN_KEY: a key of your own).
.PHONY: self-audit release
self-audit: deps
	scripts/self-audit.sh

release: deps
	scripts/release.sh dist
