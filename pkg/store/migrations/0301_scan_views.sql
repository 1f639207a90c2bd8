-- Scan lens views for dashboards: open findings with their age, and their
-- counts per scope and severity.

CREATE VIEW IF NOT EXISTS {{.DB}}.scan_open_findings{{.OnCluster}} AS
SELECT
  tenant,
  repository,
  service,
  branch,
  tool,
  fingerprint,
  state,
  severity,
  category,
  rule_id,
  title,
  aliases,
  package_name,
  installed_version,
  fixed_version,
  path,
  start_line,
  first_seen,
  last_seen,
  (toUInt32(now()) - toUInt32(first_seen)) / 86400 AS age_days
FROM {{.DB}}.finding_lifecycle FINAL
WHERE state != 'fixed';

CREATE VIEW IF NOT EXISTS {{.DB}}.scan_open_by_severity{{.OnCluster}} AS
SELECT
  tenant,
  repository,
  service,
  branch,
  severity,
  count() AS findings,
  max(age_days) AS oldest_days
FROM {{.DB}}.scan_open_findings
GROUP BY tenant, repository, service, branch, severity;
