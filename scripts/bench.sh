#!/usr/bin/env bash
# Runs every benchmark side by side with its reference command and prints the
# figures; BENCHMARKS.md records a run with the command that produced it.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "# Trilens benchmarks — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"
echo
echo "## Pipeline: publish -> JetStream -> scorer -> ClickHouse, beside clickhouse-client on the same rows"
(cd services/scorer && go test -run '^$' -bench 'BenchmarkPipeline' -benchtime 1x -count 1 -timeout 30m .)
if compgen -G "scripts/bench.d/*.sh" >/dev/null; then
	for s in scripts/bench.d/*.sh; do
		echo
		bash "$s"
	done
fi
