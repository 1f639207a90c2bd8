-- Foundation: the evidence log and one fact table per payload kind.
-- Every table is a ReplacingMergeTree whose ORDER BY is its identity, so an
-- event delivered twice collapses to one row (queries use FINAL); rows repeated
-- within an event carry their index (idx) in the key so distinct rows stay.
-- Event-keyed tables are partitioned by month of observed_at; latest-state
-- tables (findings, waivers) are not partitioned, because rows replace each
-- other only within a partition.

{{define "scope"}}
  tenant {{.LowCardinality "String"}},
  event_id String,
  repository {{.LowCardinality "String"}},
  commit String,
  branch {{.LowCardinality "String"}},
  environment {{.LowCardinality "String"}},
  service {{.LowCardinality "String"}},
  journey {{.LowCardinality "String"}},
  observed_at DateTime,
{{- end}}

CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "evidence_log"}}{{.OnCluster}} (
  event_id String,
  tenant {{.LowCardinality "String"}},
  kind {{.LowCardinality "String"}},
  schema_version UInt32,
  collector {{.LowCardinality "String"}},
  tool {{.LowCardinality "String"}},
  tool_version {{.LowCardinality "String"}},
  repository {{.LowCardinality "String"}},
  commit String,
  branch {{.LowCardinality "String"}},
  base_branch {{.LowCardinality "String"}},
  pipeline_run String,
  environment {{.LowCardinality "String"}},
  service {{.LowCardinality "String"}},
  journey {{.LowCardinality "String"}},
  release String,
  observed_at DateTime,
  received_at DateTime,
  stored_at DateTime,
  document_sha256 String,
  document_size Int64,
  document_media_type {{.LowCardinality "String"}},
  document_name String,
  report_id String,
  part_index UInt32,
  part_count UInt32,
  message_sha256 String,
  message_size UInt32
) ENGINE = {{.ReplacingMergeTree "evidence_log"}}
PARTITION BY toYYYYMM(observed_at)
ORDER BY (tenant, kind, event_id);
{{.Distributed "evidence_log" "cityHash64(tenant, repository)"}}

-- findings: the latest state of each finding per repository and branch; the
-- newest observation wins. The scan lens adds the lifecycle.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "findings"}}{{.OnCluster}} ({{template "scope" .}}
  fingerprint String,
  report_id String,
  tool {{.LowCardinality "String"}},
  rule_id String,
  title String,
  severity {{.LowCardinality "String"}},
  category {{.LowCardinality "String"}},
  cvss_score Float64,
  cvss_vector String,
  aliases Array(String),
  cwes Array(String),
  package_name String,
  package_type {{.LowCardinality "String"}},
  purl String,
  installed_version String,
  fixed_version String,
  path String,
  start_line UInt32,
  end_line UInt32,
  help_uri String,
  message String
) ENGINE = {{.ReplacingMergeTree "findings" "observed_at"}}
ORDER BY (tenant, repository, branch, fingerprint);
{{.Distributed "findings" "cityHash64(tenant, repository)"}}

-- finding_observations: every sighting of a finding, for lifecycle and age.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "finding_observations"}}{{.OnCluster}} ({{template "scope" .}}
  fingerprint String,
  report_id String,
  part_index UInt32,
  part_count UInt32,
  tool {{.LowCardinality "String"}},
  rule_id String,
  severity {{.LowCardinality "String"}},
  category {{.LowCardinality "String"}}
) ENGINE = {{.ReplacingMergeTree "finding_observations"}}
PARTITION BY toYYYYMM(observed_at)
ORDER BY (tenant, repository, fingerprint, event_id);
{{.Distributed "finding_observations" "cityHash64(tenant, repository)"}}

CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "components"}}{{.OnCluster}} ({{template "scope" .}}
  idx UInt32,
  artifact_name String,
  artifact_digest String,
  format {{.LowCardinality "String"}},
  spec_version {{.LowCardinality "String"}},
  lockfile_present UInt8,
  purl String,
  name String,
  version String,
  type {{.LowCardinality "String"}},
  licenses Array(String),
  cpe String,
  version_constraint String,
  pinned UInt8,
  location String
) ENGINE = {{.ReplacingMergeTree "components"}}
PARTITION BY toYYYYMM(observed_at)
ORDER BY (tenant, repository, event_id, idx);
{{.Distributed "components" "cityHash64(tenant, repository)"}}

CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "artifacts"}}{{.OnCluster}} ({{template "scope" .}}
  name String,
  digest String,
  signed UInt8,
  verified UInt8,
  verification_error String,
  signature_format {{.LowCardinality "String"}},
  signer_identity String,
  signer_issuer String,
  predicate_type {{.LowCardinality "String"}},
  builder_id String,
  build_type String,
  source_repository String,
  source_commit String,
  slsa_level UInt32,
  subject_match UInt8,
  mismatch_reason String
) ENGINE = {{.ReplacingMergeTree "artifacts"}}
PARTITION BY toYYYYMM(observed_at)
ORDER BY (tenant, repository, digest, event_id);
{{.Distributed "artifacts" "cityHash64(tenant, repository)"}}

-- journey_latency: one row per trace window; service and journey are the
-- window's own, falling back to the event subject.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "journey_latency"}}{{.OnCluster}} ({{template "scope" .}}
  idx UInt32,
  window_start DateTime,
  duration_s Float64,
  count Float64,
  errors Float64,
  p50_ms Float64,
  p95_ms Float64,
  p99_ms Float64,
  max_ms Float64,
  sketch String
) ENGINE = {{.ReplacingMergeTree "journey_latency"}}
PARTITION BY toYYYYMM(window_start)
ORDER BY (tenant, service, journey, window_start, event_id, idx);
{{.Distributed "journey_latency" "cityHash64(tenant, repository)"}}

-- hop_latency: one row per hop of a window; window_idx is the window's idx.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "hop_latency"}}{{.OnCluster}} ({{template "scope" .}}
  window_idx UInt32,
  idx UInt32,
  window_start DateTime,
  duration_s Float64,
  hop {{.LowCardinality "String"}},
  peer String,
  count Float64,
  p50_ms Float64,
  p95_ms Float64,
  p99_ms Float64,
  total_ms Float64,
  sketch String
) ENGINE = {{.ReplacingMergeTree "hop_latency"}}
PARTITION BY toYYYYMM(window_start)
ORDER BY (tenant, service, journey, window_start, event_id, window_idx, idx);
{{.Distributed "hop_latency" "cityHash64(tenant, repository)"}}

CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "trace_detections"}}{{.OnCluster}} ({{template "scope" .}}
  idx UInt32,
  window_start DateTime,
  type {{.LowCardinality "String"}},
  fingerprint String,
  operation String,
  parent_operation String,
  occurrences Float64,
  affected_traces Float64,
  total_ms Float64,
  savings_ms Float64,
  exemplar_trace_ids Array(String)
) ENGINE = {{.ReplacingMergeTree "trace_detections"}}
PARTITION BY toYYYYMM(observed_at)
ORDER BY (tenant, service, fingerprint, event_id, idx);
{{.Distributed "trace_detections" "cityHash64(tenant, repository)"}}

-- load_runs: one row per scenario of a run (scenario '' is the whole run);
-- the run's figures repeat on each row.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "load_runs"}}{{.OnCluster}} ({{template "scope" .}}
  idx UInt32,
  run_id String,
  test_name String,
  format {{.LowCardinality "String"}},
  started_at DateTime,
  duration_s Float64,
  thresholds_passed UInt8,
  thresholds_failed Array(String),
  scenario String,
  requests Float64,
  rps Float64,
  p50_ms Float64,
  p90_ms Float64,
  p95_ms Float64,
  p99_ms Float64,
  failed_rate Float64,
  iterations Float64,
  vus_max Float64,
  checks_passed Float64,
  checks_failed Float64,
  max_sustainable_rps Float64,
  knee_rps Float64,
  littles_law_ratio Float64,
  generator_saturated UInt8,
  headroom Float64
) ENGINE = {{.ReplacingMergeTree "load_runs"}}
PARTITION BY toYYYYMM(observed_at)
ORDER BY (tenant, repository, test_name, event_id, idx);
{{.Distributed "load_runs" "cityHash64(tenant, repository)"}}

CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "load_steps"}}{{.OnCluster}} ({{template "scope" .}}
  idx UInt32,
  run_id String,
  test_name String,
  step_start DateTime,
  duration_s Float64,
  vus Float64,
  rps Float64,
  p95_ms Float64,
  error_rate Float64
) ENGINE = {{.ReplacingMergeTree "load_steps"}}
PARTITION BY toYYYYMM(observed_at)
ORDER BY (tenant, repository, test_name, event_id, idx);
{{.Distributed "load_steps" "cityHash64(tenant, repository)"}}

CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "web_vitals"}}{{.OnCluster}} ({{template "scope" .}}
  url String,
  form_factor {{.LowCardinality "String"}},
  lcp_ms Float64,
  cls Float64,
  tbt_ms Float64,
  inp_ms Float64,
  ttfb_ms Float64,
  fcp_ms Float64,
  speed_index_ms Float64,
  performance_score Float64,
  runs UInt32,
  lighthouse_version {{.LowCardinality "String"}}
) ENGINE = {{.ReplacingMergeTree "web_vitals"}}
PARTITION BY toYYYYMM(observed_at)
ORDER BY (tenant, repository, url, event_id);
{{.Distributed "web_vitals" "cityHash64(tenant, repository)"}}

-- changes: CI runs, deploys and incidents, one row per change in an event.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "changes"}}{{.OnCluster}} ({{template "scope" .}}
  idx UInt32,
  change_id String,
  type {{.LowCardinality "String"}},
  status {{.LowCardinality "String"}},
  started_at DateTime,
  finished_at DateTime,
  url String,
  title String
) ENGINE = {{.ReplacingMergeTree "changes"}}
PARTITION BY toYYYYMM(observed_at)
ORDER BY (tenant, repository, service, event_id, idx);
{{.Distributed "changes" "cityHash64(tenant, repository)"}}

-- kpi_points: every KPI value with its budget and status, derived by the
-- scorer from the event event_id. An event may give several points of one KPI
-- (one per trace window, per service), so observed_at (the time the value
-- describes) and service are part of the key.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "kpi_points"}}{{.OnCluster}} ({{template "scope" .}}
  lens {{.LowCardinality "String"}},
  kpi {{.LowCardinality "String"}},
  scope String,
  value Float64,
  budget Float64,
  status {{.LowCardinality "String"}},
  owner {{.LowCardinality "String"}},
  evidence_ids Array(String)
) ENGINE = {{.ReplacingMergeTree "kpi_points"}}
PARTITION BY toYYYYMM(observed_at)
ORDER BY (tenant, lens, kpi, scope, service, observed_at, event_id);
{{.Distributed "kpi_points" "cityHash64(tenant, repository)"}}

CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "verdicts"}}{{.OnCluster}} ({{template "scope" .}}
  verdict_id String,
  lens {{.LowCardinality "String"}},
  kpi {{.LowCardinality "String"}},
  scope String,
  status {{.LowCardinality "String"}},
  reason {{.LowCardinality "String"}},
  value Float64,
  baseline Float64,
  budget Float64,
  test {{.LowCardinality "String"}},
  p_value Float64,
  owner {{.LowCardinality "String"}},
  summary String,
  evidence_ids Array(String)
) ENGINE = {{.ReplacingMergeTree "verdicts"}}
PARTITION BY toYYYYMM(observed_at)
ORDER BY (tenant, lens, kpi, scope, verdict_id);
{{.Distributed "verdicts" "cityHash64(tenant, repository)"}}

-- waivers: the latest state of each waiver (from the policy); the newest
-- updated_at wins.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "waivers"}}{{.OnCluster}} (
  tenant {{.LowCardinality "String"}},
  waiver_id String,
  lens {{.LowCardinality "String"}},
  target String,
  scope String,
  owner {{.LowCardinality "String"}},
  reason String,
  created_at DateTime,
  expires_at DateTime,
  updated_at DateTime,
  revoked UInt8
) ENGINE = {{.ReplacingMergeTree "waivers" "updated_at"}}
ORDER BY (tenant, waiver_id);
{{.Distributed "waivers" "cityHash64(tenant)"}}
