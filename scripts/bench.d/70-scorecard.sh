#!/usr/bin/env bash
# Scorecard: time to answer GET /v1/gate (HTTP and JSON, all lenses: the
# release's KPI points, the service's open findings, verdicts, waivers) with
# 10 million KPI points and 1 million findings stored, generated on the
# ClickHouse server the scorer tests start. Target: p95 < 300 ms.
# GATE_BENCH_POINTS and GATE_BENCH_FINDINGS change the volumes.
set -euo pipefail
cd "$(dirname "$0")/../../services/scorer"
echo "## Scorecard: gate answer time"
echo
echo "| KPI points | findings | load (s) | requests | KPIs in the last answer | blocking items | p50 (ms) | p95 (ms) | p95 < 300 ms |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
rows="$(go test -run '^$' -bench 'BenchmarkGateAnswer' -benchtime 1x -count 1 -timeout 30m ./api | grep '^|')"
echo "$rows"
# No tool answers a gate, so the ratio is the p95 over the 300 ms target (<= 1 met).
echo
awk -F'|' 'NR == 1 { gsub(/ /, "", $9); printf "gate ratio %.3f\n", $9 / 300 }' <<<"$rows"
