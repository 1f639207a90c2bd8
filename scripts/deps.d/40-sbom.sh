#!/usr/bin/env bash
# SBOM lens tools: the cosign CLI (tests sign and attest with it, offline) and
# the syft CLI (fixtures in services/sbomcollector/testdata and the `make bench`
# comparison). Both are built from source with the Go toolchain into .bin;
# cosign is a long compile, so it starts first and syft builds beside it.
# Idempotent: installs only what is missing from .bin or PATH.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN="$(pwd)/.bin"
mkdir -p "$BIN"

COSIGN=github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5
SYFT=github.com/anchore/syft/cmd/syft@v1.54.1

have() { [ -x "$BIN/$1" ] || command -v "$1" >/dev/null 2>&1; }

pids=()
if ! have cosign; then
	echo "deps/sbom: installing $COSIGN" >&2
	GOBIN="$BIN" GOWORK=off GOFLAGS=-mod=mod go install "$COSIGN" &
	pids+=($!)
fi
if ! have syft; then
	echo "deps/sbom: installing $SYFT" >&2
	GOBIN="$BIN" GOWORK=off GOFLAGS=-mod=mod go install "$SYFT" &
	pids+=($!)
fi
for p in "${pids[@]}"; do wait "$p"; done

for t in cosign syft; do
	have "$t" || { echo "deps/sbom: $t still missing after go install" >&2; exit 1; }
done
