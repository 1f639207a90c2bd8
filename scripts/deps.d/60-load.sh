#!/usr/bin/env bash
# Load lens tools. The tests need Lighthouse's npm package (their oracle for
# the median run) and node. Regenerating the fixtures also needs k6 (built
# from source with the Go toolchain) and Debian's Chromium: set
# LOAD_FIXTURE_TOOLS=1 (services/loadcollector/testdata/make-fixtures.sh does)
# to install them; CI does not pay for tools its tests never run.
# Idempotent: installs only what is missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
SUDO="${SUDO:-}"

K6_VERSION=v1.8.1
LIGHTHOUSE_VERSION=13.5.0

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	echo "deps(load): installing nodejs and npm"
	$SUDO apt-get install -y nodejs npm >/dev/null
fi

lh="$root/.cache/lighthouse"
if [ "$(node -p "require('$lh/node_modules/lighthouse/package.json').version" 2>/dev/null)" != "$LIGHTHOUSE_VERSION" ]; then
	echo "deps(load): installing lighthouse ${LIGHTHOUSE_VERSION} into .cache/lighthouse"
	mkdir -p "$lh"
	npm install --prefix "$lh" --no-audit --no-fund --loglevel=error "lighthouse@${LIGHTHOUSE_VERSION}" >/dev/null
fi

[ "${LOAD_FIXTURE_TOOLS:-0}" = 1 ] || exit 0

if ! "$root/.bin/k6" version 2>/dev/null | grep -q "${K6_VERSION#v}"; then
	echo "deps(load): building k6 ${K6_VERSION} (several minutes)"
	GOBIN="$root/.bin" go install "go.k6.io/k6@${K6_VERSION}"
fi
if ! command -v chromium >/dev/null; then
	echo "deps(load): installing chromium"
	$SUDO apt-get install -y chromium >/dev/null
fi
