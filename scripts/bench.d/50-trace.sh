#!/usr/bin/env bash
# Trace lens: OTLP/HTTP ingest with detections on, end to end (HTTP ->
# tracecollector -> JetStream -> scorer -> ClickHouse), beside plain pdata
# protobuf decoding of the same requests in the same run; then the peak RSS
# while the collector is offered twice the rate it accepted. Target: >= 30,000
# spans/s per core end to end. TRACE_BENCH_SPANS sets the corpus (default 600k).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root/services/tracecollector"
out="$(go test -run '^$' -bench '^BenchmarkTraceIngest$' -benchtime 1x -count 1 -timeout 30m ./e2e)"
line="$(grep '^BenchmarkTraceIngest' <<<"$out")" || { echo "$out" >&2; exit 1; }
# metric VALUE UNIT pairs -> shell variables named after the unit.
metric() { awk -v u="$1" '{for (i = 2; i <= NF; i++) if ($i == u) print $(i-1)}' <<<"$line"; }
spans=$(metric spans)
decode=$(metric decode_spans/cpu-s)
e2e=$(metric e2e_spans/cpu-s)
e2e_wall=$(metric e2e_spans/s)
accepted=$(metric accepted_spans/s)
ratio=$(metric e2e/decode)
before=$(metric rss_before_overload_MB)
peak=$(metric overload_peak_rss_MB)
offered=$(metric overload_offered_spans/s)
taken=$(metric overload_accepted_spans/s)
refused=$(metric overload_refused_%)
corpus=$(metric corpus_MB)
capacity=$(metric capacity_spans/s)

echo "## Trace lens: OTLP/HTTP ingest with detections, end to end, vs plain protobuf decoding"
echo
echo "| path | spans | spans/s per core (CPU s) | spans/s (wall) |"
echo "| --- | ---: | ---: | ---: |"
printf '| OTLP/HTTP -> tracecollector -> JetStream -> scorer -> ClickHouse | %d | %.0f | %.0f (accepted at %.0f) |\n' "$spans" "$e2e" "$e2e_wall" "$accepted"
printf '| pdata UnmarshalProto of the same requests | %d | %.0f | - |\n' "$spans" "$decode"
echo
printf 'end to end / decode: %.3f. Target >= 30,000 spans/s per core: %s.\n' "$ratio" \
	"$(awk -v r="$e2e" 'BEGIN { print (r >= 30000 ? "met" : "MISSED") }')"
echo
echo "| 2x overload: 8 s from a separate load process, nothing retried | value |"
echo "| --- | ---: |"
printf '| capacity: spans per CPU second x cores | %.0f |\n' "$capacity"
printf '| offered spans/s | %.0f |\n' "$offered"
printf '| accepted spans/s | %.0f |\n' "$taken"
printf '| requests refused by the collector (429/503) | %.1f %% |\n' "$refused"
printf '| collector process RSS before / peak during (MB) | %.0f / %.0f |\n' "$before" "$peak"
echo
echo "Per core = spans per CPU second of the whole bench process (HTTP client, collector,"
echo "embedded NATS, scorer), so other load on the machine does not count; ClickHouse runs"
printf 'in its own process. The %.0f MB request corpus is out of the process during the overload;\n' "$corpus"
echo "the collector, embedded NATS and the scorer are in it."
echo
printf 'trace ratio %.3f\n' "$ratio"
