package chserver

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func connect(t *testing.T, s *Server) driver.Conn {
	t.Helper()
	opts, err := clickhouse.ParseDSN(s.DSN())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestRestartKeepsData starts a server in a temp dir, writes a row, restarts
// it and reads the row back; Close removes the dir.
func TestRestartKeepsData(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	s, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("started in %s on %s", time.Since(start).Round(time.Millisecond), s.DSN())
	if s.TCPPort() == 0 || s.HTTPPort() == 0 || s.TCPPort() == s.HTTPPort() {
		t.Fatalf("ports tcp=%d http=%d", s.TCPPort(), s.HTTPPort())
	}
	conn := connect(t, s)
	if err := conn.Exec(ctx, "CREATE TABLE default.kept (id UInt32) ENGINE = MergeTree() ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO default.kept (id)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(uint32(42)); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}

	start = time.Now()
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted in %s", time.Since(start).Round(time.Millisecond))
	var id uint32
	if err := conn.QueryRow(ctx, "SELECT id FROM default.kept").Scan(&id); err != nil {
		t.Fatal(err)
	}
	if id != 42 {
		t.Fatalf("after restart read %d, want 42", id)
	}

	// Stopped: pings fail until Restart; Stop twice is harmless.
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := conn.Ping(pctx); err == nil {
		t.Fatal("ping succeeded on a stopped server")
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := conn.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Dir()); !os.IsNotExist(err) {
		t.Fatalf("temp dir %s left behind: %v", s.Dir(), err)
	}
}

// TestPersistentDir: a caller's Dir survives Close and a new server on it
// sees the old data.
func TestPersistentDir(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Start(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	conn := connect(t, s)
	if err := conn.Exec(ctx, "CREATE DATABASE kept"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}

	s2, err := Start(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close(ctx)
	var n uint64
	if err := connect(t, s2).QueryRow(ctx, "SELECT count() FROM system.databases WHERE name = 'kept'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatal("database created before Close is gone")
	}
}

// TestPortInUse: explicit ports are not retried; the error names the cause.
func TestPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	start := time.Now()
	_, err = Start(context.Background(), Options{Dir: t.TempDir(), TCPPort: port})
	var inUse *addrInUseError
	if !errors.As(err, &inUse) || inUse.port != port {
		t.Fatalf("err = %v, want address in use on %d", err, port)
	}
	t.Logf("failed in %s: %v", time.Since(start).Round(time.Millisecond), err)
}

func TestNotFound(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	old := debianBinary
	debianBinary = "/nonexistent/clickhouse-server"
	defer func() { debianBinary = old }()
	_, err := Start(context.Background(), Options{})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	const want = "clickhouse-server not found: run `make deps` (installs Debian's clickhouse-server)"
	if err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
}

// TestPickedPortTakenRetries: when a port Start picked is taken before the
// server binds it, Start picks new ports and succeeds.
func TestPickedPortTakenRetries(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	orig := freePort
	calls := 0
	freePort = func() (int, error) {
		calls++
		if calls == 1 {
			return taken, nil
		}
		return orig()
	}
	defer func() { freePort = orig }()

	ctx := context.Background()
	s, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if s.TCPPort() == taken || calls < 4 {
		t.Fatalf("tcp port %d (taken %d) after %d picks", s.TCPPort(), taken, calls)
	}
}
