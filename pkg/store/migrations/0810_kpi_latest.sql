-- kpi_latest: the latest state of every KPI series (tenant, repository,
-- branch, service, lens, KPI, scope) as aggregate states, kept by a
-- materialized view over kpi_points, so the scorecard without a release and
-- the "now" panels read one row per series instead of all history (see the
-- cost curves in BENCHMARKS.md). Every state is an argMax, max or min, so a
-- point stored twice (a replayed insert) changes nothing, and the backfill
-- below may overlap rows the view already wrote.
-- State columns are named *_state: current releases refuse an alias that
-- names a column its own expression reads. Strings are CAST to String:
-- current releases would otherwise type the states over
-- LowCardinality(String), which 18.16 does not have.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "kpi_latest"}}{{.OnCluster}} (
  tenant {{.LowCardinality "String"}},
  repository {{.LowCardinality "String"}},
  branch {{.LowCardinality "String"}},
  service {{.LowCardinality "String"}},
  lens {{.LowCardinality "String"}},
  kpi {{.LowCardinality "String"}},
  scope String,
  journey_state AggregateFunction(argMax, String, DateTime),
  value_state AggregateFunction(argMax, Float64, DateTime),
  budget_state AggregateFunction(argMax, Float64, DateTime),
  status_state AggregateFunction(argMax, String, DateTime),
  owner_state AggregateFunction(argMax, String, DateTime),
  evidence_ids_state AggregateFunction(argMax, Array(String), DateTime),
  updated_at AggregateFunction(max, DateTime),
  last_pass AggregateFunction(maxIf, DateTime, UInt8),
  first_fail AggregateFunction(minIf, DateTime, UInt8)
) ENGINE = {{.AggregatingMergeTree "kpi_latest"}}
ORDER BY (tenant, repository, branch, service, lens, kpi, scope);
{{.Distributed "kpi_latest" "cityHash64(tenant, repository)"}}

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.kpi_latest_mv{{.OnCluster}} TO {{.DB}}.{{.Local "kpi_latest"}} AS
SELECT tenant, repository, branch, service, lens, kpi, scope,
  argMaxState(CAST(journey AS String), observed_at) AS journey_state,
  argMaxState(value, observed_at) AS value_state,
  argMaxState(budget, observed_at) AS budget_state,
  argMaxState(CAST(status AS String), observed_at) AS status_state,
  argMaxState(CAST(owner AS String), observed_at) AS owner_state,
  argMaxState(evidence_ids, observed_at) AS evidence_ids_state,
  maxState(observed_at) AS updated_at,
  maxIfState(observed_at, status = 'pass') AS last_pass,
  minIfState(observed_at, status != 'pass') AS first_fail
FROM {{.DB}}.{{.Local "kpi_points"}}
GROUP BY tenant, repository, branch, service, lens, kpi, scope;

-- Backfill: the points stored before the view existed. Idempotent (see
-- above), so a migration interrupted here and run again stays correct.
INSERT INTO {{.DB}}.kpi_latest
SELECT tenant, repository, branch, service, lens, kpi, scope,
  argMaxState(CAST(journey AS String), observed_at),
  argMaxState(value, observed_at),
  argMaxState(budget, observed_at),
  argMaxState(CAST(status AS String), observed_at),
  argMaxState(CAST(owner AS String), observed_at),
  argMaxState(evidence_ids, observed_at),
  maxState(observed_at),
  maxIfState(observed_at, status = 'pass'),
  minIfState(observed_at, status != 'pass')
FROM {{.DB}}.kpi_points
GROUP BY tenant, repository, branch, service, lens, kpi, scope;

-- dash_kpi_latest now reads the rollup; its columns stay as they were, so
-- dash_risks and the panels over it are unchanged.
DROP TABLE IF EXISTS {{.DB}}.dash_kpi_latest{{.OnCluster}};
CREATE VIEW IF NOT EXISTS {{.DB}}.dash_kpi_latest{{.OnCluster}} AS
SELECT tenant, lens, kpi, scope,
  argMaxMerge(owner_state) AS owner,
  argMaxMerge(value_state) AS value,
  argMaxMerge(budget_state) AS budget,
  argMaxMerge(status_state) AS status,
  maxMerge(updated_at) AS updated_at
FROM {{.DB}}.kpi_latest
GROUP BY tenant, lens, kpi, scope;
