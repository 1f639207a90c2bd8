-- Scan lens: what each report covered, failed runs, reachability, and one
-- finding per real problem with the sources (tool and scope) that report it.

-- scan_report_parts: the run's scope (scope is the lifecycle key built from
-- the four fields) and whether the tool says its run failed.
{{range .Alter "scan_report_parts"}}ALTER TABLE {{.}} ADD COLUMN scope String DEFAULT '';
ALTER TABLE {{.}} ADD COLUMN scope_root String DEFAULT '';
ALTER TABLE {{.}} ADD COLUMN scope_language String DEFAULT '';
ALTER TABLE {{.}} ADD COLUMN scope_target String DEFAULT '';
ALTER TABLE {{.}} ADD COLUMN automation_id String DEFAULT '';
ALTER TABLE {{.}} ADD COLUMN run_failed UInt8 DEFAULT 0;
ALTER TABLE {{.}} ADD COLUMN run_error String DEFAULT '';
{{end}}
{{.Distributed "scan_report_parts" "cityHash64(tenant, repository)"}}

-- scan_report_findings: the scope of the finding's run, its reachability
-- (called, imported, required; '' when the tool does not say) and the key
-- of the real problem it is (the same across tools).
{{range .Alter "scan_report_findings"}}ALTER TABLE {{.}} ADD COLUMN scope String DEFAULT '';
ALTER TABLE {{.}} ADD COLUMN reachability String DEFAULT '';
ALTER TABLE {{.}} ADD COLUMN finding_key String DEFAULT '';
{{end}}
{{.Distributed "scan_report_findings" "cityHash64(tenant)"}}

-- finding_lifecycle: one row per real problem (finding_key); tool and
-- fingerprint are those of the first source that reported it, sources the
-- tools reporting it now.
{{range .Alter "finding_lifecycle"}}ALTER TABLE {{.}} ADD COLUMN finding_key String DEFAULT '';
ALTER TABLE {{.}} ADD COLUMN sources Array(String);
ALTER TABLE {{.}} ADD COLUMN reachability String DEFAULT '';
{{end}}
{{.Distributed "finding_lifecycle" "cityHash64(tenant, repository)"}}

-- finding_sources: the lifecycle of each source of a finding: a tool's
-- finding (fingerprint) in one scope. A report marks fixed only the sources
-- of its own tool and scope; a finding is fixed when all its sources are.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "finding_sources"}}{{.OnCluster}} (
  tenant {{.LowCardinality "String"}},
  repository {{.LowCardinality "String"}},
  service {{.LowCardinality "String"}},
  branch {{.LowCardinality "String"}},
  finding_key String,
  tool {{.LowCardinality "String"}},
  scope String,
  fingerprint String,
  state {{.LowCardinality "String"}},
  first_seen DateTime,
  last_seen DateTime,
  fixed_at DateTime,
  last_report_id String,
  report_at DateTime,
  severity {{.LowCardinality "String"}},
  cvss_score Float64,
  reachability String
) ENGINE = {{.ReplacingMergeTree "finding_sources" "report_at"}}
ORDER BY (tenant, repository, service, branch, finding_key, tool, scope, fingerprint);
{{.Distributed "finding_sources" "cityHash64(tenant, repository)"}}
