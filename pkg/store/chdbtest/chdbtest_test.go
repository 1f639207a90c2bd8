package chdbtest_test

import (
	"os"
	"strings"
	"testing"

	"github.com/trilens/trilens/pkg/store/chdbtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	chdbtest.Close()
	os.Exit(code)
}

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
