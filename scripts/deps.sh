#!/usr/bin/env bash
# Installs what the project needs and Go modules do not bring, then runs every
# scripts/deps.d/*.sh in name order (00-base.sh first: ClickHouse, CA certificates).
# Idempotent, non-interactive, and quick when nothing is missing: `make test`
# runs it every time. Each deps.d script installs only what is missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

export DEBIAN_FRONTEND=noninteractive
# SUDO prefixes apt-get in the scripts when we are not root.
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "deps: not root and no sudo: cannot install system packages" >&2; exit 2; }
	SUDO="sudo -n"
fi
export SUDO

command -v go >/dev/null || { echo "deps: the Go toolchain is missing: install Go 1.26 (https://go.dev/dl/)" >&2; exit 2; }
mkdir -p .bin

# A fresh container has no apt package lists, and the scripts' `apt-get
# install` needs them.
if command -v apt-get >/dev/null && ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
	$SUDO apt-get update </dev/null
fi

for script in scripts/deps.d/*.sh; do
	[ -e "$script" ] || continue
	bash "$script" </dev/null || { echo "deps: $script failed" >&2; exit 1; }
done
