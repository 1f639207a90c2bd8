-- tracker_issues: which issue in GitHub or Jira stands for which blocking
-- gap, written by the tracker sync after each change it makes (created,
-- updated, closed as fixed, reopened, won't fix). The newest version of a
-- gap's row is its mapping; a sync reads them before it touches a tracker,
-- so a retried sync finds the issue instead of creating a second one.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "tracker_issues"}}{{.OnCluster}} (
  tenant {{.LowCardinality "String"}},
  tracker {{.LowCardinality "String"}},
  gap_id String,
  issue_key String,
  issue_url String,
  state {{.LowCardinality "String"}},
  digest String,
  waiver_id String,
  updated_at DateTime,
  version UInt64
) ENGINE = {{.ReplacingMergeTree "tracker_issues" "version"}}
ORDER BY (tenant, tracker, gap_id);
{{.Distributed "tracker_issues" "cityHash64(tenant)"}}
