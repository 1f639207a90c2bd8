-- Scan lens: report completeness, per-report findings, finding lifecycle and
-- the exploit catalogues (CISA KEV, EPSS) users load through the CLI.

-- scan_report_parts: one row per part of a scan report; a report is complete
-- when it has as many distinct parts as part_count.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "scan_report_parts"}}{{.OnCluster}} (
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
) ENGINE = {{.ReplacingMergeTree "scan_report_parts"}}
ORDER BY (tenant, report_id, part_index);
{{.Distributed "scan_report_parts" "cityHash64(tenant, repository)"}}

-- scan_report_findings: the findings of each report, what the gate compares.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "scan_report_findings"}}{{.OnCluster}} (
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
) ENGINE = {{.ReplacingMergeTree "scan_report_findings"}}
PARTITION BY toYYYYMM(observed_at)
ORDER BY (tenant, report_id, fingerprint, part_index);
{{.Distributed "scan_report_findings" "cityHash64(tenant)"}}

-- scan_reports_scored: a report whose lifecycle has been applied; the gate waits for it.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "scan_reports_scored"}}{{.OnCluster}} (
  tenant {{.LowCardinality "String"}},
  report_id String,
  scored_at DateTime
) ENGINE = {{.ReplacingMergeTree "scan_reports_scored"}}
ORDER BY (tenant, report_id);
{{.Distributed "scan_reports_scored" "cityHash64(tenant)"}}

-- finding_lifecycle: the state of each finding per tenant, repository,
-- service, branch and tool: new, open, fixed or reopened. The newest report
-- (report_at) wins, so a late, older report changes nothing.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "finding_lifecycle"}}{{.OnCluster}} (
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
) ENGINE = {{.ReplacingMergeTree "finding_lifecycle" "report_at"}}
ORDER BY (tenant, repository, service, branch, tool, fingerprint);
{{.Distributed "finding_lifecycle" "cityHash64(tenant, repository)"}}

-- scan_kev: the CISA Known Exploited Vulnerabilities catalogue, as last loaded.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "scan_kev"}}{{.OnCluster}} (
  cve String,
  vendor String,
  product String,
  name String,
  date_added Date,
  due_date Date,
  ransomware String,
  loaded_at DateTime
) ENGINE = {{.ReplacingMergeTree "scan_kev" "loaded_at"}}
ORDER BY cve;
{{.Distributed "scan_kev" "cityHash64(cve)"}}

-- scan_epss: EPSS scores (probability of exploitation in 30 days), as last loaded.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "scan_epss"}}{{.OnCluster}} (
  cve String,
  epss Float64,
  percentile Float64,
  score_date Date,
  loaded_at DateTime
) ENGINE = {{.ReplacingMergeTree "scan_epss" "loaded_at"}}
ORDER BY cve;
{{.Distributed "scan_epss" "cityHash64(cve)"}}
