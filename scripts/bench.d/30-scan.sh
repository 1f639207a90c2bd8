#!/usr/bin/env bash
# Scan lens: a 100 MB SARIF report (100k results, generated here, never
# committed) posted over HTTP to the scan collector, which decodes it while
# streaming, stores the document in the NATS object store and publishes the
# findings to JetStream; beside `jq -c .` parsing the same file in the same
# run. Targets: under 10 s and under 300 MB peak RSS.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export PATH="$root/.bin:$PATH"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
results="${SCAN_BENCH_RESULTS:-100000}"

cd "$root/services/scancollector"
go build -o "$work/scanbench" ./cmd/scanbench
"$work/scanbench" -gen -out "$work/bench.sarif" -results "$results"
cat "$work/bench.sarif" >/dev/null # warm the page cache for both readers

# scanbench prints key=value pairs: results bytes events seconds findings_per_s peak_rss_mb.
eval "$("$work/scanbench" -file "$work/bench.sarif" | tr ' ' '\n')"
# The same report through the whole path: trilens submit scan (gzip) ->
# collector -> JetStream -> scorer -> ClickHouse, until its lifecycle is applied.
e2e_out="$(cd "$root/services/trilens" && SCANBENCH_SARIF="$work/bench.sarif" go test -run '^$' -bench '^BenchmarkScanEndToEnd$' -benchtime 1x -count 1 -timeout 20m ./cli)"
e2e_line="$(grep '^BenchmarkScanEndToEnd' <<<"$e2e_out")" || { echo "$e2e_out" >&2; exit 1; }
metric() { awk -v u="$1" '{for (i = 2; i <= NF; i++) if ($i == u) print $(i-1)}' <<<"$e2e_line"; }
e2e_s=$(metric e2e_s)
e2e_fps=$(metric e2e_findings/s)

/usr/bin/time -f '%e %M' -o "$work/jq.time" jq -c . "$work/bench.sarif" >/dev/null
read -r jq_s jq_rss_kb <"$work/jq.time"

echo "## Scan lens: 100 MB SARIF ingest (scancollector) vs jq -c ."
echo
echo "| reader | MB | results | seconds | findings/s | peak RSS (MB) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
printf '| scancollector POST /v1/scans -> JetStream + object store | %.1f | %d | %.2f | %.0f | %.0f |\n' \
	"$(echo "$bytes / 1000000" | bc -l)" "$results" "$seconds" "$findings_per_s" "$peak_rss_mb"
printf '| trilens submit scan (gzip) -> collector -> JetStream -> scorer -> ClickHouse, lifecycle applied | %.1f | %d | %.2f | %.0f | - |\n' \
	"$(echo "$bytes / 1000000" | bc -l)" "$(metric findings)" "$e2e_s" "$e2e_fps"
printf '| jq -c . | %.1f | - | %.2f | - | %d |\n' "$(echo "$bytes / 1000000" | bc -l)" "$jq_s" \
	"$((jq_rss_kb / 1024))"
echo
printf 'collector / jq time: %.2f. Targets: < 10 s (%s), < 300 MB RSS (%s); %d events published.\n' \
	"$(echo "$seconds / $jq_s" | bc -l)" \
	"$([ "$(echo "$seconds < 10" | bc)" = 1 ] && echo met || echo MISSED)" \
	"$([ "$(echo "$peak_rss_mb < 300" | bc)" = 1 ] && echo met || echo MISSED)" "$events"
echo 'Peak RSS is the whole bench process of the first row: collector, HTTP client and the embedded NATS server.'
echo 'The second row runs collector and scorer in one test process with ClickHouse beside it; its time includes'
echo 'the CLI compressing the upload.'
echo
printf 'scan ratio %.3f\n' "$(echo "$seconds / $jq_s" | bc -l)"
# The whole path (lifecycle applied) over the collector alone; target <= 1.5.
printf 'scan-lifecycle ratio %.3f\n' "$(echo "$e2e_s / $seconds" | bc -l)"
