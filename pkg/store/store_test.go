package store_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/trilens/trilens/pkg/chserver"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
)

func TestMain(m *testing.M) { os.Exit(chtest.Run(m)) }

// fixture pairs an empty Rows value with its row type.
type fixture struct {
	rows store.Table
	row  any // a zero row struct, e.g. store.Finding{}
}

// every table the foundation migration creates.
func fixtures() []fixture {
	return []fixture{
		{&store.EvidenceLogRows{}, store.EvidenceLog{}},
		{&store.FindingRows{}, store.Finding{}},
		{&store.FindingObservationRows{}, store.FindingObservation{}},
		{&store.ComponentRows{}, store.Component{}},
		{&store.ArtifactRows{}, store.Artifact{}},
		{&store.JourneyLatencyRows{}, store.JourneyLatency{}},
		{&store.HopLatencyRows{}, store.HopLatency{}},
		{&store.TraceDetectionRows{}, store.TraceDetection{}},
		{&store.LoadRunRows{}, store.LoadRun{}},
		{&store.LoadStepRows{}, store.LoadStep{}},
		{&store.WebVitalsRows{}, store.WebVitals{}},
		{&store.ChangeRows{}, store.Change{}},
		{&store.KPIPointRows{}, store.KPIPoint{}},
		{&store.VerdictRows{}, store.Verdict{}},
		{&store.WaiverRows{}, store.Waiver{}},
		{&store.CheckpointRows{}, store.Checkpoint{}},
	}
}

// fill returns a row of type like with a distinct value in every field,
// different for each seed.
func fill(like any, seed int) reflect.Value {
	v := reflect.New(reflect.TypeOf(like)).Elem()
	n := 0
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		for i := range v.NumField() {
			f, sf := v.Field(i), v.Type().Field(i)
			n++
			switch f.Interface().(type) {
			case string:
				f.SetString(fmt.Sprintf("%s-%d", sf.Name, seed))
			case uint32, uint64:
				f.SetUint(uint64(seed*100 + n))
			case int64:
				f.SetInt(int64(seed*1000 + n))
			case float64:
				f.SetFloat(float64(seed) + float64(n)/8)
			case bool:
				f.SetBool(seed%2 == 1)
			case time.Time:
				f.Set(reflect.ValueOf(time.Date(2026, 10, seed, 10, n, 0, 0, time.UTC)))
			case []string:
				f.Set(reflect.ValueOf([]string{fmt.Sprintf("%s-a-%d", sf.Name, seed), "b"}))
			case []time.Time:
				f.Set(reflect.ValueOf([]time.Time{time.Date(2026, 9, seed, 8, n, 0, 0, time.UTC)}))
			case store.Scope:
				walk(f)
			default:
				panic(fmt.Sprintf("fill: field %s has type %s", sf.Name, f.Type()))
			}
		}
	}
	walk(v)
	return v
}

func appendRow(t store.Table, row reflect.Value) {
	reflect.ValueOf(t).MethodByName("Append").Call([]reflect.Value{row})
}

// rowKeys renders each row of t as one string, sorted, to compare tables
// regardless of row order.
func rowKeys(t store.Table) []string {
	v := reflect.ValueOf(t).Elem()
	var cols []reflect.Value
	for _, f := range reflect.VisibleFields(v.Type()) {
		if f.Tag.Get("ch") != "" {
			cols = append(cols, v.FieldByIndex(f.Index))
		}
	}
	keys := make([]string, t.Len())
	for i := range keys {
		var b strings.Builder
		for _, c := range cols {
			fmt.Fprintf(&b, "%v|", c.Index(i).Interface())
		}
		keys[i] = b.String()
	}
	sort.Strings(keys)
	return keys
}

// readBack selects every column of t's table with FINAL into a new Rows value.
func readBack(t *testing.T, st *store.Store, like store.Table) store.Table {
	t.Helper()
	out := reflect.New(reflect.TypeOf(like).Elem())
	var cols []reflect.Value
	for _, f := range reflect.VisibleFields(out.Elem().Type()) {
		if f.Tag.Get("ch") != "" {
			cols = append(cols, out.Elem().FieldByIndex(f.Index))
		}
	}
	q := fmt.Sprintf("SELECT %s FROM %s.%s FINAL", strings.Join(like.Columns(), ", "), st.Database(), like.Name())
	rows, err := st.Conn().Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		dest := make([]any, len(cols))
		for i, c := range cols {
			dest[i] = reflect.New(c.Type().Elem()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		for i, c := range cols {
			c.Set(reflect.Append(c, reflect.ValueOf(dest[i]).Elem()))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out.Interface().(store.Table)
}

// TestAppendMapsEveryField: Append puts each row field into the column of the
// same name (bools as 0/1), so no field lands in the wrong column.
func TestAppendMapsEveryField(t *testing.T) {
	for _, fx := range fixtures() {
		row := fill(fx.row, 1)
		appendRow(fx.rows, row)
		cols := reflect.ValueOf(fx.rows).Elem()
		for _, f := range reflect.VisibleFields(cols.Type()) {
			if f.Tag.Get("ch") == "" {
				continue
			}
			got := cols.FieldByIndex(f.Index).Index(0).Interface()
			rf := row.FieldByName(f.Name)
			if !rf.IsValid() {
				t.Errorf("%s: column %s has no row field %s", fx.rows.Name(), f.Tag.Get("ch"), f.Name)
				continue
			}
			want := rf.Interface()
			if b, ok := want.(bool); ok {
				want = map[bool]uint8{false: 0, true: 1}[b]
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s.%s: column holds %v, row has %v", fx.rows.Name(), f.Name, got, want)
			}
		}
		if fx.rows.Len() != 1 {
			t.Errorf("%s: Len %d after one Append", fx.rows.Name(), fx.rows.Len())
		}
		fx.rows.Reset()
		if fx.rows.Len() != 0 {
			t.Errorf("%s: Len %d after Reset", fx.rows.Name(), fx.rows.Len())
		}
	}
}

// TestInsertRoundTrip inserts two rows into every table twice and reads them
// back with FINAL: the repeat collapses, every value survives, and the Go
// columns match the table's columns exactly.
func TestInsertRoundTrip(t *testing.T) {
	ctx := context.Background()
	st := chtest.Store(t)
	var tables []store.Table
	for _, fx := range fixtures() {
		appendRow(fx.rows, fill(fx.row, 1))
		appendRow(fx.rows, fill(fx.row, 2))
		tables = append(tables, fx.rows)
	}
	tables = append(tables, &store.VerdictRows{}) // empty: skipped
	for range 2 {
		if err := st.Insert(ctx, tables...); err != nil {
			t.Fatal(err)
		}
	}
	for _, tbl := range tables[:len(tables)-1] {
		got := readBack(t, st, tbl)
		if w, g := rowKeys(tbl), rowKeys(got); !slices.Equal(w, g) {
			t.Errorf("%s: read back\n%q\nwant\n%q", tbl.Name(), g, w)
		}
		dbCols := strings1(t, st, "SELECT name FROM system.columns WHERE database = ? AND table = ?", st.Database(), tbl.Name())
		goCols := slices.Clone(tbl.Columns())
		slices.Sort(dbCols)
		slices.Sort(goCols)
		if !slices.Equal(dbCols, goCols) {
			t.Errorf("%s: table columns %v, Go columns %v", tbl.Name(), dbCols, goCols)
		}
	}

	// Every table the foundation migration makes has a row type here (the
	// lenses' migrations keep their row types with their code).
	sql, err := os.ReadFile("migrations/0001_foundation.sql")
	if err != nil {
		t.Fatal(err)
	}
	created := regexp.MustCompile(`CREATE TABLE IF NOT EXISTS \{\{\.DB\}\}\.\{\{\.Local "(\w+)"\}\}`).FindAllStringSubmatch(string(sql), -1)
	if len(created) < 10 {
		t.Fatalf("found %d CREATE TABLE statements in the foundation migration", len(created))
	}
	for _, m := range created {
		if !slices.ContainsFunc(fixtures(), func(f fixture) bool { return f.rows.Name() == m[1] }) {
			t.Errorf("table %s has no row type in fixtures", m[1])
		}
	}
}

// strings1 runs a query returning one String column.
func strings1(t *testing.T, st *store.Store, q string, args ...any) []string {
	t.Helper()
	rows, err := st.Conn().Query(context.Background(), q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMigrateTwiceAndConcurrently(t *testing.T) {
	ctx := context.Background()
	cfg := chtest.Config(t)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() {
			st, err := store.Open(ctx, cfg)
			if err != nil {
				errs[i] = err
				return
			}
			defer st.Close()
			errs[i] = st.Migrate(ctx)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	applied, err := st.AppliedMigrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if applied[1] != "foundation" {
		t.Fatalf("applied = %v, want 1: foundation", applied)
	}
}

// TestRetryableAndRestart: with the server stopped an insert fails as
// retryable; after a restart it succeeds and the earlier rows are still there.
// Bad schema and bad data are permanent.
func TestRetryableAndRestart(t *testing.T) {
	ctx := context.Background()
	srv := chtest.Server()
	if srv == nil { // external server: stop and restart a private one instead
		s, err := chserver.Start(ctx, chserver.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(ctx)
		srv = s
	}
	st, err := store.Open(ctx, store.Config{DSN: srv.DSN(), Database: "retry_test", DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	defer st.Conn().Exec(ctx, "DROP DATABASE IF EXISTS retry_test")

	rows := &store.ChangeRows{}
	rows.Append(store.Change{Scope: store.Scope{Tenant: "acme", EventID: "e1", ObservedAt: time.Now()}, ChangeID: "c1"})
	if err := st.Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}

	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	rows.Reset()
	rows.Append(store.Change{Scope: store.Scope{Tenant: "acme", EventID: "e2", ObservedAt: time.Now()}, ChangeID: "c2"})
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = st.Insert(ictx, rows)
	cancel()
	if err == nil || !store.IsRetryable(err) {
		t.Fatalf("insert with the server down: err = %v, want retryable", err)
	}
	t.Logf("server down: %v", err)

	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Insert(ctx, rows); err != nil {
		t.Fatalf("insert after restart: %v", err)
	}
	var n uint64
	if err := st.Conn().QueryRow(ctx, "SELECT count() FROM retry_test.changes FINAL").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("%d rows after restart, want 2", n)
	}

	// Permanent: a column the table lacks, and values that do not fit.
	for _, bad := range []store.Table{
		&badTable{name: "changes", cols: []string{"no_such_column"}, data: []any{[]string{"x"}}},
		&badTable{name: "changes", cols: []string{"idx"}, data: []any{[]string{"not a number"}}},
		&badTable{name: "no_such_table", cols: []string{"x"}, data: []any{[]string{"x"}}},
	} {
		err := st.Insert(ctx, bad)
		if err == nil || store.IsRetryable(err) {
			t.Errorf("insert %v: err = %v, want permanent", bad.Columns(), err)
		}
		t.Logf("permanent: %v", err)
	}
}

// badTable is a Table whose columns do not match the schema.
type badTable struct {
	name string
	cols []string
	data []any
}

func (b *badTable) Name() string      { return b.name }
func (b *badTable) Columns() []string { return b.cols }
func (b *badTable) Len() int          { return 1 }
func (b *badTable) Reset()            {}
func (b *badTable) AppendTo(batch driver.Batch) error {
	for i, d := range b.data {
		if err := batch.Column(i).Append(d); err != nil {
			return err
		}
	}
	return nil
}

func TestConfig(t *testing.T) {
	var c store.Config
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.RegisterFlags("store.", fs)
	if err := fs.Parse([]string{"-store.database=facts"}); err != nil {
		t.Fatal(err)
	}
	if c.DSN != store.DefaultDSN || c.Database != "facts" {
		t.Fatalf("config %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Database = "bad-name; DROP"
	c.DSN = "http://[::1"
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "database:") || !strings.Contains(err.Error(), "dsn:") {
		t.Fatalf("Validate = %v, want errors for dsn and database", err)
	}
}

// TestMigrateToleratesRepeats: a statement another migrator (or a half-applied
// earlier run) already applied passes, even where 18.16 has no IF NOT EXISTS;
// a broken statement fails naming its file.
func TestMigrateToleratesRepeats(t *testing.T) {
	ctx := context.Background()
	st := chtest.Store(t)
	create := "CREATE TABLE IF NOT EXISTS {{.DB}}.m (a UInt8) ENGINE = MergeTree() ORDER BY a;\n"
	addB := "ALTER TABLE {{.DB}}.m ADD COLUMN b String;\n"
	if err := st.MigrateFS(ctx, fstest.MapFS{"migrations/0290_a.sql": {Data: []byte(create + addB)}}); err != nil {
		t.Fatal(err)
	}
	err := st.MigrateFS(ctx, fstest.MapFS{
		"migrations/0290_a.sql": {Data: []byte(create + addB)},
		"migrations/0291_b.sql": {Data: []byte(create + addB)},
	})
	if err != nil {
		t.Fatalf("repeated statements: %v", err)
	}
	applied, err := st.AppliedMigrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if applied[290] != "a" || applied[291] != "b" {
		t.Fatalf("applied %v", applied)
	}
	err = st.MigrateFS(ctx, fstest.MapFS{"migrations/0292_broken.sql": {Data: []byte("CREATE TABLE {{.DB}}.n (a NoSuchType) ENGINE = Memory;\n")}})
	if err == nil || !strings.Contains(err.Error(), "0292_broken") {
		t.Fatalf("broken migration: err = %v", err)
	}
}
