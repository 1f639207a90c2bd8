package clustertest_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/clustertest"
	"github.com/trilens/trilens/pkg/store/tenantusers"
)

// checkTenantUsers renders acme's tenant schema ON CLUSTER through replica
// 1 and gives both replicas acme's user: connected to either replica, the
// user reads acme's rows (written through replica 1) and none of globex's.
func checkTenantUsers(t *testing.T, c *clustertest.Cluster, st *store.Store) {
	ctx := context.Background()
	db := st.Database()
	if err := st.Conn().Exec(ctx, `INSERT INTO `+db+`.kpi_points (tenant, event_id, lens, kpi, scope, value, status, observed_at)
		SELECT ['acme', 'globex', 'globex'][number + 1], toString(number), 'performance', 'journey.p95_ms', 'checkout', 250 + number, 'pass', now()
		FROM system.numbers LIMIT 3`); err != nil {
		t.Fatal(err)
	}
	tables, err := tenantusers.TenantTables(ctx, st.Conn(), db)
	if err != nil {
		t.Fatal(err)
	}
	ddl, err := tenantusers.ClusterSchema(db, c.Name, tables, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range ddl {
		if strings.Contains(q, "_local`") || !strings.Contains(q, " ON CLUSTER `"+c.Name+"`") {
			t.Fatalf("tenant DDL on a cluster: %s", q)
		}
		if err := st.Conn().Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	sum := sha256.Sum256([]byte("acme-pw"))
	xml, err := tenantusers.UsersXML(db, []tenantusers.User{{Name: "grafana_acme", Tenant: "acme", PasswordSHA256: hex.EncodeToString(sum[:])}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range c.Replicas {
		dir := filepath.Join(r.Dir(), "users.d")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tenants.xml"), xml, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range c.Replicas {
		// The replica reloads users.d within a few seconds, and replicates
		// the rows and the DDL by itself.
		var own, foreign uint64
		var err error
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
			if own, foreign, err = tenantCounts(ctx, r.DSN(), tenantusers.Database(db, "acme")); err == nil && own == 1 {
				break
			}
		}
		if err != nil || own != 1 || foreign != 0 {
			t.Errorf("acme's user on replica %d: %d own KPI points and %d of globex (%v), want 1 and 0", i+1, own, foreign, err)
		}
	}
}

// tenantCounts connects as acme's user and counts its KPI points and
// globex's, from the table and through a dashboard view.
func tenantCounts(ctx context.Context, dsn, db string) (own, foreign uint64, err error) {
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{strings.TrimPrefix(dsn, "clickhouse://")},
		Auth: clickhouse.Auth{Database: db, Username: "grafana_acme", Password: "acme-pw"}})
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	var viaView uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM kpi_points").Scan(&own); err != nil {
		return 0, 0, err
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM kpi_points WHERE tenant = 'globex'").Scan(&foreign); err != nil {
		return 0, 0, err
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM dash_kpi_latest WHERE tenant = 'globex'").Scan(&viaView); err != nil {
		return 0, 0, err
	}
	return own, foreign + viaView, nil
}
