#!/usr/bin/env bash
# The scan lens's tools: jq, GNU time and bc for its bench script, and the
# scanners the self-audit runs (scripts/self-audit.sh, the end of `make
# test`): gosec, gitleaks and govulncheck, always; with TRILENS_SCAN_TOOLS=1
# also the other scanners that regenerate its fixtures
# (services/scancollector/testdata/make-fixtures.sh sets it). Idempotent:
# installs only what is missing from .bin or PATH. Trivy is not here: the
# module proxy refuses github.com/aquasecurity/trivy.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN="$(pwd)/.bin"
mkdir -p "$BIN"

for tool in jq:jq time:/usr/bin/time bc:bc; do
	if ! command -v "${tool#*:}" >/dev/null 2>&1; then
		apt-get install -y "${tool%%:*}"
	fi
done

install_go() { # name package@version
	local name=$1 pkg=$2
	if [ -x "$BIN/$name" ] || command -v "$name" >/dev/null 2>&1; then return; fi
	echo "deps/scan: installing $pkg" >&2
	GOBIN="$BIN" GOWORK=off GOFLAGS=-mod=mod go install "$pkg"
}

install_go gosec github.com/securego/gosec/v2/cmd/gosec@v2.29.0
install_go gitleaks github.com/zricethezav/gitleaks/v8@v8.30.1
install_go govulncheck golang.org/x/vuln/cmd/govulncheck@v1.9.0

[ "${TRILENS_SCAN_TOOLS:-}" = 1 ] || exit 0
install_go staticcheck honnef.co/go/tools/cmd/staticcheck@v0.8.2
install_go golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
