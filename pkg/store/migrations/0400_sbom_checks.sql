-- SBOM lens: what the policy checks found in each complete SBOM and in each
-- verified artifact, and how an SBOM differs from the previous SBOM of the
-- same artifact name. Rows are keyed by the report (or artifact event), so a
-- replayed batch rewrites the same rows.

-- sbom_violations: one row per report, check and component. Checks:
-- denied_licence, unpinned, missing_lockfile (component empty),
-- signature_unverified and provenance_mismatch (artifact events).
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "sbom_violations"}}{{.OnCluster}} (
  tenant {{.LowCardinality "String"}},
  report_id String,
  repository {{.LowCardinality "String"}},
  commit String,
  branch {{.LowCardinality "String"}},
  observed_at DateTime,
  artifact_name String,
  artifact_digest String,
  check {{.LowCardinality "String"}},
  purl String,
  component String,
  detail String
) ENGINE = {{.ReplacingMergeTree "sbom_violations"}}
PARTITION BY toYYYYMM(observed_at)
ORDER BY (tenant, repository, artifact_name, report_id, check, purl, component);
{{.Distributed "sbom_violations" "cityHash64(tenant, repository)"}}

-- sbom_diffs: the components added, removed or changed (other version) since
-- the previous SBOM of the same artifact name in the same repository.
-- component_key is the purl without its version (else type/name).
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "sbom_diffs"}}{{.OnCluster}} (
  tenant {{.LowCardinality "String"}},
  report_id String,
  previous_report_id String,
  repository {{.LowCardinality "String"}},
  commit String,
  branch {{.LowCardinality "String"}},
  observed_at DateTime,
  artifact_name String,
  change {{.LowCardinality "String"}},
  component_key String,
  old_version String,
  new_version String
) ENGINE = {{.ReplacingMergeTree "sbom_diffs"}}
PARTITION BY toYYYYMM(observed_at)
ORDER BY (tenant, repository, artifact_name, report_id, component_key);
{{.Distributed "sbom_diffs" "cityHash64(tenant, repository)"}}
