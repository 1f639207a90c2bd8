-- kpi_hourly: per KPI series (tenant, repository, branch, service, lens,
-- KPI, scope) and hour, the sum and count of the values, the failing
-- points, the newest budget and the newest point, kept by a materialized
-- view over kpi_points, so the weekly report reads a row per series and
-- hour instead of every point of two weeks (see the cost curves in
-- BENCHMARKS.md); the report's periods are therefore whole hours.
-- Like kpi_daily these are counts and sums: a point inserted twice (the
-- scorer stopped between storing a batch and acknowledging it) counts
-- twice here, where kpi_points FINAL counts it once.
-- State columns are named *_state so no alias of a query names a column
-- its own expression reads.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "kpi_hourly"}}{{.OnCluster}} (
  tenant {{.LowCardinality "String"}},
  repository {{.LowCardinality "String"}},
  branch {{.LowCardinality "String"}},
  service {{.LowCardinality "String"}},
  lens {{.LowCardinality "String"}},
  kpi {{.LowCardinality "String"}},
  scope String,
  hour DateTime,
  value_sum_state AggregateFunction(sum, Float64),
  points_state AggregateFunction(count),
  failing_state AggregateFunction(countIf, UInt8),
  budget_state AggregateFunction(argMax, Float64, DateTime),
  updated_state AggregateFunction(max, DateTime)
) ENGINE = {{.AggregatingMergeTree "kpi_hourly"}}
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant, repository, branch, hour, service, lens, kpi, scope);
{{.Distributed "kpi_hourly" "cityHash64(tenant, repository)"}}

-- The backfill runs before the view exists and only while kpi_hourly is
-- empty, as kpi_daily's does (0811_kpi_daily.sql says why).
INSERT INTO {{.DB}}.kpi_hourly
SELECT tenant, repository, branch, service, lens, kpi, scope, toStartOfHour(observed_at) AS hour,
  sumState(value), countState(), countIfState(status = 'fail'), argMaxState(budget, observed_at), maxState(observed_at)
FROM {{.DB}}.kpi_points FINAL
WHERE (SELECT count() FROM {{.DB}}.kpi_hourly) = 0
GROUP BY tenant, repository, branch, service, lens, kpi, scope, hour;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.kpi_hourly_mv{{.OnCluster}} TO {{.DB}}.{{.Local "kpi_hourly"}} AS
SELECT tenant, repository, branch, service, lens, kpi, scope, toStartOfHour(observed_at) AS hour,
  sumState(value) AS value_sum_state,
  countState() AS points_state,
  countIfState(status = 'fail') AS failing_state,
  argMaxState(budget, observed_at) AS budget_state,
  maxState(observed_at) AS updated_state
FROM {{.DB}}.{{.Local "kpi_points"}}
GROUP BY tenant, repository, branch, service, lens, kpi, scope, hour;
