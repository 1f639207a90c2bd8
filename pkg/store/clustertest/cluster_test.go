package clustertest_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/clustertest"
)

// Two processes migrating a fresh database at once, through different
// replicas, both succeed and record each migration once.
func TestClusterConcurrentMigrate(t *testing.T) {
	ctx := context.Background()
	c := clustertest.Start(t, 2)
	const db = "concurrent"
	stores := []*store.Store{c.StoreIn(t, 0, db), c.StoreIn(t, 1, db)}
	errs := make(chan error, len(stores))
	for _, st := range stores {
		go func() { errs <- st.Migrate(ctx) }()
	}
	for range stores {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		return
	}
	// Either replica may lag behind the rows the other recorded: wait until
	// both agree.
	var versions, records uint64
	var applied map[uint32]string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if err := stores[1].Conn().QueryRow(ctx, "SELECT uniqExact(version), count() FROM "+db+".schema_migrations FINAL").Scan(&versions, &records); err != nil {
			t.Fatal(err)
		}
		var err error
		if applied, err = stores[0].AppliedMigrations(ctx); err != nil {
			t.Fatal(err)
		}
		if (len(applied) == int(versions) && versions == records) || time.Now().After(deadline) {
			break
		}
	}
	if versions != records || int(versions) != len(applied) || len(applied) < 10 {
		t.Errorf("schema_migrations: %d versions in %d rows FINAL, %d applied", versions, records, len(applied))
	}
	// Every table is there on both replicas.
	for _, st := range stores {
		var n uint64
		if err := st.Conn().QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND engine = 'Distributed'", db).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n < 20 {
			t.Errorf("%d Distributed tables after concurrent migrations", n)
		}
	}
	// The migrated cluster serves the tenant-user test too: starting one
	// costs ZooKeeper and two servers.
	t.Run("TenantUsers", func(t *testing.T) { checkTenantUsers(t, c, stores[0]) })
}

// rollups are filled by materialized views from kpi_points, journey_latency
// and hop_latency, and read through the dashboard views over them
// (dash_kpi_latest, dash_kpi_weekly), by the weekly report (kpi_hourly) or
// by the trace panels (journey_hourly, hop_hourly).
var rollups = map[string]bool{"kpi_latest": true, "kpi_daily": true, "kpi_hourly": true, "journey_hourly": true, "hop_hourly": true}

// rowsPerTable is how many rows the test writes into every table.
const rowsPerTable = 20

// TestClusterReplicatedSchema migrates through replica 1, writes every
// table through replica 1 and reads the same rows from replica 2; the same
// batch written twice (once through each replica) stays one row per identity
// under FINAL; migrating again, from either replica, changes nothing.
func TestClusterReplicatedSchema(t *testing.T) {
	ctx := context.Background()
	c := clustertest.Start(t, 2)
	st1 := c.Store(t, 0, nil)
	if err := st1.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	st2 := c.Store(t, 1, nil)

	// Every replica has every table: plain names Distributed, _local ones replicated.
	tables := map[string]string{} // name -> engine, as replica 2 has them
	rows, err := st2.Conn().Query(ctx, "SELECT name, engine FROM system.tables WHERE database = ?", st2.Database())
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name, engine string
		if err := rows.Scan(&name, &engine); err != nil {
			t.Fatal(err)
		}
		tables[name] = engine
	}
	rows.Close()
	var distributed []string
	for name, engine := range tables {
		switch {
		case name == "schema_migrations":
			if engine != "ReplicatedReplacingMergeTree" {
				t.Errorf("schema_migrations engine %s", engine)
			}
		case rollups[strings.TrimSuffix(name, "_local")]:
			if engine != "ReplicatedAggregatingMergeTree" && engine != "Distributed" {
				t.Errorf("rollup %s engine %s, want ReplicatedAggregatingMergeTree under Distributed", name, engine)
			}
		case strings.HasSuffix(name, "_local"):
			if engine != "ReplicatedReplacingMergeTree" {
				t.Errorf("%s engine %s, want ReplicatedReplacingMergeTree", name, engine)
			}
			if tables[strings.TrimSuffix(name, "_local")] != "Distributed" {
				t.Errorf("%s has no Distributed table", name)
			}
		case engine == "Distributed":
			distributed = append(distributed, name)
		case engine == "View" || engine == "MaterializedView":
		default:
			t.Errorf("table %s has engine %s", name, engine)
		}
	}
	slices.Sort(distributed)
	if len(distributed) < 20 {
		t.Fatalf("%d Distributed tables on replica 2: %v", len(distributed), tables)
	}

	// The same batch through replica 1, then again through replica 2.
	// kpi_points_by_commit is filled by its materialized view from kpi_points.
	for _, st := range []*store.Store{st1, st2} {
		for _, tbl := range distributed {
			if tbl == "kpi_points_by_commit" || rollups[tbl] {
				continue
			}
			q := insertQuery(t, st, tbl)
			if err := st.Conn().Exec(ctx, q); err != nil {
				t.Fatalf("insert %s: %v\n%s", tbl, err, q)
			}
		}
	}

	for _, tbl := range distributed {
		if rollups[tbl] {
			continue // aggregate states: the views over them are compared below
		}
		want := readAll(t, st1, tbl)
		if len(want) != rowsPerTable {
			t.Errorf("%s: %d rows FINAL through replica 1, want %d", tbl, len(want), rowsPerTable)
		}
		// Replication is asynchronous: wait for replica 2 to catch up.
		var got []string
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			if got = readAll(t, st2, tbl); slices.Equal(got, want) || time.Now().After(deadline) {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: replica 2 has %d rows, replica 1 %d; first differing:\n%s", tbl, len(got), len(want), firstDiff(got, want))
		}
		// Each replica's own replicated table holds the rows, not only the
		// Distributed layer over them.
		var local uint64
		if err := st2.Conn().QueryRow(ctx, "SELECT count() FROM "+st2.Database()+"."+tbl+"_local FINAL").Scan(&local); err != nil {
			t.Fatal(err)
		}
		if local != rowsPerTable {
			t.Errorf("%s_local on replica 2: %d rows FINAL, want %d", tbl, local, rowsPerTable)
		}
	}

	// Views read the same on both replicas.
	for name, engine := range tables {
		if engine != "View" {
			continue
		}
		a, b := viewCount(t, st1, name), viewCount(t, st2, name)
		if a != b {
			t.Errorf("view %s: %d rows on replica 1, %d on replica 2", name, a, b)
		}
	}

	// The Store's own batch insert (the scorer's path) through replica 2,
	// twice, reads back once from replica 1.
	var f store.FindingRows
	for i := range 3 {
		f.Append(store.Finding{Scope: store.Scope{Tenant: "t1", Repository: "r1", EventID: fmt.Sprint("e", i), ObservedAt: time.Unix(1767225600, 0).UTC()}, Fingerprint: fmt.Sprint("fp", i)})
	}
	for range 2 {
		if err := st2.Insert(ctx, &f); err != nil {
			t.Fatal(err)
		}
	}
	var n uint64
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if err := st1.Conn().QueryRow(ctx, "SELECT count() FROM findings FINAL WHERE tenant = 't1'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n >= 3 || time.Now().After(deadline) {
			break
		}
	}
	if n != 3 {
		t.Errorf("findings of t1 through replica 1: %d rows FINAL, want 3", n)
	}

	// Retention without TTL (18.16) drops the expired month on every replica.
	dropped, err := st1.DropExpired(ctx, store.Retention{"evidence_log": store.Period(30 * 24 * time.Hour)}, time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dropped, []string{"evidence_log/202601"}) {
		t.Errorf("dropped %v, want evidence_log/202601", dropped)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if err := st2.Conn().QueryRow(ctx, "SELECT count() FROM evidence_log_local").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 || time.Now().After(deadline) {
			break
		}
	}
	if n != 0 {
		t.Errorf("evidence_log_local on replica 2 keeps %d rows after the partition drop", n)
	}

	// Migrating again, from either replica, records nothing and runs no DDL.
	applied, err := st1.AppliedMigrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.Replicas {
		rec := &store.Recorder{}
		st := c.Store(t, i, rec)
		var again map[uint32]string
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			if again, err = st.AppliedMigrations(ctx); err != nil {
				t.Fatal(err)
			}
			if len(again) == len(applied) || time.Now().After(deadline) {
				break
			}
		}
		if !reflect.DeepEqual(again, applied) {
			t.Fatalf("replica %d has migrations %v, replica 1 %v", i+1, again, applied)
		}
		rec2 := &store.Recorder{}
		st = c.Store(t, i, rec2)
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		for _, s := range rec2.Statements() {
			if !s.Reads() && !strings.HasPrefix(s.SQL, "CREATE TABLE IF NOT EXISTS "+st.Database()+".schema_migrations ON CLUSTER "+c.Name) {
				t.Errorf("second migrate on replica %d ran %s", i+1, s.SQL)
			}
		}
		if n, err := st.AppliedMigrations(ctx); err != nil || len(n) != len(applied) {
			t.Errorf("replica %d after a second migrate: %d migrations (%v), want %d", i+1, len(n), err, len(applied))
		}
	}
}

// insertQuery writes rowsPerTable rows into tbl, row n made of n in each
// column's type, so every row is its own identity and two runs write the
// same rows.
func insertQuery(t *testing.T, st *store.Store, tbl string) string {
	t.Helper()
	rows, err := st.Conn().Query(context.Background(),
		"SELECT name, type FROM system.columns WHERE database = ? AND table = ? AND default_kind != 'MATERIALIZED' AND default_kind != 'ALIAS'", st.Database(), tbl)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names, exprs []string
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
		exprs = append(exprs, valueOf(typ))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("INSERT INTO %s.%s (%s) SELECT %s FROM system.numbers LIMIT %d",
		st.Database(), tbl, strings.Join(names, ", "), strings.Join(exprs, ", "), rowsPerTable)
}

// valueOf is row number's value in a column of type typ.
func valueOf(typ string) string {
	inner := strings.TrimSuffix(strings.TrimPrefix(typ, "LowCardinality("), ")")
	if inner != typ {
		return valueOf(inner)
	}
	switch {
	case typ == "String":
		return "concat('v', toString(number))"
	case typ == "DateTime":
		return "toDateTime(1767225600 + number * 3600)"
	case typ == "Date":
		return "toDate(toDateTime(1767225600 + number * 86400))"
	case strings.HasPrefix(typ, "DateTime64"):
		return fmt.Sprintf("CAST(toDateTime(1767225600 + number) AS %s)", typ)
	case strings.HasPrefix(typ, "Array("):
		return fmt.Sprintf("[%s]", valueOf(strings.TrimSuffix(strings.TrimPrefix(typ, "Array("), ")")))
	default:
		return fmt.Sprintf("CAST(number AS %s)", typ)
	}
}

// readAll is every row of tbl FINAL, each printed, in order.
func readAll(t *testing.T, st *store.Store, tbl string) []string {
	t.Helper()
	rows, err := st.Conn().Query(context.Background(), "SELECT * FROM "+st.Database()+"."+tbl+" FINAL")
	if err != nil {
		t.Fatalf("read %s: %v", tbl, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals := make([]any, len(rows.ColumnTypes()))
		for i, ct := range rows.ColumnTypes() {
			vals[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(vals...); err != nil {
			t.Fatalf("read %s: %v", tbl, err)
		}
		var b strings.Builder
		for _, v := range vals {
			fmt.Fprintf(&b, "%v|", reflect.ValueOf(v).Elem().Interface())
		}
		out = append(out, b.String())
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read %s: %v", tbl, err)
	}
	slices.Sort(out)
	return out
}

func viewCount(t *testing.T, st *store.Store, view string) uint64 {
	t.Helper()
	var n uint64
	if err := st.Conn().QueryRow(context.Background(), "SELECT count() FROM "+st.Database()+"."+view).Scan(&n); err != nil {
		t.Fatalf("view %s: %v", view, err)
	}
	return n
}

func firstDiff(got, want []string) string {
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			return "got  " + g + "\nwant " + w
		}
	}
	return ""
}
