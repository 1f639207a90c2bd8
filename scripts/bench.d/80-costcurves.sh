#!/usr/bin/env bash
# Cost curves: how the gate, the scorecard, the weekly report, the
# regression engine's batch and every dashboard panel query grow with
# history, at 1M, 10M and 100M KPI points (100k, 1M and 10M findings),
# generated on the ClickHouse 18.16 server the scorer tests start.
# Per step: p95 at each size and the growth per 10x of data. Targets: the
# gate and the panels grow at most 2x per 10x; gate p95 < 300 ms at 100M.
# TRILENS_COSTCURVE_MAX=10M stops at 10M points for a quick run.
set -euo pipefail
cd "$(dirname "$0")/../../services/scorer"
echo "## Cost curves: read paths as history grows"
echo
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
# The table and ratio lines print; when a step fails, the benchmark's own
# message (which step, at which size, and why) prints instead of vanishing
# in the filter.
if ! go test -run '^$' -bench 'BenchmarkCostCurves' -benchtime 1x -count 1 -timeout 120m . >"$out" 2>&1; then
	echo "cost curves failed; the benchmark's last lines:" >&2
	tail -40 "$out" >&2
	exit 1
fi
grep -E '^(\||costcurve-|seeded |$)' "$out" | sed 's/^seeded /Seeded /'
