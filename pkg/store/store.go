// Package store keeps Trilens facts in ClickHouse: the connection, the
// embedded versioned migrations, and column-wise batch inserts of the row
// types every table has here.
package store

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Store is an open connection pool to one database.
type Store struct {
	conn    driver.Conn
	db      string
	version *driver.ServerVersion
	caps    Capabilities
	// cluster is store.cluster: the schema is ON CLUSTER, replicated and
	// distributed (schema.go); empty on one server.
	cluster string
	// stopRetention ends the job StartRetention started.
	stopRetention func()
}

// Open connects over the native protocol, creates the database when missing
// and returns a Store whose connections use it by default.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Database == "" {
		cfg.Database = "trilens"
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts, err := clickhouse.ParseDSN(cfg.DSN)
	if err != nil {
		return nil, err
	}
	if cfg.DialTimeout > 0 {
		opts.DialTimeout = cfg.DialTimeout
	}
	if cfg.ReadTimeout > 0 {
		opts.ReadTimeout = cfg.ReadTimeout
	}
	if cfg.MaxOpenConns > 0 {
		opts.MaxOpenConns = cfg.MaxOpenConns
		opts.MaxIdleConns = min(opts.MaxIdleConns, cfg.MaxOpenConns)
	}
	opts.ClientInfo.Products = append(opts.ClientInfo.Products, struct{ Name, Version string }{"trilens", ""})

	// The handshake fails on a missing database, so create it over a
	// connection to the server's default database first.
	boot := *opts
	boot.Auth.Database = ""
	boot.MaxOpenConns, boot.MaxIdleConns = 1, 1
	bconn, err := clickhouse.Open(&boot)
	if err != nil {
		return nil, err
	}
	err = bconn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+cfg.Database+onCluster(cfg.Cluster))
	bconn.Close()
	if err != nil {
		return nil, fmt.Errorf("create database %s: %w", cfg.Database, err)
	}

	opts.Auth.Database = cfg.Database
	if cfg.Cluster != "" {
		if opts.Settings == nil {
			opts.Settings = clickhouse.Settings{}
		}
		// An insert returns once its rows are on their shard (as on one
		// server), not queued on the replica that took it.
		opts.Settings["insert_distributed_sync"] = 1
	}
	var conn driver.Conn
	if conn, err = clickhouse.Open(opts); err != nil {
		return nil, err
	}
	v, err := conn.ServerVersion()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("clickhouse server version: %w", err)
	}
	if cfg.Recorder != nil {
		conn = recordingConn{Conn: conn, rec: cfg.Recorder}
	}
	return &Store{conn: conn, db: cfg.Database, version: v, caps: CapabilitiesOf(v.Version), cluster: cfg.Cluster}, nil
}

// Conn is the connection pool, for queries by other packages. Its default
// database is Database().
func (s *Store) Conn() driver.Conn { return s.conn }

// Database is the name of the database holding the tables.
func (s *Store) Database() string { return s.db }

// ServerVersion is what the server said at the handshake.
func (s *Store) ServerVersion() *driver.ServerVersion { return s.version }

// Cluster is the ClickHouse cluster the schema spans (store.cluster), or "".
func (s *Store) Cluster() string { return s.cluster }

// Capabilities are the features the server's version has.
func (s *Store) Capabilities() Capabilities { return s.caps }

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error { return s.conn.Ping(ctx) }

// Close stops the retention job and closes every connection.
func (s *Store) Close() error {
	if s.stopRetention != nil {
		s.stopRetention()
	}
	return s.conn.Close()
}
