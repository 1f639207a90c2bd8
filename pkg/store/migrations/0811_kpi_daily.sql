-- kpi_daily: KPI points counted per tenant, lens and day (all, passing,
-- failing), kept by a materialized view over kpi_points, so the weekly
-- panel reads a row per lens and day instead of all history.
-- Unlike kpi_latest these are counts: a point inserted twice (the scorer
-- stopped between storing a batch and acknowledging it, and the batch came
-- again) counts twice here where FINAL over kpi_points counts it once. The
-- panel shows a share of points, which such a rare repeat barely moves.
-- State columns are named *_state so no alias of the view names a column
-- its own expression reads.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "kpi_daily"}}{{.OnCluster}} (
  tenant {{.LowCardinality "String"}},
  lens {{.LowCardinality "String"}},
  day Date,
  points_state AggregateFunction(count),
  passing_state AggregateFunction(countIf, UInt8),
  failing_state AggregateFunction(countIf, UInt8)
) ENGINE = {{.AggregatingMergeTree "kpi_daily"}}
PARTITION BY toYYYYMM(day)
ORDER BY (tenant, lens, day);
{{.Distributed "kpi_daily" "cityHash64(tenant)"}}

-- The backfill runs before the view exists, so no point is counted by
-- both; points stored between the two statements are missed (a migration
-- runs at start, before the scorer consumes). It runs only while kpi_daily
-- is empty, so a migration interrupted after it does not count twice; two
-- migrators running it at the very same moment could both see it empty.
INSERT INTO {{.DB}}.kpi_daily
SELECT tenant, lens, toDate(observed_at) AS day,
  countState(), countIfState(status = 'pass'), countIfState(status = 'fail')
FROM {{.DB}}.kpi_points FINAL
WHERE (SELECT count() FROM {{.DB}}.kpi_daily) = 0
GROUP BY tenant, lens, day;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.kpi_daily_mv{{.OnCluster}} TO {{.DB}}.{{.Local "kpi_daily"}} AS
SELECT tenant, lens, toDate(observed_at) AS day,
  countState() AS points_state,
  countIfState(status = 'pass') AS passing_state,
  countIfState(status = 'fail') AS failing_state
FROM {{.DB}}.{{.Local "kpi_points"}}
GROUP BY tenant, lens, day;

-- dash_kpi_weekly now reads the rollup, with the same columns.
DROP TABLE IF EXISTS {{.DB}}.dash_kpi_weekly{{.OnCluster}};
CREATE VIEW IF NOT EXISTS {{.DB}}.dash_kpi_weekly{{.OnCluster}} AS
SELECT tenant, lens, toMonday(day) AS week,
  countMerge(points_state) AS points,
  countIfMerge(failing_state) AS failing,
  countIfMerge(passing_state) / countMerge(points_state) AS pass_ratio
FROM {{.DB}}.kpi_daily
GROUP BY tenant, lens, week;
