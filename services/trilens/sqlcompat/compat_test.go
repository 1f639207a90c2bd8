package sqlcompat

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chdbtest"
	"github.com/trilens/trilens/pkg/store/chtest"
	"github.com/trilens/trilens/services/trilens/dashboards"
)

// insertRE reads the table and columns of a batch insert.
var insertRE = regexp.MustCompile(`^INSERT INTO (\S+) \(([^()]*)\)$`)

// check is one statement to run on both engines, and where it comes from.
type check struct {
	kind string
	sql  string
}

// TestEveryStatementOnBothEngines runs the end-to-end flow on 18.16 with
// the store recording, copies its data into 26.x, then runs every read the
// code made (arguments bound), every dashboard query and every alert rule
// on both engines and compares the rows. It prints how many statements of
// each kind ran on each engine.
func TestEveryStatementOnBothEngines(t *testing.T) {
	ctx := context.Background()
	f := runFlow(t)
	en := &engines{old: newOrigin(t, f.db), cur: chdbtest.Open(t), db: f.db}
	migs, tables := en.seed(ctx, t)

	var checks []check
	for _, table := range tables {
		checks = append(checks, check{"copied tables (FINAL)", "SELECT * FROM " + f.db + "." + table + " FINAL"})
	}
	seen := map[string]bool{}
	reads := 0
	for _, p := range f.phases[1:] {
		for _, s := range p.stmts {
			if !s.Reads() {
				continue
			}
			reads++
			sql, err := en.old.bind(ctx, s)
			if err != nil {
				t.Errorf("%s: on 18.16: %v\n%s", p.name, err, s.SQL)
				continue
			}
			if !seen[sql] {
				seen[sql] = true
				checks = append(checks, check{p.name, sql})
			}
		}
	}
	// Inserts ran on 18.16 during the flow; on 26.x each column list is
	// checked by inserting nothing through it, with the values' types.
	inserts := map[string]bool{}
	for _, p := range f.phases[1:] {
		for _, s := range p.stmts {
			if s.Kind != store.KindBatch || inserts[s.SQL] {
				continue
			}
			inserts[s.SQL] = true
			m := insertRE.FindStringSubmatch(s.SQL)
			if m == nil {
				t.Errorf("a batch that is not INSERT INTO table (columns): %s", s.SQL)
				continue
			}
			if err := en.cur.Exec(s.SQL + " SELECT " + m[2] + " FROM " + m[1] + " WHERE 0"); err != nil {
				t.Errorf("inserts: on %s: %v\n%s", en.cur.Version(), err, s.SQL)
			}
		}
	}
	// Every line of the scorer and the page that reads ClickHouse sent a
	// statement in the flow, so none escapes the comparison.
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	exercised := map[string]bool{}
	for _, p := range f.phases {
		for _, s := range p.stmts {
			if rel, err := filepath.Rel(abs, s.Caller); err == nil {
				exercised[rel] = true
			}
		}
	}
	sites := readCallSites(t, "services/scorer", "services/trilens/web")
	var missed []string
	for site := range sites {
		if !exercised[site] {
			missed = append(missed, site)
		}
	}
	slices.Sort(missed)
	if len(sites) < 20 || len(missed) > 0 {
		t.Errorf("%d read call sites in the scorer and the page; the flow (runFlow) never reached %v: make it", len(sites), missed)
	}
	panels, alerts := grafanaQueries(t, f.policy, f.tenant)
	checks = append(checks, panels...)
	checks = append(checks, alerts...)

	ran, withRows := map[string]int{}, map[string]int{}
	var order []string
	for _, c := range checks {
		if ran[c.kind] == 0 {
			order = append(order, c.kind)
		}
		ran[c.kind]++
		n, err := en.compare(ctx, c.sql)
		if err != nil {
			t.Errorf("%s: %v\n%s", c.kind, err, c.sql)
		}
		if n > 0 {
			withRows[c.kind]++
		}
	}

	oldMigs := 0
	for _, s := range f.phases[0].stmts {
		if s.Kind == store.KindExec {
			oldMigs++
		}
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "STATEMENTS\t18.16\t%s\tWITH ROWS\t\n", en.cur.Version())
	fmt.Fprintf(tw, "schema: migrations (+ TTL on 26.x)\t%d\t%d\t\t\n", oldMigs, len(migs))
	fmt.Fprintf(tw, "inserts (column lists)\t%d\t%d\t\t\n", len(inserts), len(inserts))
	total, nonEmpty := len(inserts), 0
	for _, k := range order {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\n", k, ran[k], ran[k], withRows[k])
		total += ran[k]
		nonEmpty += withRows[k]
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t\n", total+oldMigs, total+len(migs), nonEmpty)
	tw.Flush()
	report := fmt.Sprintf("Statements run on ClickHouse 18.16 and %s, rows compared (%d reads recorded from all %d read call sites of the scorer and the page, %d distinct once bound):\n%s",
		en.cur.Version(), reads, len(sites), len(seen), b.String())
	t.Log(report)
	if path := os.Getenv("SQLCOMPAT_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
			t.Error(err)
		}
	}
	for _, want := range []string{"gate", "scorecard", "report", "page", "dashboard panels", "alert rules", "scorer: scoring the evidence"} {
		if ran[want] == 0 {
			t.Errorf("no %s statements ran", want)
		}
	}
}

// grafanaQueries are the SQL of every generated dashboard (panel targets
// and the tenant variable) and every alert rule of the policy, with the
// data source's macros expanded as Grafana's ClickHouse plugin does.
func grafanaQueries(t *testing.T, pol *policy.Policy, tenant string) (panels, alerts []check) {
	ds, err := dashboards.Dashboards()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	expand := strings.NewReplacer(
		"${tenant}", tenant,
		"$__fromTime", fmt.Sprintf("toDateTime(intDiv(%d,1000))", now.Add(-30*24*time.Hour).UnixMilli()),
		"$__toTime", fmt.Sprintf("toDateTime(intDiv(%d,1000))", now.UnixMilli()),
	)
	for _, d := range ds {
		b, err := dashboards.JSON(d)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		for _, q := range sqlIn(doc, "") {
			panels = append(panels, check{"dashboard panels", expand.Replace(q)})
		}
	}
	for _, r := range dashboards.AlertRules(pol) {
		for _, q := range r.Data {
			if sql, ok := q.Model["rawSql"].(string); ok {
				alerts = append(alerts, check{"alert rules", expand.Replace(sql)})
			}
		}
	}
	if len(panels) == 0 || len(alerts) == 0 {
		t.Fatalf("%d panel and %d alert queries generated", len(panels), len(alerts))
	}
	return panels, alerts
}

// sqlIn collects the rawSql of every target and the query of every
// variable in a dashboard's JSON.
func sqlIn(v any, key string) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			out = append(out, sqlIn(x, k)...)
		}
	case []any:
		for _, x := range v {
			out = append(out, sqlIn(x, key)...)
		}
	case string:
		if key == "rawSql" || key == "query" && strings.HasPrefix(strings.TrimSpace(strings.ToUpper(v)), "SELECT") {
			out = append(out, v)
		}
	}
	return out
}

// The check fails on a statement 26.x refuses and on one whose rows differ,
// from the code through the recorder as in the flow, and written directly.
func TestCatchesIncompatibleStatements(t *testing.T) {
	ctx := context.Background()
	cfg := chtest.Config(t)
	cfg.Recorder = &store.Recorder{}
	st, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// 18.16 joins an unaliased subquery; 26.x wants an alias (Code 206, the
	// failure dash_findings_open had).
	rows, err := st.Conn().Query(ctx, "SELECT k, v FROM (SELECT ? AS k) ANY LEFT JOIN (SELECT 1 AS k, 2 AS v) USING k", 1)
	if err != nil {
		t.Fatalf("18.16 refuses the statement: %v", err)
	}
	rows.Close()
	recorded := &engines{old: newOrigin(t, cfg.Database), cur: chdbtest.Open(t), db: cfg.Database}
	if err := recorded.cur.CreateDatabase(t, cfg.Database); err != nil {
		t.Fatal(err)
	}
	stmts := cfg.Recorder.Statements()
	if len(stmts) != 1 {
		t.Fatalf("recorded %d statements, want 1", len(stmts))
	}
	bound, err := recorded.old.bind(ctx, stmts[0])
	if err != nil || !strings.Contains(bound, "(SELECT 1 AS k)") {
		t.Fatalf("bound %q, %v", bound, err)
	}
	if _, err := recorded.compare(ctx, bound); err == nil || !strings.Contains(err.Error(), "on 26.") || !strings.Contains(err.Error(), "ALIAS_REQUIRED") {
		t.Errorf("the recorded join 26.x refuses: %v", err)
	}

	en := &engines{old: newOrigin(t, "system"), cur: chdbtest.Open(t), db: "system"}
	if n, err := en.compare(ctx, "SELECT number, toString(number * 2) AS s FROM system.numbers LIMIT 5"); err != nil || n != 5 {
		t.Fatalf("a portable statement: %d rows, %v", n, err)
	}
	_, err = en.compare(ctx, "SELECT k, v FROM (SELECT 1 AS k) ANY LEFT JOIN (SELECT 1 AS k, 2 AS v) USING k")
	if err == nil || !strings.Contains(err.Error(), "on 26.") || !strings.Contains(err.Error(), "ALIAS_REQUIRED") {
		t.Errorf("a join 26.x refuses: %v", err)
	}
	// Both run it; the rows differ.
	_, err = en.compare(ctx, "SELECT version() AS v")
	if err == nil || !strings.Contains(err.Error(), "rows differ") {
		t.Errorf("a statement whose rows differ: %v", err)
	}
	// Rows in another order count only when the statement orders them,
	// and not among rows that tie on its keys.
	a := result{names: []string{"k", "n"}, types: []string{"UInt8", "UInt8"}, rows: [][]string{{"1", "1"}, {"1", "2"}, {"2", "3"}}}
	b := result{names: []string{"k", "n"}, types: []string{"LowCardinality(UInt8)", "UInt8"}, rows: [][]string{{"1", "2"}, {"1", "1"}, {"2", "3"}}}
	c := result{names: a.names, types: a.types, rows: [][]string{{"2", "3"}, {"1", "1"}, {"1", "2"}}}
	for sql, want := range map[string]bool{
		"SELECT k, n FROM t":                               true,
		"SELECT k, n FROM t ORDER BY k":                    true,
		"SELECT k, n FROM t ORDER BY k, n":                 false,
		"SELECT k, n FROM (SELECT * FROM t ORDER BY k, n)": true,
		"SELECT k, n, 'ORDER BY n' FROM t":                 true,
	} {
		if d := diff(a, b, sql); (d == "") != want {
			t.Errorf("%s: diff %q", sql, d)
		}
	}
	if d := diff(a, c, "SELECT k, n FROM t ORDER BY k"); d == "" {
		t.Error("rows in another order of their keys passed")
	}
	// Under a LIMIT the last run of ties may be cut anywhere.
	cut := result{names: a.names, types: a.types, rows: [][]string{{"1", "1"}, {"1", "2"}}}
	other := result{names: a.names, types: a.types, rows: [][]string{{"1", "1"}, {"1", "9"}}}
	if d := diff(cut, other, "SELECT k, n FROM t ORDER BY k LIMIT 2"); d != "" {
		t.Errorf("ties cut by LIMIT: %s", d)
	}
	if d := diff(cut, other, "SELECT k, n FROM t ORDER BY k"); d == "" {
		t.Error("different rows among ties passed")
	}
}

// chDB's Go binding loads libchdb.so when a program starts and panics
// without it: the trilens binary must not depend on it.
func TestTrilensBinaryHasNoChdb(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../cmd/trilens").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "github.com/trilens/trilens/pkg/store\n") {
		t.Fatalf("go list -deps does not list pkg/store:\n%s", out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "chdb") {
			t.Errorf("trilens depends on %s", dep)
		}
	}
}
