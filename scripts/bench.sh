#!/usr/bin/env bash
# Runs every benchmark side by side with its reference command and prints the
# figures; BENCHMARKS.md records a run with the command that produced it.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "# Trilens benchmarks — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"
echo
echo "## Pipeline: publish -> JetStream -> scorer -> ClickHouse, beside clickhouse-client on the same rows"
# PIPELINE_BENCH_ROUNDS rounds (default 5), each the pipeline then clickhouse-client
# on that round's rows: the ratio is the median over the rounds, with its range.
out="$(cd services/scorer && go test -run '^$' -bench 'BenchmarkPipeline' -benchtime 1x -count 1 -timeout 60m .)" || {
	echo "$out"
	exit 1
}
echo "$out"
# ratio_line NAME SUB-BENCHMARK: `NAME ratio MEDIAN`, then the spread on its own line.
ratio_line() {
	awk -v name="$1" -v sub_="BenchmarkPipeline/$2-" 'index($1, sub_) == 1 {
		for (i = 2; i <= NF; i++) m[$i] = $(i-1)
		printf "%s ratio %.3f\n%s spread %.3f-%.3f (min-max over %d interleaved rounds)\n", name, m["ratio"], name, m["ratio-min"], m["ratio-max"], m["rounds"]
	}' <<<"$out"
}
echo
ratio_line pipeline batched
ratio_line pipeline-one-row one-row-per-event
if compgen -G "scripts/bench.d/*.sh" >/dev/null; then
	for s in scripts/bench.d/*.sh; do
		echo
		bash "$s"
	done
fi
