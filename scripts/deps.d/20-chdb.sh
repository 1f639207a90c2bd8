#!/usr/bin/env bash
# ClickHouse 26.x in process for the cross-engine tests: chDB's libchdb.so
# from the npm registry, unpacked to .cache/chdb/libchdb.so. Tests load it
# through CHDB_LIB_PATH (the Makefile points it there). npm, which checks the
# package against the registry's integrity hash, is also what the load lens
# needs. Idempotent: does nothing when that version is already unpacked.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
SUDO="${SUDO:-}"

CHDB_PACKAGE=@chdb/lib-linux-x64-gnu
CHDB_VERSION=26.7.3-stable.1

dir="$root/.cache/chdb"
[ -f "$dir/libchdb.so" ] && [ "$(cat "$dir/VERSION" 2>/dev/null)" = "$CHDB_VERSION" ] && exit 0

if ! command -v npm >/dev/null; then
	echo "deps(chdb): installing npm"
	$SUDO apt-get install -y npm >/dev/null
fi
echo "deps(chdb): installing ${CHDB_PACKAGE}@${CHDB_VERSION} (libchdb.so, 170 MB download) into .cache/chdb" >&2
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent --loglevel=error "${CHDB_PACKAGE}@${CHDB_VERSION}" >/dev/null)
tar -xzf "$tmp"/*.tgz -C "$tmp" package/libchdb.so
mkdir -p "$dir"
mv "$tmp/package/libchdb.so" "$dir/libchdb.so.tmp"
mv "$dir/libchdb.so.tmp" "$dir/libchdb.so"
echo "$CHDB_VERSION" >"$dir/VERSION"
