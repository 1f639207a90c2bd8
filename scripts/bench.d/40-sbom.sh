#!/usr/bin/env bash
# SBOM lens: `trilens sbom DIR` in one process (syft as a library catalogues a
# directory, then the SBOM goes through the collector into the NATS object
# store and JetStream) on a large directory, beside the syft CLI on the same
# directory. The directory is a fixed set of Go modules: the module versions
# listed in 40-sbom.modules (the first SBOM_BENCH_MODULES of them, default all),
# downloaded into the module cache through the Go module proxy when missing and
# hard-linked into a temp dir (copied when hard links are not possible), never
# committed. The same list on every machine keeps runs comparable.
# The syft CLI is syftprof: syft's own cmd/syft/cli at the version go.mod pins,
# built against the same dependencies as the library path (the released
# binary would bring its own x/tools and friends) and CPU-profiled the same
# way, so both profiles print below. Wall time moves with the machine's load;
# CPU seconds (the process and its `go list` children) move far less.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export PATH="$root/.bin:$PATH"
work="$(mktemp -d)"
# Only directories are made writable to remove them: the files are hard links
# into the read-only module cache.
trap 'find "$work" -type d -exec chmod u+w {} + 2>/dev/null; rm -rf "$work"' EXIT
cache="$(go env GOMODCACHE)"
list="$root/scripts/bench.d/40-sbom.modules"
modules="${SBOM_BENCH_MODULES:-$(grep -cv '^#' "$list")}"

dir="$work/modcache"
mkdir -p "$dir"
# `go mod download -json` names each module's directory in the module cache
# (in the cache's case encoding) and fetches the ones this machine lacks; it
# runs outside any module, so the list needs no go.mod of its own.
mapfile -t mods < <(grep -v '^#' "$list" | sed -n "1,${modules}p")
(cd "$work" && GOWORK=off GOFLAGS=-mod=mod go mod download -json "${mods[@]}") |
	jq -r 'if .Error then error("go mod download \(.Path)@\(.Version): \(.Error)") else .Dir end' |
	while read -r m; do
		dst="$dir/${m#"$cache"/}"
		mkdir -p "$(dirname "$dst")"
		cp -al "$m" "$dst" 2>/dev/null || cp -a "$m" "$dst"
	done
files=$(find "$dir" -type f | wc -l)
mb=$(du -sm "$dir" | cut -f1)

cd "$root/services/sbomcollector"
go build -o "$work/sbombench" ./cmd/sbombench
go build -o "$work/syft" ./cmd/syftprof
find "$dir" -type f -exec cat {} + >/dev/null # warm the page cache for both runs
# Warm the Go build cache for both runs too: syft's Go cataloger loads every
# go.mod with golang.org/x/tools/go/packages, which runs `go list` and caches
# its answers in GOCACHE. Whichever run comes first pays for that (twice the
# time on a 20-module sample), so an untimed run goes first.
"$work/syft" scan "dir:$dir" -q -o "syft-json=$work/warmup.json"

# Rounds (SBOM_BENCH_ROUNDS, default 4), each running both sides, the order
# alternating so neither always inherits the other's caches; the ratios are
# the medians of the rounds' ratios, with their range. The last round's
# profiles print below.
# An even count, so each side runs first equally often: whichever runs
# second in a round tends to be faster, and 3 rounds put trilens first twice.
rounds="${SBOM_BENCH_ROUNDS:-4}"
if ((rounds % 2)); then
	echo "SBOM_BENCH_ROUNDS=$rounds: want an even number, so each side runs first as often as the other" >&2
	exit 1
fi
trilens_run() {
	# sbombench prints key=value pairs: packages bytes events gen_s ingest_s seconds cpu_s
	# peak_rss_mb (until the SBOM is written) process_rss_mb (with its in-process collector).
	local out
	out="$("$work/sbombench" -dir "$dir" -cpuprofile "$work/trilens.prof" 2>"$work/sbombench.err")" || {
		echo "sbombench failed on $dir:" >&2
		tail -20 "$work/sbombench.err" >&2
		exit 1
	}
	eval "$(tr ' ' '\n' <<<"$out")"
}
syft_run() {
	# %U + %S count the `go list` children too, as sbombench's cpu_s does.
	SYFTPROF_CPU="$work/syft.prof" /usr/bin/time -f '%e %U %S %M' -o "$work/syft.time" \
		"$work/syft" scan "dir:$dir" -q -o "syft-json=$work/syft.json"
	read -r syft_s syft_user syft_sys syft_rss_kb <"$work/syft.time"
	syft_cpu=$(echo "$syft_user + $syft_sys" | bc -l)
	syft_rss_mb=$(echo "$syft_rss_kb / 1024" | bc -l)
}
: >"$work/rounds"
for ((i = 1; i <= rounds; i++)); do
	if ((i % 2)); then first=trilens; trilens_run; syft_run; else first=syft; syft_run; trilens_run; fi
	echo "$i $seconds $cpu_s $peak_rss_mb $syft_s $syft_cpu $syft_rss_mb" >>"$work/rounds"
	printf 'round %d (%s first): trilens %.2f s, syft CLI %.2f s, ratio %.3f\n' "$i" "$first" "$seconds" "$syft_s" \
		"$(echo "$seconds / $syft_s" | bc -l)" >>"$work/round-lines"
done
syft_packages=$(jq '.artifacts | length' "$work/syft.json")
# stat COLUMN: "median min max" of a column of $work/rounds (an awk expression of $2..$7).
stat() {
	awk "{ print $1 }" "$work/rounds" | sort -g | awk '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.3f %.3f %.3f\n", m, v[1], v[NR] }'
}
read -r t_s _ <<<"$(stat '$2')"
read -r t_cpu _ <<<"$(stat '$3')"
read -r t_rss _ <<<"$(stat '$4')"
read -r s_s _ <<<"$(stat '$5')"
read -r s_cpu _ <<<"$(stat '$6')"
read -r s_rss _ <<<"$(stat '$7')"
read -r r_time r_time_min r_time_max <<<"$(stat '$2 / $5')"
read -r r_cpu r_cpu_min r_cpu_max <<<"$(stat '$3 / $6')"
read -r r_rss r_rss_min r_rss_max <<<"$(stat '$4 / $7')"

echo "## SBOM lens: generation + ingest of a fixed set of Go modules ($modules modules of 40-sbom.modules, $files files, $mb MB)"
echo
echo "Medians of $rounds rounds, each running both sides (order alternating):"
echo
echo '```'
cat "$work/round-lines"
echo '```'
echo
echo "| run | packages | seconds | CPU s (with go list) | peak RSS (MB) |"
echo "| --- | ---: | ---: | ---: | ---: |"
printf '| trilens sbom (syft library, generation %.2f s + ingest %.2f s: collector -> object store + JetStream, %d events; last round; peak RSS until the SBOM is written, %.0f MB with the in-process collector and NATS) | %d | %.2f | %.1f | %.0f |\n' \
	"$gen_s" "$ingest_s" "$events" "$process_rss_mb" "$packages" "$t_s" "$t_cpu" "$t_rss"
printf '| syft scan dir: -o syft-json (CLI %s) | %d | %.2f | %.1f | %.0f |\n' "$("$work/syft" version | awk '/^Version:/{print $2}')" \
	"$syft_packages" "$s_s" "$s_cpu" "$s_rss"
printf '| ratio trilens / syft CLI (median, min-max of the rounds) | | %.2f (%.2f-%.2f) | %.2f (%.2f-%.2f) | %.2f (%.2f-%.2f) |\n' \
	"$r_time" "$r_time_min" "$r_time_max" "$r_cpu" "$r_cpu_min" "$r_cpu_max" "$r_rss" "$r_rss_min" "$r_rss_max"
echo
printf 'sbom ratio %.2f\n' "$r_time"
printf 'sbom-cpu ratio %.2f\n' "$r_cpu"
printf 'sbom-rss ratio %.2f\n' "$r_rss"
# pprof_top PROFILE BINARY: the 15 heaviest functions (in process only; `go list` runs in children).
pprof_top() { go tool pprof -top -nodecount=15 "$2" "$1" 2>/dev/null | sed -n "2,25p"; }
echo
echo "CPU profile of trilens sbom (sbombench, in process, last round):"
echo
echo '```'
pprof_top "$work/trilens.prof" "$work/sbombench"
echo '```'
echo
echo "CPU profile of the syft CLI (syftprof, in process, last round):"
echo
echo '```'
pprof_top "$work/syft.prof" "$work/syft"
echo '```'
