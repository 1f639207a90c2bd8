#!/usr/bin/env bash
# SBOM lens: `trilens sbom DIR` in one process (syft as a library catalogues a
# directory, then the SBOM goes through the collector into the NATS object
# store and JetStream) on a large directory, beside the syft CLI on the same
# directory. The directory is a subset of the Go module cache: the first
# SBOM_BENCH_MODULES modules (default 150), hard-linked into a temp dir (copied
# when hard links are not possible), never committed.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export PATH="$root/.bin:$PATH"
command -v syft >/dev/null || { echo "syft missing: run make deps" >&2; exit 1; }
work="$(mktemp -d)"
# Only directories are made writable to remove them: the files are hard links
# into the read-only module cache.
trap 'find "$work" -type d -exec chmod u+w {} + 2>/dev/null; rm -rf "$work"' EXIT
modules="${SBOM_BENCH_MODULES:-150}"
cache="$(go env GOMODCACHE)"

dir="$work/modcache"
mkdir -p "$dir"
# Module directories are <path>@<version>; the download cache is skipped.
find "$cache" -mindepth 2 -maxdepth 5 -type d -name '*@v*' -not -path "$cache/cache/*" -prune | sort | sed -n "1,${modules}p" |
	while read -r m; do
		dst="$dir/${m#"$cache"/}"
		mkdir -p "$(dirname "$dst")"
		cp -al "$m" "$dst" 2>/dev/null || cp -a "$m" "$dst"
	done
files=$(find "$dir" -type f | wc -l)
mb=$(du -sm "$dir" | cut -f1)

cd "$root/services/sbomcollector"
go build -o "$work/sbombench" ./cmd/sbombench
cat "$(command -v syft)" >/dev/null
find "$dir" -type f -exec cat {} + >/dev/null # warm the page cache for both runs
# Warm the Go build cache for both runs too: syft's Go cataloger loads every
# go.mod with golang.org/x/tools/go/packages, which runs `go list` and caches
# its answers in GOCACHE. Whichever run comes first pays for that (twice the
# time on a 20-module sample), so an untimed run goes first.
syft scan "dir:$dir" -q -o "syft-json=$work/warmup.json"

# sbombench prints key=value pairs: packages bytes events gen_s ingest_s seconds peak_rss_mb.
eval "$("$work/sbombench" -dir "$dir" -cpuprofile "$work/trilens.prof" 2>/dev/null | tr ' ' '\n')"
/usr/bin/time -f '%e %M' -o "$work/syft.time" syft scan "dir:$dir" -q -o "syft-json=$work/syft.json"
read -r syft_s syft_rss_kb <"$work/syft.time"
syft_packages=$(jq '.artifacts | length' "$work/syft.json")
syft_rss_mb=$(echo "$syft_rss_kb / 1024" | bc -l)

echo "## SBOM lens: generation + ingest of a Go module cache subset ($modules modules, $files files, $mb MB)"
echo
echo "| run | packages | seconds | peak RSS (MB) |"
echo "| --- | ---: | ---: | ---: |"
printf '| trilens sbom (syft library, generation %.2f s + ingest %.2f s: collector -> object store + JetStream, %d events) | %d | %.2f | %.0f |\n' \
	"$gen_s" "$ingest_s" "$events" "$packages" "$seconds" "$peak_rss_mb"
printf '| syft scan dir: -o syft-json (CLI v1.54.1) | %d | %.2f | %.0f |\n' "$syft_packages" "$syft_s" "$syft_rss_mb"
printf '| ratio trilens / syft CLI | | %.2f | %.2f |\n' "$(echo "$seconds / $syft_s" | bc -l)" "$(echo "$peak_rss_mb / $syft_rss_mb" | bc -l)"
echo
printf 'sbom ratio %.2f\n' "$(echo "$seconds / $syft_s" | bc -l)"
echo
echo "CPU profile of trilens sbom (in-process only; \`go list\` runs in child processes):"
echo
echo '```'
go tool pprof -top -nodecount=15 "$work/sbombench" "$work/trilens.prof" 2>/dev/null | sed -n '4,22p'
echo '```'
