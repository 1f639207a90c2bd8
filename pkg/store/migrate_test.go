package store

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

var (
	debian1816 = CapabilitiesOf(proto.Version{Major: 18, Minor: 16, Patch: 1})
	modern     = CapabilitiesOf(proto.Version{Major: 25, Minor: 8, Patch: 2})
)

func TestCapabilities(t *testing.T) {
	if debian1816.LowCard || debian1816.TTL || debian1816.DateTime64 {
		t.Errorf("18.16 gets %+v", debian1816)
	}
	if !modern.LowCard || !modern.TTL || !modern.DateTime64 {
		t.Errorf("25.8 gets %+v", modern)
	}
	v195 := CapabilitiesOf(proto.Version{Major: 19, Minor: 5})
	if !v195.LowCard || v195.TTL {
		t.Errorf("19.5 gets %+v", v195)
	}
}

// TestRenderGating: the foundation renders LowCardinality only for servers
// that have it, and nothing else differs.
func TestRenderGating(t *testing.T) {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].version != 1 {
		t.Fatalf("migrations %v", ms)
	}
	old, err := ms[0].render("trilens", "", debian1816)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := ms[0].render("trilens", "", modern)
	if err != nil {
		t.Fatal(err)
	}
	if len(old) != 15 || len(old) != len(cur) {
		t.Fatalf("%d statements for 18.16, %d for 25.8; want 15", len(old), len(cur))
	}
	for i := range old {
		if strings.Contains(old[i], "LowCardinality") {
			t.Errorf("18.16 statement %d uses LowCardinality:\n%s", i, old[i])
		}
		if !strings.Contains(cur[i], "tenant LowCardinality(String)") {
			t.Errorf("25.8 statement %d has no LowCardinality tenant:\n%s", i, cur[i])
		}
		if strings.ReplaceAll(strings.ReplaceAll(cur[i], "LowCardinality(String)", "String"), "\n", "") != strings.ReplaceAll(old[i], "\n", "") {
			t.Errorf("statement %d differs beyond LowCardinality", i)
		}
		if !strings.HasPrefix(old[i], "CREATE TABLE IF NOT EXISTS trilens.") {
			t.Errorf("statement %d does not start with CREATE TABLE IF NOT EXISTS trilens.: %.80s", i, old[i])
		}
	}
}

func TestRenderTemplate(t *testing.T) {
	m := migration{version: 300, name: "x", text: `-- a comment; not a statement end
CREATE TABLE IF NOT EXISTS {{.DB}}.a (d DateTime, s {{.LowCardinality "String"}})
ENGINE = MergeTree() ORDER BY d{{if .TTL}} TTL d + INTERVAL 30 DAY{{end}};

{{if .AtLeast 21 8}}SELECT 'new';{{end}}
SELECT 1;
`}
	old, err := m.render("db", "", debian1816)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"CREATE TABLE IF NOT EXISTS db.a (d DateTime, s String)\nENGINE = MergeTree() ORDER BY d", "SELECT 1"}
	if strings.Join(old, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("18.16: %q\nwant %q", old, want)
	}
	cur, err := m.render("db", "", modern)
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"CREATE TABLE IF NOT EXISTS db.a (d DateTime, s LowCardinality(String))\nENGINE = MergeTree() ORDER BY d TTL d + INTERVAL 30 DAY", "SELECT 'new'", "SELECT 1"}
	if strings.Join(cur, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("25.8: %q\nwant %q", cur, want)
	}
	if _, err := (migration{name: "bad", text: "{{.NoSuchField}}"}).render("db", "", modern); err == nil {
		t.Error("unknown template field rendered")
	}
}

func TestLoadMigrationsRejects(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"bad name":  {"migrations/12_x.sql": {}},
		"upper":     {"migrations/0012_X.sql": {}},
		"duplicate": {"migrations/0012_a.sql": {}, "migrations/0012_b.sql": {}},
	} {
		if _, err := loadMigrations(fsys); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	ms, err := loadMigrations(fstest.MapFS{"migrations/0300_b.sql": {}, "migrations/0002_a.sql": {}})
	if err != nil || len(ms) != 2 || ms[0].version != 2 || ms[1].version != 300 {
		t.Fatalf("order: %v %v", ms, err)
	}
}
