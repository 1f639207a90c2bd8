#!/usr/bin/env bash
# Load lens: ingest of a 1 GB k6 NDJSON stream by the collector (real HTTP
# handler publishing to embedded JetStream) beside `wc -l` on the same file,
# in the same run. Targets: >= 100 MB/s and < 200 MB peak RSS. The file is
# generated here from a real k6 fixture and deleted afterwards, never committed.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
size="${LOAD_BENCH_BYTES:-1000000000}"

cd "$root/services/loadcollector"
go build -o "$work/k6ndjsongen" ./cmd/k6ndjsongen
go build -o "$work/loadbench" ./cmd/loadbench
"$work/k6ndjsongen" -template testdata/k6/mixed.ndjson.gz -out "$work/run.ndjson" -bytes "$size" 2>/dev/null

# Warm the page cache so both readers see the same (cached) file.
cat "$work/run.ndjson" >/dev/null
# loadbench prints key=value pairs: bytes lines seconds mb_per_s peak_rss_mb.
eval "$("$work/loadbench" -file "$work/run.ndjson" 2>/dev/null | tr ' ' '\n')"
t0=$(date +%s.%N)
wcl=$(wc -l <"$work/run.ndjson")
t1=$(date +%s.%N)
wc_s=$(echo "$t1 - $t0" | bc -l)
wc_mbs=$(echo "$bytes / 1000000 / $wc_s" | bc -l)

echo "## Load lens: 1 GB k6 NDJSON ingest (loadcollector) vs wc -l"
echo
echo "| reader | bytes | lines | seconds | MB/s | peak RSS (MB) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
printf '| loadcollector POST /v1/loadruns | %d | %d | %.2f | %.0f | %.0f |\n' "$bytes" "$lines" "$seconds" "$mb_per_s" "$peak_rss_mb"
printf '| wc -l | %d | %d | %.2f | %.0f | - |\n' "$bytes" "$wcl" "$wc_s" "$wc_mbs"
echo
printf 'collector / wc -l throughput: %.3f. Targets: >= 100 MB/s (%s), < 200 MB RSS (%s).\n' \
	"$(echo "$mb_per_s / $wc_mbs" | bc -l)" \
	"$([ "$(echo "$mb_per_s >= 100" | bc)" = 1 ] && echo met || echo MISSED)" \
	"$([ "$(echo "$peak_rss_mb < 200" | bc)" = 1 ] && echo met || echo MISSED)"
echo 'Peak RSS is the whole bench process: collector, HTTP client and embedded NATS server.'
echo
printf 'load ratio %.3f\n' "$(echo "$mb_per_s / $wc_mbs" | bc -l)"
