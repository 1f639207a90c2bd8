-- dash_findings_open now reads finding_lifecycle, the scan lens's latest
-- state (one row per real problem, with its first and last sighting),
-- instead of joining findings FINAL with a GROUP BY over every observation
-- of every finding: ClickHouse 18.16 pushes no panel WHERE into a view, so
-- the join read all history of all tenants on every panel refresh (see the
-- cost curves in BENCHMARKS.md). A fixed finding is no longer open, as in
-- the scorecard and scan_open_findings. The columns stay as they were:
-- observed_at is the last sighting, first_seen the first.
DROP TABLE IF EXISTS {{.DB}}.dash_findings_open{{.OnCluster}};
CREATE VIEW IF NOT EXISTS {{.DB}}.dash_findings_open{{.OnCluster}} AS
SELECT tenant, repository, service, branch, fingerprint, severity, category, tool, rule_id, title,
  package_name, aliases, last_seen AS observed_at, first_seen,
  (toInt64(toUnixTimestamp(now())) - toInt64(toUnixTimestamp(first_seen))) / 86400 AS age_days
FROM {{.DB}}.finding_lifecycle FINAL
WHERE state != 'fixed';
