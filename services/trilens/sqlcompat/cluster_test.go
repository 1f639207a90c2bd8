package sqlcompat

import (
	"regexp"
	"strings"
	"testing"

	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chdbtest"
	"github.com/trilens/trilens/pkg/store/tenantusers"
)

// replicatedEngine finds a replicated table's engine: Replacing for facts,
// Aggregating for rollups.
var replicatedEngine = regexp.MustCompile(`ENGINE = (Replicated[A-Za-z]+MergeTree)\(`)

// The schema rendered for a cluster (store.cluster) parses on 26.x. The
// in-process engine has no ZooKeeper, macros or clusters to run it on; the
// cluster variant runs on 18.16 replicas in pkg/store/clustertest.
func TestClusterMigrationsParse(t *testing.T) {
	e := chdbtest.Open(t)
	stmts, err := store.RenderClusterMigrations("trilens", "trilens_cluster", e.Capabilities())
	if err != nil {
		t.Fatal(err)
	}
	var onCluster, backfills int
	for _, s := range stmts {
		if strings.Contains(s.SQL, " ON CLUSTER trilens_cluster") {
			onCluster++
		}
		// A rollup's backfill is data, not DDL: it runs once, through the
		// Distributed tables, from the migrator's server.
		if strings.HasPrefix(s.SQL, "INSERT INTO ") {
			backfills++
		}
		out, err := e.Query("EXPLAIN AST "+s.SQL, "TabSeparated")
		if err != nil {
			t.Errorf("migration %04d_%s does not parse on %s: %v\n%s", s.Version, s.Name, e.Version(), err, s.SQL)
			continue
		}
		if m := replicatedEngine.FindStringSubmatch(s.SQL); m != nil && !strings.Contains(out, "Function "+m[1]) {
			t.Errorf("migration %04d_%s: the engine is not in the AST:\n%s", s.Version, s.Name, out)
		}
	}
	if onCluster+backfills != len(stmts) {
		t.Errorf("%d of %d statements are ON CLUSTER, %d are backfills", onCluster, len(stmts), backfills)
	}
}

// A tenant's views and Distributed tables rendered for a cluster
// (tenantusers.ClusterSchema) parse on 26.x too; they run on the 18.16
// replicas in pkg/store/clustertest.
func TestTenantClusterSchemaParses(t *testing.T) {
	e := chdbtest.Open(t)
	ddl, err := tenantusers.ClusterSchema("trilens", "trilens_cluster", []string{"kpi_points", "kpi_points_local", "findings"}, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(ddl) != 6 {
		t.Fatalf("%d statements for two tables (the _local one left out), want 6:\n%s", len(ddl), strings.Join(ddl, "\n"))
	}
	for _, q := range ddl {
		if !strings.Contains(q, " ON CLUSTER `trilens_cluster`") {
			t.Errorf("not ON CLUSTER: %s", q)
		}
		if _, err := e.Query("EXPLAIN AST "+q, "TabSeparated"); err != nil {
			t.Errorf("does not parse on %s: %v\n%s", e.Version(), err, q)
		}
	}
}
