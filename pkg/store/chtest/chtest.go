// Package chtest gives tests a real ClickHouse: one private server per test
// package, started from TestMain, and a fresh migrated database per test.
//
//	func TestMain(m *testing.M) { os.Exit(chtest.Run(m)) }
//
//	func TestX(t *testing.T) { st := chtest.Store(t); ... }
//
// With TRILENS_CLICKHOUSE_DSN set, tests use that server instead (compose, CI
// with a newer ClickHouse) and Server returns nil.
package chtest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/chserver"
	"github.com/trilens/trilens/pkg/store"
	"go.uber.org/goleak"
)

// EnvDSN names the variable that points tests at an external server;
// EnvHTTP names its HTTP interface (http://host:8123), for tests that read
// results as text.
const (
	EnvDSN  = "TRILENS_CLICKHOUSE_DSN"
	EnvHTTP = "TRILENS_CLICKHOUSE_HTTP"
)

var (
	server *chserver.Server
	dsn    string
	dbSeq  atomic.Int64
)

// Run starts the package's server (unless EnvDSN is set), runs the tests,
// stops the server and then fails the run if goroutines leaked, ignoring
// those opts name (a package that also runs NATS passes natstest.LeakOptions).
// It returns the exit code for os.Exit.
func Run(m *testing.M, opts ...goleak.Option) int {
	code := run(m)
	if code == 0 {
		if err := goleak.Find(opts...); err != nil {
			fmt.Fprintln(os.Stderr, "chtest: goroutines leaked:", err)
			code = 1
		}
	}
	return code
}

func run(m *testing.M) int {
	if !flag.Parsed() {
		flag.Parse() // for testing.Verbose; m.Run parses again harmlessly
	}
	if d := os.Getenv(EnvDSN); d != "" {
		dsn = d
		return m.Run()
	}
	ctx := context.Background()
	start := time.Now()
	s, err := chserver.Start(ctx, chserver.Options{StartTimeout: 2 * time.Minute})
	if err != nil {
		fmt.Fprintln(os.Stderr, "chtest:", err)
		return 1
	}
	defer s.Close(ctx)
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "chtest: clickhouse on %s ready in %s\n", s.DSN(), time.Since(start).Round(time.Millisecond))
	}
	server, dsn = s, s.DSN()
	return m.Run()
}

// Server is the package's private server, for tests that stop and restart
// ClickHouse; nil when the tests use an external one.
func Server() *chserver.Server { return server }

// HTTPURL is the HTTP interface of the server the tests use: the private
// server's, or EnvHTTP's with an external one ("" when it is unset).
func HTTPURL() string {
	if server != nil {
		return fmt.Sprintf("http://127.0.0.1:%d", server.HTTPPort())
	}
	return os.Getenv(EnvHTTP)
}

// DSN is the address of the server the tests use.
func DSN() string { return dsn }

var unsafeChars = regexp.MustCompile(`[^a-z0-9]+`)

// Config returns a store config naming a fresh database, dropped when the
// test ends. The database is created (and migrated) by whoever opens it.
func Config(t testing.TB) store.Config {
	t.Helper()
	if dsn == "" {
		t.Fatal("chtest: no ClickHouse; call os.Exit(chtest.Run(m)) from TestMain")
	}
	name := unsafeChars.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(name) > 30 {
		name = name[:30]
	}
	db := fmt.Sprintf("t%d_%d_%s", os.Getpid(), dbSeq.Add(1), name)
	t.Cleanup(func() { drop(t, db) })
	return store.Config{DSN: dsn, Database: db, DialTimeout: 5 * time.Second}
}

// Store opens and migrates a fresh database for the test and closes it when
// the test ends.
func Store(t testing.TB) *store.Store {
	t.Helper()
	cfg := Config(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("chtest: open %s: %v", cfg.Database, err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("chtest: migrate %s: %v", cfg.Database, err)
	}
	return st
}

// drop removes a test database. A test that left the server stopped cannot
// drop it; that is logged, not failed, as the server's dir goes away anyway.
func drop(t testing.TB, db string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, store.Config{DSN: dsn, Database: "default", DialTimeout: 5 * time.Second})
	if err == nil {
		err = st.Conn().Exec(ctx, "DROP DATABASE IF EXISTS "+db)
		st.Close()
	}
	if err != nil {
		t.Logf("chtest: drop database %s: %v", db, err)
	}
}
