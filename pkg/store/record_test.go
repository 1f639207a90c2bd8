package store_test

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
)

// A Store opened with a Recorder records every statement it sends, with
// its arguments and kind, including migrations, inserts and refused ones.
func TestRecorder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := chtest.Config(t)
	cfg.Recorder = &store.Recorder{}
	st, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var w store.WaiverRows
	w.Append(store.Waiver{Tenant: "acme", WaiverID: "W-1"})
	if err := st.Insert(ctx, &w); err != nil {
		t.Fatal(err)
	}
	var n uint64
	q := "SELECT count() FROM " + st.Database() + ".waivers WHERE tenant = ? AND waiver_id = ?"
	_, _, line, _ := runtime.Caller(0)
	callLines := []int{line + 2, line + 5}
	if err := st.Conn().QueryRow(ctx, q, "acme", "W-1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("count = %d, %v", n, err)
	}
	rows, err := st.Conn().Query(ctx, "SELECT tenant FROM waivers")
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if err := st.Conn().Exec(ctx, "SELECT no_such_column"); err == nil {
		t.Fatal("a bad statement ran")
	}

	recorded := cfg.Recorder.Statements()
	kinds := map[store.StatementKind]int{}
	var got []store.Statement
	var lock []string // the migration lock's statements, first words
	for _, s := range recorded {
		if strings.Contains(s.SQL, store.MigrationLockTable) {
			lock = append(lock, strings.Join(strings.Fields(s.SQL)[:2], " "))
			continue
		}
		kinds[s.Kind]++
		if s.Reads() {
			got = append(got, s)
		}
	}
	// Migrate reads schema_migrations, then the two queries above.
	want := []store.Statement{
		{Kind: store.KindQuery, SQL: "SELECT version, name FROM " + st.Database() + ".schema_migrations FINAL"},
		{Kind: store.KindQueryRow, SQL: q, Args: []any{"acme", "W-1"}},
		{Kind: store.KindQuery, SQL: "SELECT tenant FROM waivers"},
	}
	for i := range got {
		if i > 0 && !strings.HasSuffix(got[i].Caller, "pkg/store/record_test.go:"+fmt.Sprint(callLines[i-1])) {
			t.Errorf("statement %d recorded from %s", i, got[i].Caller)
		}
		if i == 0 && !strings.Contains(got[i].Caller, "pkg/store/migrate.go:") {
			t.Errorf("statement 0 recorded from %s, want migrate.go", got[i].Caller)
		}
		got[i].Caller = ""
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("reads recorded:\n%#v\nwant\n%#v", got, want)
	}
	stmts, err := store.RenderMigrations(st.Database(), st.Capabilities())
	if err != nil {
		t.Fatal(err)
	}
	// Each migration statement, the schema_migrations table and the bad one;
	// one batch per migration recorded, one for the waivers.
	ms, err := st.AppliedMigrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if kinds[store.KindExec] != len(stmts)+2 || kinds[store.KindBatch] != len(ms)+1 {
		t.Errorf("kinds %v; want %d exec and %d batch", kinds, len(stmts)+2, len(ms)+1)
	}
	// The lock is taken, beaten at least once, checked and dropped.
	if len(lock) < 4 || lock[0] != "CREATE TABLE" || lock[1] != "INSERT INTO" ||
		lock[len(lock)-2] != "SELECT argMax(holder," || lock[len(lock)-1] != "DROP TABLE" {
		t.Errorf("migration lock statements %q, want CREATE, INSERT…, SELECT, DROP", lock)
	}
	last := recorded[len(recorded)-1]
	if last.Kind != store.KindExec || !strings.Contains(last.SQL, "no_such_column") {
		t.Errorf("last statement %+v, want the refused one", last)
	}
}
