-- Scorecard: the risk ledger (every change to a waiver) and KPI points by
-- commit, so the gate answers for a release without scanning kpi_points.

-- waiver_changes: append-only history of every waiver, from `trilens waive`
-- or the policy file: created, updated, revoked, expired. The latest change
-- of a waiver is its state; the waivers table mirrors it for dashboards.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "waiver_changes"}}{{.OnCluster}} (
  tenant {{.LowCardinality "String"}},
  waiver_id String,
  change {{.LowCardinality "String"}},
  source {{.LowCardinality "String"}},
  lens {{.LowCardinality "String"}},
  target String,
  scope String,
  owner {{.LowCardinality "String"}},
  reason String,
  compensating_control String,
  created_at DateTime,
  expires_at DateTime,
  changed_by String,
  changed_at DateTime
) ENGINE = {{.ReplacingMergeTree "waiver_changes"}}
ORDER BY (tenant, waiver_id, changed_at, change);
{{.Distributed "waiver_changes" "cityHash64(tenant)"}}

-- kpi_points_by_commit: kpi_points ordered by commit (filled by the view
-- below from the moment this migration runs), what the gate reads.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "kpi_points_by_commit"}}{{.OnCluster}} (
  tenant {{.LowCardinality "String"}},
  repository {{.LowCardinality "String"}},
  commit String,
  branch {{.LowCardinality "String"}},
  service {{.LowCardinality "String"}},
  journey {{.LowCardinality "String"}},
  lens {{.LowCardinality "String"}},
  kpi {{.LowCardinality "String"}},
  scope String,
  observed_at DateTime,
  event_id String,
  value Float64,
  budget Float64,
  status {{.LowCardinality "String"}},
  owner {{.LowCardinality "String"}},
  evidence_ids Array(String)
) ENGINE = {{.ReplacingMergeTree "kpi_points_by_commit"}}
PARTITION BY toYYYYMM(observed_at)
ORDER BY (tenant, commit, lens, kpi, scope, service, observed_at, event_id);
{{.Distributed "kpi_points_by_commit" "cityHash64(tenant, repository)"}}

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.kpi_points_by_commit_mv{{.OnCluster}} TO {{.DB}}.{{.Local "kpi_points_by_commit"}} AS
SELECT tenant, repository, commit, branch, service, journey, lens, kpi, scope, observed_at, event_id,
  value, budget, status, owner, evidence_ids
FROM {{.DB}}.{{.Local "kpi_points"}};
