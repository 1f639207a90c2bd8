package store

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// StatementKind says how a statement was sent.
type StatementKind string

// The kinds a Recorder sees.
const (
	KindQuery    StatementKind = "query"     // Conn.Query
	KindQueryRow StatementKind = "query_row" // Conn.QueryRow
	KindSelect   StatementKind = "select"    // Conn.Select
	KindExec     StatementKind = "exec"      // Conn.Exec
	KindBatch    StatementKind = "batch"     // Conn.PrepareBatch: an INSERT, rows not kept
)

// Statement is one statement a Store sent, with the arguments the driver
// bound into it and the line of code that sent it.
type Statement struct {
	Kind StatementKind
	SQL  string
	Args []any
	// Caller is file:line of the call on the connection.
	Caller string
}

// Reads reports whether the statement returns rows to the caller.
func (s Statement) Reads() bool {
	return s.Kind == KindQuery || s.Kind == KindQueryRow || s.Kind == KindSelect
}

// Recorder keeps every statement sent through the Stores it is attached to
// (Config.Recorder), so tests can replay exactly what the code asks of
// ClickHouse on another engine. Safe for concurrent use.
type Recorder struct {
	mu    sync.Mutex
	stmts []Statement
}

func (r *Recorder) add(kind StatementKind, sql string, args []any) {
	// Skip add and the recordingConn method: the frame above is the caller.
	_, file, line, _ := runtime.Caller(2)
	r.mu.Lock()
	r.stmts = append(r.stmts, Statement{Kind: kind, SQL: sql, Args: slices.Clone(args), Caller: fmt.Sprintf("%s:%d", file, line)})
	r.mu.Unlock()
}

// Statements returns what was recorded so far, in the order it was sent.
func (r *Recorder) Statements() []Statement {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.stmts)
}

// recordingConn records each statement before the driver sends it, so a
// statement the server refuses is recorded too.
type recordingConn struct {
	driver.Conn
	rec *Recorder
}

func (c recordingConn) Query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	c.rec.add(KindQuery, query, args)
	return c.Conn.Query(ctx, query, args...)
}

func (c recordingConn) QueryRow(ctx context.Context, query string, args ...any) driver.Row {
	c.rec.add(KindQueryRow, query, args)
	return c.Conn.QueryRow(ctx, query, args...)
}

func (c recordingConn) Select(ctx context.Context, dest any, query string, args ...any) error {
	c.rec.add(KindSelect, query, args)
	return c.Conn.Select(ctx, dest, query, args...)
}

func (c recordingConn) Exec(ctx context.Context, query string, args ...any) error {
	c.rec.add(KindExec, query, args)
	return c.Conn.Exec(ctx, query, args...)
}

func (c recordingConn) PrepareBatch(ctx context.Context, query string, opts ...driver.PrepareBatchOption) (driver.Batch, error) {
	c.rec.add(KindBatch, query, nil)
	return c.Conn.PrepareBatch(ctx, query, opts...)
}

func (c recordingConn) AsyncInsert(ctx context.Context, query string, wait bool, args ...any) error {
	c.rec.add(KindExec, query, args)
	return c.Conn.AsyncInsert(ctx, query, wait, args...)
}
