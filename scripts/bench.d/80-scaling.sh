#!/usr/bin/env bash
# Replica scaling: one backlog of change events (SCALING_BENCH_EVENTS,
# default 150,000, three tenants) drained by 1, 2 and 3 scorer processes
# sharing the durable consumer, each time on a fresh NATS server and
# database. Prints the drain rate, the scaling ratio against one scorer and
# the CPU seconds each part used (scorers: rusage; NATS: the bench process
# that runs it; ClickHouse: /proc), and the events per CPU second of each
# part that the sizing table in BENCHMARKS.md is derived from. On a machine
# with fewer cores than processes the ratio is bounded by the cores: read it
# beside the CPU columns.
set -euo pipefail
cd "$(dirname "$0")/../../services/trilens"
echo "## Replica scaling: 1, 2 and 3 scorers draining one backlog"
echo
go test -run '^$' -bench 'BenchmarkScorerScaling' -benchtime 1x -count 1 -timeout 60m ./e2e | grep -E '^\||ratio '
