package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// The migration files; pkg/store/migrations/README.md says who owns which
// version range and how to write one.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one versioned file: NNNN_name.sql.
type migration struct {
	version uint32
	name    string
	text    string
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// loadMigrations reads every migration file in version order and rejects
// badly named files and duplicate versions.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	paths, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	seen := map[uint32]string{}
	var ms []migration
	for _, p := range paths {
		m := migrationName.FindStringSubmatch(path.Base(p))
		if m == nil {
			return nil, fmt.Errorf("migration %s: want NNNN_name.sql (lower-case name)", p)
		}
		v, _ := strconv.ParseUint(m[1], 10, 32)
		if other, dup := seen[uint32(v)]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, p, v)
		}
		seen[uint32(v)] = p
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: uint32(v), name: m[2], text: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// templateData is what a migration template sees: {{.DB}}, the server's
// capabilities ({{if .TTL}}, {{.LowCardinality "String"}}, {{if .AtLeast 21 8}})
// and the helpers that render a table for one server or for a cluster
// (schema.go).
type templateData struct {
	DB string
	Capabilities
	// cluster names the ClickHouse cluster (store.cluster); empty on one server.
	cluster string
}

// statementEnd: statements end with ';' at the end of a line.
var statementEnd = regexp.MustCompile(`(?m);[ \t]*$`)

// render executes a migration template and splits it into statements,
// dropping comment-only lines and empty statements.
func (m migration) render(db, cluster string, caps Capabilities) ([]string, error) {
	t, err := template.New(m.name).Option("missingkey=error").Parse(m.text)
	if err != nil {
		return nil, fmt.Errorf("migration %04d_%s: %w", m.version, m.name, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, templateData{DB: db, Capabilities: caps, cluster: cluster}); err != nil {
		return nil, fmt.Errorf("migration %04d_%s: %w", m.version, m.name, err)
	}
	var stmts []string
	for _, part := range statementEnd.Split(b.String(), -1) {
		var lines []string
		for _, l := range strings.Split(part, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "--") {
				lines = append(lines, l)
			}
		}
		if s := strings.TrimSpace(strings.Join(lines, "\n")); s != "" {
			stmts = append(stmts, s)
		}
	}
	return stmts, nil
}

// Migrate applies every embedded migration not yet recorded in
// schema_migrations, in version order. Two processes may migrate at once: on
// one server they take turns (migratelock.go); on a cluster, and after a
// crash, statements are idempotent (IF NOT EXISTS) and "already exists"
// errors are taken as success, so a half-applied file re-runs cleanly.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		return err
	}
	return s.migrate(ctx, ms)
}

func (s *Store) migrate(ctx context.Context, ms []migration) error {
	unlock, err := s.lockMigrations(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	err = s.conn.Exec(ctx, schemaMigrationsTable(s.db, s.cluster))
	if err != nil && !alreadyExists(err) {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	applied, err := s.AppliedMigrations(ctx)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if _, ok := applied[m.version]; ok {
			continue
		}
		stmts, err := m.render(s.db, s.cluster, s.caps)
		if err != nil {
			return err
		}
		for i, stmt := range stmts {
			if err := s.execMigration(ctx, stmt); err != nil {
				return fmt.Errorf("migration %04d_%s statement %d: %w\n%s", m.version, m.name, i+1, err, stmt)
			}
		}
		b, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.db+".schema_migrations (version, name, applied_at)")
		if err != nil {
			return err
		}
		if err := b.Append(m.version, m.name, time.Now()); err != nil {
			b.Abort()
			return err
		}
		if err := b.Send(); err != nil {
			return fmt.Errorf("record migration %04d: %w", m.version, err)
		}
	}
	return nil
}

// clusterDDLWait bounds how long a migrator waits for another migrator's
// ON CLUSTER DDL to reach the replica it is connected to.
const clusterDDLWait = 2 * time.Minute

// execMigration runs one statement, taking "already exists" as success. On a
// cluster, a concurrent migrator's CREATE ... ON CLUSTER answers this one
// "already exists" as soon as it ran on some replica, possibly before it ran on
// this one; a following statement then finds no table here (code 60) for a
// while, so it is retried until the DDL queue catches up.
func (s *Store) execMigration(ctx context.Context, stmt string) error {
	deadline := time.Now().Add(clusterDDLWait)
	for {
		err := s.conn.Exec(ctx, stmt)
		if err == nil || alreadyExists(err) {
			return nil
		}
		var ex *clickhouse.Exception
		if s.cluster == "" || !errors.As(err, &ex) || ex.Code != 60 || time.Now().After(deadline) { // 60: UNKNOWN_TABLE
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// AppliedMigrations maps each recorded version to its name.
func (s *Store) AppliedMigrations(ctx context.Context) (map[uint32]string, error) {
	rows, err := s.conn.Query(ctx, "SELECT version, name FROM "+s.db+".schema_migrations FINAL")
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	applied := map[uint32]string{}
	for rows.Next() {
		var v uint32
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			return nil, err
		}
		applied[v] = name
	}
	return applied, rows.Err()
}

// alreadyExists: a concurrent migrator (or an earlier half-applied run)
// created the object first.
func alreadyExists(err error) bool {
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) {
		return false
	}
	switch ex.Code {
	case 15, 57, 82: // DUPLICATE_COLUMN, TABLE_ALREADY_EXISTS, DATABASE_ALREADY_EXISTS
		return true
	}
	return strings.Contains(ex.Message, "already exists")
}

// MigrationStatement is one statement of a migration rendered for a server.
type MigrationStatement struct {
	Version uint32
	Name    string
	SQL     string
}

// RenderMigrations renders every embedded migration for a server with caps,
// in the order Migrate runs them, for checking the schema on engines that
// are not reached through a Store (ClickHouse in process).
func RenderMigrations(db string, caps Capabilities) ([]MigrationStatement, error) {
	return RenderClusterMigrations(db, "", caps)
}

// RenderClusterMigrations renders them as Migrate does with store.cluster
// set to cluster (RenderMigrations when empty).
func RenderClusterMigrations(db, cluster string, caps Capabilities) ([]MigrationStatement, error) {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		return nil, err
	}
	var out []MigrationStatement
	for _, m := range ms {
		stmts, err := m.render(db, cluster, caps)
		if err != nil {
			return nil, err
		}
		for _, s := range stmts {
			out = append(out, MigrationStatement{Version: m.version, Name: m.name, SQL: s})
		}
	}
	return out, nil
}
