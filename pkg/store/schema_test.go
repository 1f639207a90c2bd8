package store

import (
	"regexp"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

// The cluster schema is the single-server schema plus ON CLUSTER, replicated
// engines on per-shard paths, _local tables and a Distributed table over each;
// taking those away gives back the single-server statements, in order.
func TestClusterRender(t *testing.T) {
	for _, v := range []proto.Version{{Major: 18, Minor: 16}, {Major: 26, Minor: 7}} {
		caps := CapabilitiesOf(v)
		single, err := RenderMigrations("db", caps)
		if err != nil {
			t.Fatal(err)
		}
		cluster, err := RenderClusterMigrations("db", "c", caps)
		if err != nil {
			t.Fatal(err)
		}
		// Fact tables replace, rollups aggregate.
		replicated := regexp.MustCompile(`Replicated(Replacing|Aggregating)MergeTree\('/clickhouse/tables/\{shard\}/db/(\w+)_local', '\{replica\}'(, )?`)
		distributed := regexp.MustCompile(`^CREATE TABLE IF NOT EXISTS db\.(\w+) ON CLUSTER c AS db\.(\w+)_local\nENGINE = Distributed\(c, db, (\w+)_local, (cityHash64\([a-z_, ]+\))\)$`)
		created := map[string]string{} // local table -> its CREATE statement
		var rest []string
		for i, s := range cluster {
			// A rollup's backfill is data, run once through the Distributed tables.
			if !strings.Contains(s.SQL, " ON CLUSTER c") && !strings.HasPrefix(s.SQL, "INSERT INTO db.") {
				t.Errorf("%s: statement without ON CLUSTER:\n%s", v, s.SQL)
			}
			// A Distributed table is rebuilt after an ALTER (DROP, then
			// CREATE); a DROP not followed by one is a migration's own (a view).
			if strings.HasPrefix(s.SQL, "DROP TABLE IF EXISTS db.") && i+1 < len(cluster) && distributed.MatchString(cluster[i+1].SQL) {
				continue
			}
			if m := distributed.FindStringSubmatch(s.SQL); m != nil {
				if m[1] != m[2] || m[1] != m[3] {
					t.Errorf("%s: Distributed %s over %s_local/%s_local", v, m[1], m[2], m[3])
				}
				create, ok := created[m[1]]
				if !ok {
					t.Errorf("%s: Distributed %s before its local table", v, m[1])
				}
				hasBoth := regexp.MustCompile(`\n  tenant `).MatchString(create) && regexp.MustCompile(`\n  repository `).MatchString(create)
				if hasBoth != (m[4] == "cityHash64(tenant, repository)") {
					t.Errorf("%s: %s sharded by %s", v, m[1], m[4])
				}
				continue
			}
			if strings.HasPrefix(s.SQL, "CREATE TABLE") {
				m := replicated.FindStringSubmatch(s.SQL)
				if m == nil {
					t.Errorf("%s: table without a replicated engine:\n%s", v, s.SQL)
					continue
				}
				if !strings.HasPrefix(s.SQL, "CREATE TABLE IF NOT EXISTS db."+m[2]+"_local ON CLUSTER c (") {
					t.Errorf("%s: engine path of %s on another table:\n%.80s", v, m[2], s.SQL)
				}
				created[m[2]] = s.SQL
			}
			sql := replicated.ReplaceAllString(s.SQL, "${1}MergeTree(")
			sql = strings.ReplaceAll(sql, " ON CLUSTER c", "")
			sql = regexp.MustCompile(`(db\.\w+)_local\b`).ReplaceAllString(sql, "$1")
			rest = append(rest, sql)
		}
		if len(rest) != len(single) {
			t.Fatalf("%s: %d cluster statements beside the Distributed tables, %d on one server", v, len(rest), len(single))
		}
		for i := range rest {
			if rest[i] != single[i].SQL {
				t.Errorf("%s: statement %d differs from one server's:\n%s\nwant\n%s", v, i, rest[i], single[i].SQL)
			}
		}
		if len(created) < 20 {
			t.Errorf("%s: %d replicated tables", v, len(created))
		}
	}
	if got := schemaMigrationsTable("db", ""); got != "CREATE TABLE IF NOT EXISTS db.schema_migrations (\n  version UInt32,\n  name String,\n  applied_at DateTime\n) ENGINE = ReplacingMergeTree() ORDER BY version" {
		t.Errorf("single-server schema_migrations changed:\n%s", got)
	}
}
