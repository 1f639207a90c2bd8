package sqlcompat

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chdbtest"
	"github.com/trilens/trilens/pkg/store/chtest"
)

// format is how both engines return rows: text with a header of names and
// one of types, the same on 18.16 and 26.x.
const format = "TabSeparatedWithNamesAndTypes"

// sentLog is a slog handler that keeps what clickhouse-go logs as "sending
// query": the statement after the driver bound its arguments into it.
type sentLog struct {
	mu   sync.Mutex
	n    int
	last string
}

func (h *sentLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *sentLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *sentLog) WithGroup(string) slog.Handler            { return h }
func (h *sentLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "sending query" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "query" {
			return true
		}
		h.mu.Lock()
		h.n, h.last = h.n+1, a.Value.String()
		h.mu.Unlock()
		return false
	})
	return nil
}

func (h *sentLog) get() (int, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n, h.last
}

// origin is the 18.16 server: over the native protocol, to bind arguments
// exactly as the store's driver does, and over HTTP for rows as text.
type origin struct {
	conn    driver.Conn
	sent    *sentLog
	httpURL string
	db      string
}

func newOrigin(t *testing.T, db string) *origin {
	t.Helper()
	o := &origin{sent: &sentLog{}, httpURL: chtest.HTTPURL(), db: db}
	if o.httpURL == "" {
		t.Fatalf("no HTTP interface of the external ClickHouse: set %s beside %s", chtest.EnvHTTP, chtest.EnvDSN)
	}
	opts, err := clickhouse.ParseDSN(chtest.DSN())
	if err != nil {
		t.Fatal(err)
	}
	opts.Auth.Database = db
	opts.MaxOpenConns, opts.MaxIdleConns = 1, 1
	opts.Logger = slog.New(o.sent)
	if o.conn, err = clickhouse.Open(opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.conn.Close() })
	return o
}

// bind runs a recorded statement with its arguments on 18.16 and returns it
// as the driver sent it, arguments bound in.
func (o *origin) bind(ctx context.Context, s store.Statement) (string, error) {
	before, _ := o.sent.get()
	rows, err := o.conn.Query(ctx, s.SQL, s.Args...)
	if err != nil {
		return "", err
	}
	rows.Close()
	n, sent := o.sent.get()
	if n != before+1 {
		return "", fmt.Errorf("the driver logged %d statements for one query", n-before)
	}
	return sent, nil
}

// query runs sql over HTTP in the database and returns the rows as text.
func (o *origin) query(ctx context.Context, sql, fmtName string) (string, error) {
	u := o.httpURL + "/?" + url.Values{"database": {o.db}, "default_format": {fmtName}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(sql))
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return string(body), nil
}

// engines are the two engines with the same database.
type engines struct {
	old *origin
	cur *chdbtest.Engine
	db  string
}

// seed gives the 26.x engine the 18.16 database's schema and rows: the
// migrations rendered for 26.x, then every table's rows in Native format,
// which keeps every value exact. Materialized views are detached while
// the rows go in, as their target tables are copied too. Then each table
// gets a TTL. It returns the schema statements it ran and the tables copied.
func (en *engines) seed(ctx context.Context, t *testing.T) ([]store.MigrationStatement, []string) {
	t.Helper()
	if err := en.cur.CreateDatabase(t, en.db); err != nil {
		t.Fatal(err)
	}
	migs, err := en.cur.Migrate(en.db)
	if err != nil {
		t.Fatal(err)
	}
	list := func(q string) []string {
		out, err := en.cur.Query(q, "TabSeparated")
		if err != nil {
			t.Fatal(err)
		}
		return strings.Fields(out)
	}
	views := list("SELECT name FROM system.tables WHERE database = '" + en.db + "' AND engine = 'MaterializedView'")
	for _, v := range views {
		if err := en.cur.Exec("DETACH TABLE " + en.db + "." + v); err != nil {
			t.Fatal(err)
		}
	}
	// schema_migrations is the migrator's own record, not data.
	out, err := en.old.query(ctx, "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree' "+
		"AND name != 'schema_migrations' ORDER BY name", "TabSeparated")
	if err != nil {
		t.Fatal(err)
	}
	tables := strings.Fields(out)
	dir := t.TempDir()
	for _, table := range tables {
		// Rows of a replacing table without a version column replace each
		// other in the order they were inserted, which a copy would not
		// keep: merge them first, so each key has its final row.
		if _, err := en.old.query(ctx, "OPTIMIZE TABLE "+en.db+"."+table+" FINAL", "TabSeparated"); err != nil {
			t.Fatalf("optimize %s on 18.16: %v", table, err)
		}
		rows, err := en.old.query(ctx, "SELECT * FROM "+en.db+"."+table, "Native")
		if err != nil {
			t.Fatalf("read %s from 18.16: %v", table, err)
		}
		path := filepath.Join(dir, table+".native")
		if err := os.WriteFile(path, []byte(rows), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := en.cur.Exec("INSERT INTO " + en.db + "." + table + " SELECT * FROM file('" + path + "', Native)"); err != nil {
			t.Fatalf("copy %s into %s: %v", table, en.cur.Version(), err)
		}
	}
	for _, v := range views {
		if err := en.cur.Exec("ATTACH TABLE " + en.db + "." + v); err != nil {
			t.Fatal(err)
		}
	}
	// Every table that can have one gets a TTL, as a deployment with
	// retention configured would; the longest allowed, so no copied row
	// expires.
	keep := store.Retention{}
	for table := range store.RetentionColumns {
		keep[table] = store.MaxPeriod
	}
	for _, stmt := range store.RetentionStatements(en.db, en.cur.Capabilities(), keep) {
		if err := en.cur.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
		migs = append(migs, store.MigrationStatement{Name: "retention", SQL: stmt})
	}
	return migs, tables
}

// compare runs sql (arguments bound) on both engines and reports whether
// either failed or their rows differ; it returns how many rows 18.16 gave.
func (en *engines) compare(ctx context.Context, sql string) (int, error) {
	a, err := en.old.query(ctx, sql, format)
	if err != nil {
		return 0, fmt.Errorf("on 18.16: %w", err)
	}
	b, err := en.cur.QueryIn(en.db, sql, format)
	if err != nil {
		return 0, fmt.Errorf("on %s: %w", en.cur.Version(), err)
	}
	ra, rb := parseTSV(a), parseTSV(b)
	if d := diff(ra, rb, sql); d != "" {
		return len(ra.rows), fmt.Errorf("rows differ (18.16 vs %s): %s", en.cur.Version(), d)
	}
	return len(ra.rows), nil
}

// result is a TabSeparatedWithNamesAndTypes answer.
type result struct {
	names, types []string
	rows         [][]string
}

// parseTSV splits an answer; TSV escapes newlines and tabs inside values.
func parseTSV(s string) result {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	var r result
	if len(lines) < 2 {
		return r
	}
	r.names, r.types = unescape(strings.Split(lines[0], "\t")), unescape(strings.Split(lines[1], "\t"))
	for _, l := range lines[2:] {
		r.rows = append(r.rows, strings.Split(l, "\t"))
	}
	return r
}

// tsvEscapes are TabSeparated's escapes; names and types are read
// unescaped, values are compared as printed.
var tsvEscapes = strings.NewReplacer(`\\`, `\`, `\'`, `'`, `\t`, "\t", `\n`, "\n")

func unescape(fields []string) []string {
	for i, f := range fields {
		fields[i] = tsvEscapes.Replace(f)
	}
	return fields
}

// Normalisations, each for a difference that is not one of the data:
var (
	// LowCardinality(T) is a storage encoding of T: 26.x tables use it
	// where 18.16 cannot, and the values are the same.
	lowCardinality = regexp.MustCompile(`LowCardinality\(([^()]*(?:\([^()]*\))?)\)`)
	// DateTime64(3) columns on 26.x hold the same seconds as DateTime on
	// 18.16 (the rows were copied from it); the fraction prints as .000.
	dateTime64   = regexp.MustCompile(`DateTime64\(\d+(?:, '[^']*')?\)`)
	zeroFraction = regexp.MustCompile(`(\d{2}:\d{2}:\d{2})\.0+\b`)
	// A DateTime's zone in its type: 18.16 names it on some functions'
	// results (toStartOfHour gives DateTime('Etc/UTC')). Both engines run
	// in UTC and print values in the column's zone, so a zone that really
	// differed would show in the values.
	dateTimeZone = regexp.MustCompile(`DateTime\('[^']*'\)`)
	// The zero DateTime (Unix time 0): 18.16 prints it as zeros, 26.x as
	// 1970-01-01; drivers read both as the same instant.
	zeroDateTime = regexp.MustCompile(`\b0000-00-00 00:00:00\b`)
)

func normalType(t string) string {
	for {
		n := lowCardinality.ReplaceAllString(t, "$1")
		n = dateTimeZone.ReplaceAllString(dateTime64.ReplaceAllString(n, "DateTime"), "DateTime")
		if n == t {
			return n
		}
		t = n
	}
}

func normalValue(typ, v string) string {
	if strings.Contains(typ, "DateTime") {
		v = zeroFraction.ReplaceAllString(v, "$1")
		return zeroDateTime.ReplaceAllString(v, "1970-01-01 00:00:00")
	}
	return v
}

// sameFloat: floats agree to 1e-9 relative (sums may add in another
// order), or to 1e-4 absolute: ages in days computed from now() move by
// 1.2e-5 per second between the two engines' runs.
func sameFloat(a, b string) bool {
	if a == b {
		return true
	}
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	d := math.Abs(x - y)
	return d <= 1e-4 || d <= 1e-9*math.Max(math.Abs(x), math.Abs(y))
}

// diff describes the first difference between two answers, "" when none.
// Rows are compared as a multiset unless the statement orders them (see
// ordering).
func diff(a, b result, sql string) string {
	if len(a.names) != len(b.names) {
		return fmt.Sprintf("columns %q vs %q", a.names, b.names)
	}
	for i := range a.names {
		// An unaliased expression's name is its text, which each release
		// spells its own way (tuple('a') vs ('a')); code reads such
		// columns by position. Plain names and aliases must match.
		if a.names[i] != b.names[i] && !(strings.Contains(a.names[i], "(") && strings.Contains(b.names[i], "(")) {
			return fmt.Sprintf("columns %q vs %q", a.names, b.names)
		}
	}
	ta, tb := make([]string, len(a.types)), make([]string, len(b.types))
	for i := range a.types {
		ta[i] = normalType(a.types[i])
	}
	for i := range b.types {
		tb[i] = normalType(b.types[i])
	}
	if !slices.Equal(ta, tb) {
		return fmt.Sprintf("types %q vs %q", a.types, b.types)
	}
	if len(a.rows) != len(b.rows) {
		return fmt.Sprintf("%d rows vs %d", len(a.rows), len(b.rows))
	}
	cell := func(j int, x, y string) bool {
		float := strings.HasPrefix(ta[j], "Float") || strings.HasPrefix(ta[j], "Nullable(Float")
		return x == y || float && sameFloat(x, y)
	}
	sameRows := func(ra, rb [][]string, from int) string {
		for i := range ra {
			if len(ra[i]) != len(rb[i]) {
				return fmt.Sprintf("row %d: %d values vs %d", from+i, len(ra[i]), len(rb[i]))
			}
			for j := range ra[i] {
				if !cell(j, ra[i][j], rb[i][j]) {
					return fmt.Sprintf("row %d column %s: %q vs %q", from+i, a.names[j], ra[i][j], rb[i][j])
				}
			}
		}
		return ""
	}
	ra, rb := normRows(a.rows, ta), normRows(b.rows, ta)
	keys, limited, ordered := ordering(sql, a.names)
	if !ordered {
		sortRows(ra)
		sortRows(rb)
		return sameRows(ra, rb, 0)
	}
	if keys == nil {
		return sameRows(ra, rb, 0)
	}
	// Ordered by output columns: rows that tie on every key may come in
	// any order, so each run of ties is compared as a multiset. Under a
	// LIMIT the last run may be cut anywhere: only its keys are compared.
	for i := 0; i < len(ra); {
		n := i + 1
		for n < len(ra) && sameKeys(keys, ra[i], ra[n], func(_ int, x, y string) bool { return x == y }) {
			n++
		}
		for k := i; k < n; k++ {
			if !sameKeys(keys, ra[k], rb[k], cell) {
				return fmt.Sprintf("row %d: ordered by %v, %q vs %q", k, keyNames(keys, a.names), ra[k], rb[k])
			}
		}
		if !(limited && n == len(ra)) {
			ga, gb := slices.Clone(ra[i:n]), slices.Clone(rb[i:n])
			sortRows(ga)
			sortRows(gb)
			if d := sameRows(ga, gb, i); d != "" {
				return d + " (among rows that tie on " + strings.Join(keyNames(keys, a.names), ", ") + ")"
			}
		}
		i = n
	}
	return ""
}

func normRows(rows [][]string, types []string) [][]string {
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = make([]string, len(r))
		for j, v := range r {
			if j < len(types) {
				v = normalValue(types[j], v)
			}
			out[i][j] = v
		}
	}
	return out
}

func sortRows(rows [][]string) {
	slices.SortFunc(rows, func(x, y []string) int { return strings.Compare(strings.Join(x, "\t"), strings.Join(y, "\t")) })
}

func sameKeys(keys []int, x, y []string, eq func(int, string, string) bool) bool {
	for _, k := range keys {
		if k >= len(x) || k >= len(y) || !eq(k, x[k], y[k]) {
			return false
		}
	}
	return true
}

func keyNames(keys []int, names []string) []string {
	var out []string
	for _, k := range keys {
		out = append(out, names[k])
	}
	return out
}

// ordering reads the outermost SELECT's ORDER BY (outside parentheses and
// quotes): whether there is one, whether a LIMIT follows it, and the
// output columns it orders by (nil when a key is not an output column, and
// then rows are compared in order).
func ordering(sql string, names []string) (keys []int, limited, ordered bool) {
	up := strings.ToUpper(sql)
	at := -1
	topLevel(up, func(i int) {
		if strings.HasPrefix(up[i:], "ORDER BY") && (i == 0 || !isIdent(up[i-1])) {
			at = i
		}
	})
	if at < 0 {
		return nil, false, false
	}
	clause := sql[at+len("ORDER BY"):]
	end := len(clause)
	var commas []int
	upClause := strings.ToUpper(clause)
	topLevel(upClause, func(i int) {
		if end == len(clause) && strings.HasPrefix(upClause[i:], "LIMIT") && (i == 0 || !isIdent(upClause[i-1])) {
			end, limited = i, true
		}
		if upClause[i] == ',' && i < end {
			commas = append(commas, i)
		}
	})
	from := 0
	for _, to := range append(commas, end) {
		item := strings.TrimSpace(clause[from:to])
		from = to + 1
		for _, dir := range []string{" DESC", " ASC"} {
			if strings.HasSuffix(strings.ToUpper(item), dir) {
				item = strings.TrimSpace(item[:len(item)-len(dir)])
			}
		}
		k := slices.Index(names, item)
		if k < 0 {
			return nil, limited, true
		}
		keys = append(keys, k)
	}
	return keys, limited, true
}

// topLevel calls fn for each index of s outside quotes and parentheses.
func topLevel(s string, fn func(int)) {
	depth := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
		case depth == 0:
			fn(i)
		}
	}
}

func isIdent(c byte) bool { return c == '_' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
