-- changes: what the change collector knows beyond id, type and status, for
-- DORA's four keys. commit_shas and commit_times are parallel arrays: the
-- commits a deploy carries, head first; a commit time of 1970 is unknown.
ALTER TABLE {{.DB}}.changes ADD COLUMN source {{.LowCardinality "String"}};
ALTER TABLE {{.DB}}.changes ADD COLUMN source_event {{.LowCardinality "String"}};
ALTER TABLE {{.DB}}.changes ADD COLUMN environment_name {{.LowCardinality "String"}};
ALTER TABLE {{.DB}}.changes ADD COLUMN artifact String;
ALTER TABLE {{.DB}}.changes ADD COLUMN artifact_digest String;
ALTER TABLE {{.DB}}.changes ADD COLUMN commit_shas Array(String);
ALTER TABLE {{.DB}}.changes ADD COLUMN commit_times Array(DateTime);
ALTER TABLE {{.DB}}.changes ADD COLUMN rollback_of String;
ALTER TABLE {{.DB}}.changes ADD COLUMN severity {{.LowCardinality "String"}};
ALTER TABLE {{.DB}}.changes ADD COLUMN pipeline String;

-- evidence_log: the digest chain (services/scorer/chain) and the raw message,
-- so the log can be verified and re-scored without the bus. chain_seq counts
-- from 1 per tenant; 0 is a row stored before the chain existed.
ALTER TABLE {{.DB}}.evidence_log ADD COLUMN chain_seq UInt64;
ALTER TABLE {{.DB}}.evidence_log ADD COLUMN entry_digest String;
ALTER TABLE {{.DB}}.evidence_log ADD COLUMN prev_digest String;
ALTER TABLE {{.DB}}.evidence_log ADD COLUMN chain_digest String;
ALTER TABLE {{.DB}}.evidence_log ADD COLUMN message String;

-- evidence_checkpoints: a signed chain head every N entries per tenant.
CREATE TABLE IF NOT EXISTS {{.DB}}.evidence_checkpoints (
  tenant {{.LowCardinality "String"}},
  chain_seq UInt64,
  chain_digest String,
  signed_at DateTime,
  key_id String,
  signature String
) ENGINE = ReplacingMergeTree()
ORDER BY (tenant, chain_seq);

-- The policy a replay applied with `trilens replay --apply` computed a KPI
-- point or verdict with (sha256 of the policy file); empty when scored live.
ALTER TABLE {{.DB}}.kpi_points ADD COLUMN policy_digest String;
ALTER TABLE {{.DB}}.verdicts ADD COLUMN policy_digest String;
