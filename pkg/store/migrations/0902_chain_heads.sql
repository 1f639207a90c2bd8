-- evidence_chain_heads: the head (last seq and chain digest) of each
-- tenant's evidence chain, kept by a materialized view on every insert into
-- evidence_log, so the scorer reads a chain's head at constant cost instead
-- of scanning the tenant's whole log. Several rows per tenant may stand
-- until merged (and one per shard on a cluster): readers take the max.
-- A deleted log row does not lower the head, so verify-log also catches a
-- truncated tail.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "evidence_chain_heads"}}{{.OnCluster}} (
  tenant {{.LowCardinality "String"}},
  head_seq UInt64,
  head_digest String
) ENGINE = {{.ReplacingMergeTree "evidence_chain_heads" "head_seq"}}
ORDER BY tenant;
{{.Distributed "evidence_chain_heads" "cityHash64(tenant)"}}

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.evidence_chain_heads_mv{{.OnCluster}} TO {{.DB}}.{{.Local "evidence_chain_heads"}} AS
SELECT tenant, max(chain_seq) AS head_seq, argMax(chain_digest, chain_seq) AS head_digest
FROM {{.DB}}.{{.Local "evidence_log"}}
WHERE chain_seq > 0
GROUP BY tenant;

