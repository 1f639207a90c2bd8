#!/usr/bin/env bash
# Builds the trilens binary reproducibly, proves it by building it twice and
# comparing the bytes, writes its SBOM with `trilens sbom`, and signs the
# binary and the SBOM with cosign (a key pair, offline: no transparency log).
#
#   scripts/release.sh [OUT]      (default OUT: dist)
#
# OUT receives trilens, trilens.sbom.json, their Sigstore bundles
# (*.sigstore.json) and cosign.pub. COSIGN_KEY names an existing cosign key
# (COSIGN_PASSWORD unlocks it); without it a throwaway key pair signs, and
# only its public half is kept (the self-audit verifies against it).
#
# Reproducible: -trimpath drops local paths, -buildvcs=false the VCS stamp,
# -buildid= the build id, CGO is off; the second build runs with an empty
# build cache, so every package is compiled again. RELEASE_REBUILD=link keeps
# the cache for the second build (only the link runs again): `make test` uses
# it to stay fast, `make release` does not.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$root/.bin:$PATH"

out="$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)"
rebuild="${RELEASE_REBUILD:-fresh}"
command -v cosign >/dev/null || { echo "release: cosign is missing: run scripts/deps.sh" >&2; exit 2; }

build() { # output [extra env...]
	local o=$1
	shift
	env "$@" CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -buildvcs=false \
		-ldflags='-s -w -buildid=' -o "$o" ./services/trilens/cmd/trilens
}

t0=$SECONDS
build "$out/trilens"
t1=$SECONDS
second="$(mktemp -d "${TMPDIR:-/tmp}/trilens-release.XXXXXX")"
trap 'chmod -R u+w "$second" 2>/dev/null; rm -rf "$second"' EXIT
case "$rebuild" in
fresh) build "$second/trilens" GOCACHE="$second/cache" ;;
link) build "$second/trilens" ;;
*) echo "release: RELEASE_REBUILD=$rebuild: want fresh or link" >&2; exit 2 ;;
esac
t2=$SECONDS
if ! cmp -s "$out/trilens" "$second/trilens"; then
	echo "release: the two builds differ: the build is not reproducible" >&2
	sha256sum "$out/trilens" "$second/trilens" >&2
	exit 1
fi
echo "release: reproducible: two builds ($rebuild second build) are identical, sha256 $(sha256sum <"$out/trilens" | cut -d' ' -f1) (build $((t1 - t0))s, rebuild $((t2 - t1))s)" >&2

# syft catalogues directories and images, so the binary goes alone into one.
mkdir "$second/sbom"
cp "$out/trilens" "$second/sbom/"
"$out/trilens" sbom --no-submit --artifact trilens --output "$out/trilens.sbom.json" "$second/sbom"

key="${COSIGN_KEY:-}"
if [ -z "$key" ]; then
	export COSIGN_PASSWORD="${COSIGN_PASSWORD:-$(head -c 24 /dev/urandom | base64)}"
	rm -f "$out/cosign.key" "$out/cosign.pub"
	(cd "$out" && cosign generate-key-pair >/dev/null)
	key="$out/cosign.key"
else
	cosign public-key --key "$key" >"$out/cosign.pub"
fi
for f in trilens trilens.sbom.json; do
	COSIGN_YES=true cosign sign-blob --key "$key" --tlog-upload=false --new-bundle-format \
		--bundle "$out/$f.sigstore.json" "$out/$f" >/dev/null
done
[ -n "${COSIGN_KEY:-}" ] || rm -f "$out/cosign.key" # throwaway: only cosign.pub is needed to verify
echo "release: $out: trilens, trilens.sbom.json, signed (cosign.pub)" >&2
