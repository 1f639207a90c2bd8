# Trilens: build, test, benchmark and run. The workspace root is not a
# module, so targets loop over the modules go.work lists.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

BIN := $(CURDIR)/.bin
export PATH := $(BIN):$(PATH)
export GOBIN := $(BIN)
# ClickHouse 26.x in process for the cross-engine tests (scripts/deps.d/20-chdb.sh).
export CHDB_LIB_PATH ?= $(CURDIR)/.cache/chdb/libchdb.so

MODULES = $(shell go list -m -f '{{.Dir}}')

.PHONY: all help deps tools proto proto-check build vet test bench demo tidy tidy-check fresh-check

all: build

help:
	@echo "make demo   install what is missing, start the whole stack, feed it demo evidence"
	@echo "make test   run every test against real NATS and ClickHouse (what CI runs)"
	@echo "make bench  run the benchmarks and print their figures"
	@echo "make proto  regenerate the Go code of proto/"
	@echo "make fresh-check  run make demo and make test in a fresh Debian 12 root (root, network)"
	@echo "make tidy   tidy every module's go.mod"

# deps installs what Go modules do not bring (Debian's clickhouse-server,
# the scanners and tools the tests run): scripts/deps.sh and deps.d/.
deps:
	scripts/deps.sh

# tools installs the pinned proto toolchain (buf, protoc-gen-go) into .bin.
tools:
	scripts/protogen.sh tools

# proto regenerates proto/**/*.pb.go; it replaces the committed files only
# after the whole generation succeeded.
proto:
	scripts/protogen.sh generate

# proto-check runs buf lint, buf breaking against main, and fails when the
# committed generated code differs from freshly generated code (generated in
# a temp dir: the checkout is never written). protogen_test.sh proves that a
# broken toolchain leaves every committed file as it was.
proto-check:
	scripts/protogen.sh check
	scripts/protogen_test.sh

build:
	for m in $(MODULES); do (cd $$m && go build ./...); done
	go build -o $(BIN)/trilens ./services/trilens/cmd/trilens

vet:
	for m in $(MODULES); do (cd $$m && go vet ./...); done

# test runs every module's tests, even after a failure, and fails at the end.
# Figures a passing package's output would hide are collected in files and
# printed last: the statements the cross-engine check (services/trilens/
# sqlcompat) ran on each ClickHouse, and the chaos suite's counts.
test: export SQLCOMPAT_REPORT := $(CURDIR)/.run/sqlcompat-statements.txt
test: export TRILENS_CHAOS_FIGURES := $(CURDIR)/.run/chaos-figures.txt
test: deps proto-check tidy-check vet
	mkdir -p .run; rm -f $(SQLCOMPAT_REPORT) $(TRILENS_CHAOS_FIGURES)
	failed=""; for m in $(MODULES); do (cd $$m && go test -count=1 -timeout 30m ./...) || failed="$$failed $${m#$(CURDIR)/}"; done; \
	if [ -f $(SQLCOMPAT_REPORT) ]; then cat $(SQLCOMPAT_REPORT); fi; \
	if [ -f $(TRILENS_CHAOS_FIGURES) ]; then cat $(TRILENS_CHAOS_FIGURES); fi; \
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

# fresh-check runs `make demo` and `make test` as a new user would, in a
# minimal Debian 12 root (debootstrap) on a clone of HEAD with empty Go
# caches. Opt-in: needs root and the network, and takes long (README).
fresh-check:
	scripts/fresh-check.sh

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
