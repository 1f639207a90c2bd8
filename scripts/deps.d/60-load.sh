#!/usr/bin/env bash
# Load lens tools: k6 (built from source with the Go toolchain) to make and
# refresh load-test fixtures, Lighthouse (npm, project-local) with Debian's
# Chromium for web-vitals fixtures. Idempotent: installs only what is missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

K6_VERSION=v1.8.1
LIGHTHOUSE_VERSION=13.5.0

if ! .bin/k6 version 2>/dev/null | grep -q "${K6_VERSION#v}"; then
	echo "deps(load): building k6 ${K6_VERSION} (several minutes)"
	GOBIN="$root/.bin" go install "go.k6.io/k6@${K6_VERSION}"
fi

if ! command -v chromium >/dev/null; then
	echo "deps(load): installing chromium"
	apt-get install -y chromium >/dev/null || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }
fi

lh="$root/.cache/lighthouse"
if [ "$(cat "$lh/node_modules/lighthouse/package.json" 2>/dev/null | jq -r .version 2>/dev/null)" != "$LIGHTHOUSE_VERSION" ]; then
	echo "deps(load): installing lighthouse ${LIGHTHOUSE_VERSION} into .cache/lighthouse"
	mkdir -p "$lh"
	npm install --prefix "$lh" --no-audit --no-fund --loglevel=error "lighthouse@${LIGHTHOUSE_VERSION}" >/dev/null
fi
