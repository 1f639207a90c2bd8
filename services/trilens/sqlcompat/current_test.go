package sqlcompat

import (
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chdbtest"
)

// These tests check the 26.x engine itself and the schema on it. They live
// here, not beside pkg/store/chdbtest, so that only this package's tests
// load libchdb.so: pkg's tests run without CHDB_LIB_PATH.

// The engine is the ClickHouse release the deps script pins.
func TestVersion(t *testing.T) {
	e := chdbtest.Open(t)
	if e.Version() != "26.7.2.1" {
		t.Errorf("version() = %q, want 26.7.2.1", e.Version())
	}
	c := e.Capabilities()
	if !c.LowCard || !c.TTL || !c.DateTime64 {
		t.Errorf("capabilities of %s: %+v", e.Version(), c)
	}
}

// Every migration applies on 26.x, rendered for its capabilities.
func TestMigrations(t *testing.T) {
	e := chdbtest.Open(t)
	db := e.Database(t)
	stmts, err := e.Migrate(db)
	if err != nil {
		t.Fatalf("after %d statements: %v", len(stmts), err)
	}
	t.Logf("%d migration statements ran on %s", len(stmts), e.Version())
	out, err := e.Query("SELECT name FROM system.tables WHERE database = '"+db+"' ORDER BY name", "TabSeparated")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"evidence_log", "findings", "dash_findings_open", "kpi_points_by_commit_mv", "trace_findings"} {
		if !strings.Contains("\n"+out, "\n"+want+"\n") {
			t.Errorf("no %s after the migrations; tables:\n%s", want, out)
		}
	}
	// Unqualified names resolve in the database QueryIn names.
	if _, err := e.QueryIn(db, "SELECT count() FROM dash_kpi_latest", "TabSeparated"); err != nil {
		t.Error(err)
	}
}

func TestErrorsAreReturned(t *testing.T) {
	e := chdbtest.Open(t)
	if _, err := e.Query("SELECT no_such_column FROM system.one", "TabSeparated"); err == nil || !strings.Contains(err.Error(), "UNKNOWN_IDENTIFIER") {
		t.Errorf("error %v, want UNKNOWN_IDENTIFIER", err)
	}
}

// On 26.x the schema uses what current servers have: LowCardinality
// strings, DateTime64 ingest times and per-table TTL retention, which
// removes expired rows.
func TestCurrentServerFeatures(t *testing.T) {
	e := chdbtest.Open(t)
	db := e.Database(t)
	if _, err := e.Migrate(db); err != nil {
		t.Fatal(err)
	}
	col := func(table, name string) string {
		out, err := e.Query("SELECT type FROM system.columns WHERE database = '"+db+"' AND table = '"+table+"' AND name = '"+name+"'", "TabSeparated")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	for _, c := range []struct{ table, name, want string }{
		{"evidence_log", "tenant", "LowCardinality(String)"},
		{"kpi_points", "status", "LowCardinality(String)"},
		{"evidence_log", "received_at", "DateTime64(3)"},
		{"evidence_log", "stored_at", "DateTime64(3)"},
		{"evidence_log", "observed_at", "DateTime"},
	} {
		if got := col(c.table, c.name); got != c.want {
			t.Errorf("%s.%s is %s, want %s", c.table, c.name, got, c.want)
		}
	}

	// Retention applies to every table partitioned by month of its time column.
	out, err := e.Query("SELECT name, partition_key FROM system.tables WHERE database = '"+db+"' AND partition_key != ''", "TabSeparated")
	if err != nil {
		t.Fatal(err)
	}
	partitioned := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		name, key, _ := strings.Cut(l, "\t")
		partitioned[name] = key
	}
	for table, column := range store.RetentionColumns {
		if partitioned[table] != "toYYYYMM("+column+")" {
			t.Errorf("%s: partition key %q, retention counts from %s", table, partitioned[table], column)
		}
		delete(partitioned, table)
	}
	if len(partitioned) > 0 {
		t.Errorf("partitioned tables without retention: %v", partitioned)
	}

	r := store.Retention{"evidence_log": store.Period(30 * 24 * time.Hour), "changes": store.Period(400 * 24 * time.Hour)}
	for _, stmt := range store.RetentionStatements(db, e.Capabilities(), r) {
		if err := e.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	create, err := e.Query("SELECT create_table_query FROM system.tables WHERE database = '"+db+"' AND name = 'evidence_log'", "TabSeparated")
	if err != nil {
		t.Fatal(err)
	}
	// What the retention job reads to leave a TTL that is already right.
	if !store.HasTTL(create, "evidence_log", r["evidence_log"]) || store.HasTTL(create, "evidence_log", store.Period(3*24*time.Hour)) ||
		store.HasTTL(create, "evidence_log", store.Period(300*24*time.Hour)) {
		t.Errorf("HasTTL misreads evidence_log's 30-day TTL:\n%s", create)
	}
	for _, stmt := range []string{
		"INSERT INTO " + db + ".evidence_log (event_id, tenant, observed_at, received_at) VALUES " +
			"('old', 'acme', now() - INTERVAL 40 DAY, now64(3) - INTERVAL 40 DAY), ('new', 'acme', now() - INTERVAL 20 DAY, now64(3))",
		"INSERT INTO " + db + ".changes (event_id, tenant, observed_at) VALUES ('old', 'acme', now() - INTERVAL 40 DAY)",
		"OPTIMIZE TABLE " + db + ".evidence_log FINAL",
		"OPTIMIZE TABLE " + db + ".changes FINAL",
	} {
		if err := e.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	for table, want := range map[string]string{"evidence_log": "new", "changes": "old"} {
		out, err := e.Query("SELECT groupArray(event_id) FROM "+db+"."+table, "TabSeparated")
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(out) != "['"+want+"']" {
			t.Errorf("%s keeps %s, want [%s]", table, out, want)
		}
	}
}

// The migration lock's statements run on 26.x as on 18.16: a second take is
// refused as "already exists", the read names the newest beat's holder, and
// the release leaves no table.
func TestMigrationLockStatements(t *testing.T) {
	e := chdbtest.Open(t)
	db := e.Database(t)
	first := store.MigrationLockStatements(db, "host:1:o'brien", 5)
	second := store.MigrationLockStatements(db, "host:2:b", 7)
	for _, stmt := range []string{first[0], first[1], second[1]} {
		if err := e.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := e.Exec(second[0]); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("a second take: %v, want already exists", err)
	}
	out, err := e.Query(first[2], "TabSeparated")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out); got != "host:2:b\t7" {
		t.Errorf("read %q, want the newest beat's holder and beat", got)
	}
	if err := e.Exec(first[3]); err != nil {
		t.Fatal(err)
	}
	out, err = e.Query("SELECT count() FROM system.tables WHERE database = '"+db+"' AND name = '"+store.MigrationLockTable+"'", "TabSeparated")
	if err != nil || strings.TrimSpace(out) != "0" {
		t.Errorf("after the release: %q, %v; want no lock table", out, err)
	}
}
