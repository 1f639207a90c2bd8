// Package chdbtest gives tests ClickHouse 26.x in process: chDB's
// libchdb.so (scripts/deps.d/20-chdb.sh installs it into .cache/chdb),
// loaded through chdb-go without cgo.
//
// Import it from _test files only. chdb-go loads the library when the test
// binary starts and panics when CHDB_LIB_PATH does not name it, so no binary
// may depend on this package (sqlcompat checks that trilens does not). Its
// tests live in services/trilens/sqlcompat and, for RestartAs, in
// pkg/store/tenantusers.
//
// chDB allows one session per process: every test shares it, each in a
// database of its own.
package chdbtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	chdb "github.com/chdb-io/chdb-go/chdb-purego"
	"github.com/trilens/trilens/pkg/store"
)

// EnvLib names the variable chdb-go reads the library's path from.
const EnvLib = "CHDB_LIB_PATH"

// Engine is the process's ClickHouse in process. Its methods serialise
// statements: a chDB session runs one at a time.
type Engine struct {
	mu      sync.Mutex
	conn    chdb.ChdbConn
	dir     string
	version string
	caps    store.Capabilities
}

var (
	mu     sync.Mutex
	engine *Engine
	dbSeq  atomic.Int64
)

// Open returns the process's engine, starting it on first use, with its data
// in a temporary directory that Close removes.
func Open(t testing.TB) *Engine {
	t.Helper()
	e, err := open()
	if err != nil {
		t.Fatalf("chdbtest: %v", err)
	}
	return e
}

func open() (*Engine, error) {
	mu.Lock()
	defer mu.Unlock()
	if engine != nil {
		return engine, nil
	}
	dir, err := os.MkdirTemp("", "chdbtest")
	if err != nil {
		return nil, err
	}
	e := &Engine{dir: dir}
	if err := e.connect(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	out, err := e.Query("SELECT version()", "TabSeparated")
	if err != nil {
		e.close()
		return nil, err
	}
	e.version = strings.TrimSpace(out)
	v, err := store.ParseVersion(e.version)
	if err != nil {
		e.close()
		return nil, err
	}
	e.caps = store.CapabilitiesOf(v)
	engine = e
	return e, nil
}

// connect starts a session on e.dir; extra are clickhouse-local options.
func (e *Engine) connect(extra ...string) error {
	argv := append([]string{"clickhouse", "--path=" + e.dir}, extra...)
	conn, err := chdb.NewConnection(len(argv), argv)
	if err != nil {
		return fmt.Errorf("start chDB (%s=%s, %v): %w", EnvLib, os.Getenv(EnvLib), argv, err)
	}
	// 18.16 servers run in UTC (chserver's config); so does this engine,
	// whatever the machine's zone.
	// (The raw session: restart holds e.mu.)
	res, err := conn.Query("SET session_timezone = 'UTC'", "TabSeparated")
	if err == nil {
		err = res.Error()
		res.Free()
	}
	if err != nil {
		conn.Close()
		return fmt.Errorf("chDB: set the session time zone: %w", err)
	}
	e.conn = conn
	return nil
}

// RestartAs ends the session and starts a new one on the same data whose
// users come from usersD, a users.d file merged, as on a server, into a
// users.xml that defines only the default profile and quota; the test's
// cleanup restarts it with the built-in users again. chDB cannot switch
// users within a session: its session always authenticates as the user
// named default with an empty password (chdb-core
// src/Client/LocalConnection.cpp, session->authenticate("default", "", ...)),
// and its access storage is users.xml alone (LocalServer::setupUsers calls
// setUsersConfig, never addStoragesFromMainConfig), so CREATE USER and
// CREATE ROW POLICY fail with ACCESS_STORAGE_FOR_INSERTION_NOT_FOUND. To act
// as a user, render it under the name default, with the password hash of "".
func (e *Engine) RestartAs(t testing.TB, usersD []byte) {
	t.Helper()
	cfgDir := t.TempDir()
	users, cfg := filepath.Join(cfgDir, "users.xml"), filepath.Join(cfgDir, "config.xml")
	files := map[string]string{
		users: "<clickhouse><profiles><default/></profiles><quotas><default/></quotas></clickhouse>\n",
		cfg:   "<clickhouse><user_directories><users_xml><path>" + users + "</path></users_xml></user_directories></clickhouse>\n",
		filepath.Join(cfgDir, "users.d", "tenants.xml"): string(usersD),
	}
	for name, body := range files {
		if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { e.restart(t) })
	e.restart(t, "--config-file="+cfg)
}

func (e *Engine) restart(t testing.TB, extra ...string) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn != nil {
		e.conn.Close()
		e.conn = nil
	}
	if err := e.connect(extra...); err != nil {
		t.Fatalf("chdbtest: restart with %v: %v", extra, err)
	}
}

// Close ends the process's session and removes its data; TestMain calls it
// after m.Run.
func Close() {
	mu.Lock()
	defer mu.Unlock()
	if engine != nil {
		engine.close()
		engine = nil
	}
}

func (e *Engine) close() {
	if e.conn != nil {
		e.conn.Close()
	}
	os.RemoveAll(e.dir)
}

// Version is what version() answers, e.g. 26.7.2.1.
func (e *Engine) Version() string { return e.version }

// Capabilities are the features the engine's version has.
func (e *Engine) Capabilities() store.Capabilities { return e.caps }

// Query runs one statement and returns its output in format (a ClickHouse
// output format such as TabSeparatedWithNamesAndTypes).
func (e *Engine) Query(sql, format string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	res, err := e.conn.Query(sql, format)
	if err != nil {
		return "", err
	}
	defer res.Free()
	if err := res.Error(); err != nil {
		return "", err
	}
	return res.String(), nil
}

// QueryIn runs a statement with db as the current database, for
// statements that name tables without their database.
func (e *Engine) QueryIn(db, sql, format string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	use, err := e.conn.Query("USE "+db, "TabSeparated")
	if err != nil {
		return "", err
	}
	use.Free()
	res, err := e.conn.Query(sql, format)
	if err != nil {
		return "", err
	}
	defer res.Free()
	if err := res.Error(); err != nil {
		return "", err
	}
	return res.String(), nil
}

// Exec runs a statement whose output is not wanted.
func (e *Engine) Exec(sql string) error {
	_, err := e.Query(sql, "TabSeparated")
	return err
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9]+`)

// Database creates a fresh database for the test, dropped when it ends.
func (e *Engine) Database(t testing.TB) string {
	t.Helper()
	name := unsafeChars.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(name) > 30 {
		name = name[:30]
	}
	db := fmt.Sprintf("c%d_%d_%s", os.Getpid(), dbSeq.Add(1), name)
	if err := e.CreateDatabase(t, db); err != nil {
		t.Fatal(err)
	}
	return db
}

// CreateDatabase creates db (a name another engine also uses, so that
// statements naming it run unchanged) and drops it when the test ends.
func (e *Engine) CreateDatabase(t testing.TB, db string) error {
	t.Helper()
	if err := e.Exec("CREATE DATABASE " + db); err != nil {
		return fmt.Errorf("chdbtest: create database %s: %w", db, err)
	}
	t.Cleanup(func() {
		if err := e.Exec("DROP DATABASE IF EXISTS " + db); err != nil {
			t.Errorf("chdbtest: drop database %s: %v", db, err)
		}
	})
	return nil
}

// Migrate runs every migration of pkg/store rendered for the engine's
// capabilities in db, as Store.Migrate would on a 26.x server, and returns
// the statements it ran. It stops at the first that fails.
func (e *Engine) Migrate(db string) ([]store.MigrationStatement, error) {
	stmts, err := store.RenderMigrations(db, e.caps)
	if err != nil {
		return nil, err
	}
	for i, s := range stmts {
		if err := e.Exec(s.SQL); err != nil {
			return stmts[:i], fmt.Errorf("migration %04d_%s on %s: %w\n%s", s.Version, s.Name, e.version, err, s.SQL)
		}
	}
	if len(stmts) == 0 {
		return nil, errors.New("no migrations")
	}
	return stmts, nil
}
