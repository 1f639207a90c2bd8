#!/usr/bin/env bash
# Chaos soak: 1M events from three tenants through a real NATS server, the
# scorer process and ClickHouse 18.16, while ClickHouse is stopped for 30 s,
# NATS is restarted and the scorer is killed with SIGKILL, with a poison
# message of each kind mixed in (services/trilens/e2e BenchmarkChaosSoak).
# It fails unless lost = 0. The row has the shape of the chaos suite's
# table that make test prints, so BENCHMARKS.md holds both in one table.
# "soak ratio" is (stored + dead-lettered) / sent: 1 when nothing is lost.
# TRILENS_SOAK_EVENTS changes the count.
set -euo pipefail
cd "$(dirname "$0")/../../services/trilens/e2e"
echo "## Chaos soak: 1M events, three tenants, several faults"
echo
go test -run '^$' -bench 'BenchmarkChaosSoak' -benchtime 1x -count 1 -timeout 60m . | grep -E '^\||^soak ratio '
