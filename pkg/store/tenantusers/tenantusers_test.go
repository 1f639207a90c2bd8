package tenantusers_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/trilens/trilens/pkg/store/chdbtest"
	"github.com/trilens/trilens/pkg/store/chtest"
	"github.com/trilens/trilens/pkg/store/tenantusers"
)

func TestMain(m *testing.M) {
	code := chtest.Run(m)
	chdbtest.Close()
	os.Exit(code)
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// A Grafana viewer of tenant acme, with acme's ClickHouse user, asks for
// globex's rows in raw SQL, from the tables and from the dashboards' views:
// it gets none, while its own rows are all there.
func TestAttackTenantUserCannotReadAnotherTenantsRows(t *testing.T) {
	ctx := context.Background()
	st := chtest.Store(t)
	db := st.Database()
	for _, q := range []string{
		`INSERT INTO ` + db + `.kpi_points (tenant, event_id, lens, kpi, scope, value, status, observed_at)
		 SELECT ['acme', 'globex', 'globex'][number + 1], toString(number), 'performance', 'journey.p95_ms', ['checkout', 'checkout', 'search'][number + 1],
		        250 + number, 'pass', now() FROM system.numbers LIMIT 3`,
	} {
		if err := st.Conn().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	tables, err := tenantusers.TenantTables(ctx, st.Conn(), db)
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) < 10 {
		t.Fatalf("only %d tables with a tenant column: %v", len(tables), tables)
	}
	ddl, err := tenantusers.Schema(db, tables, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range ddl {
		if err := st.Conn().Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		for _, d := range []string{tenantusers.Database(db, "acme"), db + "_tenant_src_acme"} {
			_ = st.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS `"+d+"`")
		}
	})
	users := []tenantusers.User{{Name: "grafana_acme", Tenant: "acme", PasswordSHA256: sha("acme-pw")}}
	xml, err := tenantusers.UsersXML(db, users)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(chtest.Server().Dir(), "users.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tenants.xml"), xml, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(filepath.Join(dir, "tenants.xml")) })

	// The server reloads users.d by itself within a few seconds.
	var conn clickhouse.Conn
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err = clickhouse.Open(&clickhouse.Options{Addr: []string{chtest.Server().DSN()[len("clickhouse://"):]},
			Auth: clickhouse.Auth{Database: tenantusers.Database(db, "acme"), Username: "grafana_acme", Password: "acme-pw"}})
		if err == nil {
			if err = conn.Ping(ctx); err == nil {
				break
			}
			conn.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tenant user never became usable: %v\n%s", err, xml)
		}
		time.Sleep(200 * time.Millisecond)
	}
	defer conn.Close()
	count := func(q string) uint64 {
		t.Helper()
		var n uint64
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	if n := count(`SELECT count() FROM kpi_points WHERE tenant = 'globex'`); n != 0 {
		t.Errorf("acme's user read %d of globex's KPI points from the table", n)
	}
	if n := count(`SELECT count() FROM kpi_points`); n != 1 {
		t.Errorf("acme's user sees %d KPI points, want its own 1", n)
	}
	if n := count(`SELECT count() FROM dash_kpi_latest WHERE tenant = 'globex'`); n != 0 {
		t.Errorf("acme's user read %d of globex's rows through a dashboard view", n)
	}
	if err := conn.Exec(ctx, `INSERT INTO kpi_points (tenant, kpi) SELECT 'globex', 'forged'`); err == nil {
		t.Error("the tenant user could write")
	}
	// Around the tenant's database: the facts themselves and the views.
	for _, q := range []string{"SELECT count() FROM " + db + ".kpi_points", "SELECT count() FROM " + db + "_tenant_src_acme.kpi_points",
		"SELECT count() FROM kpi_points SETTINGS prefer_localhost_replica = 1"} {
		var n uint64
		if err := conn.QueryRow(ctx, q).Scan(&n); err == nil {
			t.Errorf("%s: answered %d rows, want access denied", q, n)
		}
	}
}

// The same attack on ClickHouse 26.x (chDB in process), with the row policies
// RowPolicyUsersXML renders for current servers: acme's user reads the
// facts database directly, and its row filters hide globex's rows from the
// tables and from the dashboards' views. chDB's session always runs as the
// user named default with an empty password (chdbtest.RestartAs), so acme's
// user is rendered under that name; everything else is as rendered.
func TestAttackTenantUserCannotReadAnotherTenantsRowsOn26(t *testing.T) {
	e := chdbtest.Open(t)
	db := e.Database(t)
	if _, err := e.Migrate(db); err != nil {
		t.Fatal(err)
	}
	if err := e.Exec(`INSERT INTO ` + db + `.kpi_points (tenant, event_id, lens, kpi, scope, value, status, observed_at)
		 SELECT ['acme', 'globex', 'globex'][number + 1], toString(number), 'performance', 'journey.p95_ms', ['checkout', 'checkout', 'search'][number + 1],
		        250 + number, 'pass', now() FROM system.numbers LIMIT 3`); err != nil {
		t.Fatal(err)
	}
	q, err := tenantusers.TenantTablesSQL(db)
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Query(q, "TabSeparated")
	if err != nil {
		t.Fatal(err)
	}
	tables := strings.Fields(out)
	if len(tables) < 10 {
		t.Fatalf("only %d tables with a tenant column: %v", len(tables), tables)
	}
	users := []tenantusers.User{{Name: "default", Tenant: "acme", PasswordSHA256: sha("")}}
	xml, err := tenantusers.RowPolicyUsersXML(db, tables, users)
	if err != nil {
		t.Fatal(err)
	}
	e.RestartAs(t, xml)

	count := func(q string) uint64 {
		t.Helper()
		out, err := e.QueryIn(db, q, "TabSeparated")
		if err != nil {
			t.Fatalf("%s: %v\n%s", q, err, xml)
		}
		var n uint64
		if _, err := fmt.Sscan(out, &n); err != nil {
			t.Fatalf("%s: answered %q", q, out)
		}
		return n
	}
	if n := count(`SELECT count() FROM kpi_points WHERE tenant = 'globex'`); n != 0 {
		t.Errorf("acme's user read %d of globex's KPI points from the table", n)
	}
	if n := count(`SELECT count() FROM kpi_points`); n != 1 {
		t.Errorf("acme's user sees %d KPI points, want its own 1", n)
	}
	if n := count(`SELECT count() FROM dash_kpi_latest WHERE tenant = 'globex'`); n != 0 {
		t.Errorf("acme's user read %d of globex's rows through a dashboard view", n)
	}
	if n := count(`SELECT count() FROM dash_kpi_latest`); n != 1 {
		t.Errorf("acme's user sees %d rows in a dashboard view, want its own 1", n)
	}
	if err := e.Exec(`INSERT INTO ` + db + `.kpi_points (tenant, kpi) SELECT 'globex', 'forged'`); err == nil {
		t.Error("the tenant user could write")
	}
	for _, q := range []string{"SELECT count() FROM " + db + ".kpi_points SETTINGS readonly = 0", "DROP ROW POLICY IF EXISTS `default` ON " + db + ".kpi_points"} {
		if out, err := e.Query(q, "TabSeparated"); err == nil {
			t.Errorf("%s: answered %q, want a refusal", q, out)
		}
	}
}
