-- dora_weekly: DORA's four keys per tenant, service and week, as the
-- scorer's dora package computes them (services/scorer/dora/doc.go states
-- the definitions); service '' is the whole tenant. The newest computation
-- of a week wins.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "dora_weekly"}}{{.OnCluster}} (
  tenant {{.LowCardinality "String"}},
  service {{.LowCardinality "String"}},
  week Date,
  deploys UInt32,
  failed_deploys UInt32,
  change_failure_rate Float64,
  lead_time_hours Float64,
  incidents UInt32,
  restore_hours Float64,
  computed_at DateTime
) ENGINE = {{.ReplacingMergeTree "dora_weekly" "computed_at"}}
ORDER BY (tenant, service, week);
{{.Distributed "dora_weekly" "cityHash64(tenant)"}}

-- dash_dora_weekly read every stored state of every change (a deploy that
-- ran, then succeeded, counted twice; staging counted as production); it
-- now reads the keys above, with the same columns and the lead time.
DROP TABLE IF EXISTS {{.DB}}.dash_dora_weekly{{.OnCluster}};
CREATE VIEW IF NOT EXISTS {{.DB}}.dash_dora_weekly{{.OnCluster}} AS
SELECT tenant, week, deploys, failed_deploys, change_failure_rate, incidents, restore_hours, lead_time_hours
FROM {{.DB}}.dora_weekly FINAL
WHERE service = '';
