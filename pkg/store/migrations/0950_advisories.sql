-- advisories: vulnerability advisories in OSV format, shared by every
-- tenant, one row per advisory and version (modified): importing the same
-- export twice adds nothing, a newer version of an advisory adds a row and
-- the newest one counts. The scorer matches them against every stored
-- component version on its sweep.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Local "advisories"}}{{.OnCluster}} (
  id String,
  modified DateTime,
  ecosystems Array(String),
  packages Array(String),
  record String,
  imported_at DateTime
) ENGINE = {{.ReplacingMergeTree "advisories"}}
ORDER BY (id, modified);
{{.Distributed "advisories" "cityHash64(id)"}}
