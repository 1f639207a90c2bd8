-- Scan lens: report completeness, per-report findings, finding lifecycle and
-- the exploit catalogues (CISA KEV, EPSS) users load through the CLI.

-- scan_report_parts: one row per part of a scan report; a report is complete
-- when it has as many distinct parts as part_count.
CREATE TABLE IF NOT EXISTS {{.DB}}.scan_report_parts (
  tenant {{.LowCardinality "String"}},
  report_id String,
  part_index UInt32,
  part_count UInt32,
  tool {{.LowCardinality "String"}},
  tool_version {{.LowCardinality "String"}},
  format {{.LowCardinality "String"}},
  repository {{.LowCardinality "String"}},
  service {{.LowCardinality "String"}},
  branch {{.LowCardinality "String"}},
  base_branch {{.LowCardinality "String"}},
  commit String,
  observed_at DateTime,
  findings UInt32
) ENGINE = ReplacingMergeTree()
ORDER BY (tenant, report_id, part_index);

-- scan_report_findings: the findings of each report, what the gate compares.
CREATE TABLE IF NOT EXISTS {{.DB}}.scan_report_findings (
  tenant {{.LowCardinality "String"}},
  report_id String,
  part_index UInt32,
  fingerprint String,
  tool {{.LowCardinality "String"}},
  severity {{.LowCardinality "String"}},
  category {{.LowCardinality "String"}},
  rule_id String,
  title String,
  cvss_score Float64,
  aliases Array(String),
  cwes Array(String),
  package_name String,
  installed_version String,
  fixed_version String,
  path String,
  start_line UInt32,
  observed_at DateTime
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(observed_at)
ORDER BY (tenant, report_id, fingerprint, part_index);

-- scan_reports_scored: a report whose lifecycle has been applied; the gate waits for it.
CREATE TABLE IF NOT EXISTS {{.DB}}.scan_reports_scored (
  tenant {{.LowCardinality "String"}},
  report_id String,
  scored_at DateTime
) ENGINE = ReplacingMergeTree()
ORDER BY (tenant, report_id);

-- finding_lifecycle: the state of each finding per tenant, repository,
-- service, branch and tool: new, open, fixed or reopened. The newest report
-- (report_at) wins, so a late, older report changes nothing.
CREATE TABLE IF NOT EXISTS {{.DB}}.finding_lifecycle (
  tenant {{.LowCardinality "String"}},
  repository {{.LowCardinality "String"}},
  service {{.LowCardinality "String"}},
  branch {{.LowCardinality "String"}},
  tool {{.LowCardinality "String"}},
  fingerprint String,
  state {{.LowCardinality "String"}},
  first_seen DateTime,
  last_seen DateTime,
  fixed_at DateTime,
  reopened_at DateTime,
  reopen_count UInt32,
  last_report_id String,
  report_at DateTime,
  severity {{.LowCardinality "String"}},
  category {{.LowCardinality "String"}},
  rule_id String,
  title String,
  cvss_score Float64,
  aliases Array(String),
  package_name String,
  installed_version String,
  fixed_version String,
  path String,
  start_line UInt32
) ENGINE = ReplacingMergeTree(report_at)
ORDER BY (tenant, repository, service, branch, tool, fingerprint);

-- scan_kev: the CISA Known Exploited Vulnerabilities catalogue, as last loaded.
CREATE TABLE IF NOT EXISTS {{.DB}}.scan_kev (
  cve String,
  vendor String,
  product String,
  name String,
  date_added Date,
  due_date Date,
  ransomware String,
  loaded_at DateTime
) ENGINE = ReplacingMergeTree(loaded_at)
ORDER BY cve;

-- scan_epss: EPSS scores (probability of exploitation in 30 days), as last loaded.
CREATE TABLE IF NOT EXISTS {{.DB}}.scan_epss (
  cve String,
  epss Float64,
  percentile Float64,
  score_date Date,
  loaded_at DateTime
) ENGINE = ReplacingMergeTree(loaded_at)
ORDER BY cve;
