-- journey_hourly and hop_hourly: the trace panels' hours (Journey p95 vs
-- budget, Error rate per journey, Hop breakdown), kept by materialized views
-- over journey_latency and hop_latency, so that a panel reads a row per
-- journey (and hop) and hour of its time range. The views of 0800
-- (dash_journey_hourly, dash_hop_hourly) group every window of all history:
-- 18.16 does not push a panel's time range into a view.
-- Requests, errors, calls and time are sums: a window stored twice (the
-- scorer stopped between storing a batch and acknowledging it) counts twice
-- here, as in kpi_hourly, where the FINAL views count it once. The p95 and
-- p99 are the worst window's, as in the views: exact under repeats.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "journey_hourly"}}{{.OnCluster}} (
  tenant {{.LowCardinality "String"}},
  repository {{.LowCardinality "String"}},
  service {{.LowCardinality "String"}},
  journey {{.LowCardinality "String"}},
  hour DateTime,
  requests_state AggregateFunction(sum, Float64),
  errors_state AggregateFunction(sum, Float64),
  p95_state AggregateFunction(max, Float64),
  p99_state AggregateFunction(max, Float64)
) ENGINE = {{.AggregatingMergeTree "journey_hourly"}}
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant, hour, service, journey, repository);
{{.Distributed "journey_hourly" "cityHash64(tenant, repository)"}}

CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "hop_hourly"}}{{.OnCluster}} (
  tenant {{.LowCardinality "String"}},
  repository {{.LowCardinality "String"}},
  service {{.LowCardinality "String"}},
  journey {{.LowCardinality "String"}},
  hop {{.LowCardinality "String"}},
  hour DateTime,
  calls_state AggregateFunction(sum, Float64),
  total_ms_state AggregateFunction(sum, Float64),
  p95_state AggregateFunction(max, Float64)
) ENGINE = {{.AggregatingMergeTree "hop_hourly"}}
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant, hour, service, journey, hop, repository);
{{.Distributed "hop_hourly" "cityHash64(tenant, repository)"}}

-- The backfills run before the views exist and only while the rollup is
-- empty, as kpi_daily's does (0811_kpi_daily.sql says why).
INSERT INTO {{.DB}}.journey_hourly
SELECT tenant, repository, service, journey, toStartOfHour(window_start) AS hour,
  sumState(count), sumState(errors), maxState(p95_ms), maxState(p99_ms)
FROM {{.DB}}.journey_latency FINAL
WHERE (SELECT count() FROM {{.DB}}.journey_hourly) = 0
GROUP BY tenant, repository, service, journey, hour;

INSERT INTO {{.DB}}.hop_hourly
SELECT tenant, repository, service, journey, hop, toStartOfHour(window_start) AS hour,
  sumState(count), sumState(total_ms), maxState(p95_ms)
FROM {{.DB}}.hop_latency FINAL
WHERE (SELECT count() FROM {{.DB}}.hop_hourly) = 0
GROUP BY tenant, repository, service, journey, hop, hour;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.journey_hourly_mv{{.OnCluster}} TO {{.DB}}.{{.Local "journey_hourly"}} AS
SELECT tenant, repository, service, journey, toStartOfHour(window_start) AS hour,
  sumState(count) AS requests_state,
  sumState(errors) AS errors_state,
  maxState(p95_ms) AS p95_state,
  maxState(p99_ms) AS p99_state
FROM {{.DB}}.{{.Local "journey_latency"}}
GROUP BY tenant, repository, service, journey, hour;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.hop_hourly_mv{{.OnCluster}} TO {{.DB}}.{{.Local "hop_hourly"}} AS
SELECT tenant, repository, service, journey, hop, toStartOfHour(window_start) AS hour,
  sumState(count) AS calls_state,
  sumState(total_ms) AS total_ms_state,
  maxState(p95_ms) AS p95_state
FROM {{.DB}}.{{.Local "hop_latency"}}
GROUP BY tenant, repository, service, journey, hop, hour;
