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
go test -run '^$' -bench 'BenchmarkCostCurves' -benchtime 1x -count 1 -timeout 120m . | grep -E '^(\||costcurve-|seeded |$)' | sed 's/^seeded /Seeded /'
