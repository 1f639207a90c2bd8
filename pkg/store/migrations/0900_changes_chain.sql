-- changes: what the change collector knows beyond id, type and status, for
-- DORA's four keys. commit_shas and commit_times are parallel arrays: the
-- commits a deploy carries, head first; a commit time of 1970 is unknown.
{{range .Alter "changes"}}ALTER TABLE {{.}} ADD COLUMN source {{$.LowCardinality "String"}};
ALTER TABLE {{.}} ADD COLUMN source_event {{$.LowCardinality "String"}};
ALTER TABLE {{.}} ADD COLUMN environment_name {{$.LowCardinality "String"}};
ALTER TABLE {{.}} ADD COLUMN artifact String;
ALTER TABLE {{.}} ADD COLUMN artifact_digest String;
ALTER TABLE {{.}} ADD COLUMN commit_shas Array(String);
ALTER TABLE {{.}} ADD COLUMN commit_times Array(DateTime);
ALTER TABLE {{.}} ADD COLUMN rollback_of String;
ALTER TABLE {{.}} ADD COLUMN severity {{$.LowCardinality "String"}};
ALTER TABLE {{.}} ADD COLUMN pipeline String;
{{end}}
{{.Distributed "changes" "cityHash64(tenant, repository)"}}

{{range .Alter "evidence_log"}}ALTER TABLE {{.}} ADD COLUMN chain_seq UInt64;
ALTER TABLE {{.}} ADD COLUMN entry_digest String;
ALTER TABLE {{.}} ADD COLUMN prev_digest String;
ALTER TABLE {{.}} ADD COLUMN chain_digest String;
ALTER TABLE {{.}} ADD COLUMN message String;
{{end}}
{{.Distributed "evidence_log" "cityHash64(tenant, repository)"}}

CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "evidence_checkpoints"}}{{.OnCluster}} (
  tenant {{.LowCardinality "String"}},
  chain_seq UInt64,
  chain_digest String,
  signed_at DateTime,
  key_id String,
  signature String
) ENGINE = {{.ReplacingMergeTree "evidence_checkpoints"}}
ORDER BY (tenant, chain_seq);
{{.Distributed "evidence_checkpoints" "cityHash64(tenant)"}}

{{range .Alter "kpi_points"}}ALTER TABLE {{.}} ADD COLUMN policy_digest String;
{{end}}
{{.Distributed "kpi_points" "cityHash64(tenant, repository)"}}

{{range .Alter "verdicts"}}ALTER TABLE {{.}} ADD COLUMN policy_digest String;
{{end}}
{{.Distributed "verdicts" "cityHash64(tenant, repository)"}}
