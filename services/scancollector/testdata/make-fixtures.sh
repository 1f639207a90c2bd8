#!/usr/bin/env bash
# Regenerates the real-tool fixtures in reports/ (see README.md), installing
# the scanners first (scripts/deps.d/30-scan.sh). Run from anywhere.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
TRILENS_SCAN_TOOLS=1 "$here/../../../scripts/deps.d/30-scan.sh"
BIN="$(cd "$here/../../.." && pwd)/.bin"
export PATH="$BIN:$PATH"
out="$here/reports"
src="$here/src"
mkdir -p "$out"

# Static analysis of a deliberately insecure program.
(cd "$src/vulnapp" && GOWORK=off GOFLAGS=-mod=mod gosec -quiet -no-fail -fmt sarif -out "$out/gosec.sarif" ./...)
(cd "$src/vulnapp" && GOWORK=off GOFLAGS=-mod=mod golangci-lint run --default=none \
	--enable gosec,errcheck,staticcheck,govet,ineffassign,unused \
	--output.sarif.path="$out/golangci-lint.sarif" --output.text.path=stderr --issues-exit-code=0 ./...)
# staticcheck finds nothing in vulnapp, so it runs on real code: the html and
# hpack packages of golang.org/x/net v0.12.0 (vulnapp's dependency) in the module cache.
(cd "$src/vulnapp" && GOWORK=off go mod download golang.org/x/net)
(cd "$(GOWORK=off go env GOMODCACHE)/golang.org/x/net@v0.12.0" && GOWORK=off GOFLAGS=-mod=mod staticcheck -checks all -f sarif ./html/... ./http2/hpack/... > "$out/staticcheck.sarif" || true)

# govulncheck against a local copy of two real Go vulnerability database
# entries (testdata/vulndb; the network database cannot be reached here).
(cd "$src/vulnapp" && GOWORK=off GOFLAGS=-mod=mod govulncheck -db "file://$here/vulndb" -json ./... > "$out/govulncheck.json")

# gitleaks on a throw-away git repository holding fake secrets.
repo="$(mktemp -d)"
trap 'rm -rf "$repo"' EXIT
cp -r "$src/secrets-repo-files/." "$repo/"
git -C "$repo" init -q
git -C "$repo" -c user.name=fixture -c user.email=fixture@example.com add .
GIT_AUTHOR_DATE=2026-11-22T12:00:00Z GIT_COMMITTER_DATE=2026-11-22T12:00:00Z git -C "$repo" -c user.name=fixture -c user.email=fixture@example.com commit -qm fixture
gitleaks git --no-banner --exit-code 0 --report-format json --report-path "$out/gitleaks.json" "$repo"
gitleaks git --no-banner --exit-code 0 --report-format sarif --report-path "$out/gitleaks.sarif" "$repo"

# trivy: secrets and misconfigurations work offline (the vulnerability
# database cannot be downloaded here).
if command -v trivy >/dev/null; then
	trivy fs --quiet --offline-scan --skip-db-update --skip-check-update --scanners secret,misconfig \
		--format json --output "$out/trivy.json" "$src"
fi
