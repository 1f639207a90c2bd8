package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"golang.org/x/sync/errgroup"
)

// Table is a batch of rows for one table, held column by column.
type Table interface {
	Name() string
	Columns() []string
	Len() int
	// AppendTo appends every column, in Columns() order, to a batch prepared
	// for INSERT INTO <table> (<columns>).
	AppendTo(b driver.Batch) error
	Reset()
}

// Insert writes each non-empty table in one batch. The tables are inserted
// concurrently, since one insert keeps about one server core busy and the
// client mostly waits. A failure may leave other tables written: callers
// retry the whole set, and the replacing engines collapse the repeats.
// IsRetryable tells a failure worth retrying from bad data.
func (s *Store) Insert(ctx context.Context, tables ...Table) error {
	var g errgroup.Group
	g.SetLimit(maxConcurrentInserts)
	for _, t := range tables {
		if t.Len() == 0 {
			continue
		}
		g.Go(func() error {
			if err := s.insert(ctx, t); err != nil {
				return fmt.Errorf("insert %d rows into %s: %w", t.Len(), t.Name(), err)
			}
			return nil
		})
	}
	return g.Wait()
}

// maxConcurrentInserts bounds the inserts one Insert runs at once; it stays
// below the connection pool's size so other queries still get a connection.
const maxConcurrentInserts = 4

func (s *Store) insert(ctx context.Context, t Table) error {
	q := "INSERT INTO " + s.db + "." + t.Name() + " (" + strings.Join(t.Columns(), ", ") + ")"
	b, err := s.conn.PrepareBatch(ctx, q)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := t.AppendTo(b); err != nil {
		// Nothing has left the client yet: the rows do not fit the columns.
		return permanent{err}
	}
	return b.Send()
}

// permanent marks an error that retrying cannot fix.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// retryableCodes are server exceptions that come from load or a server going
// away, not from the data.
var retryableCodes = map[int32]bool{
	3:   true, // UNEXPECTED_END_OF_FILE
	159: true, // TIMEOUT_EXCEEDED
	160: true, // TOO_SLOW
	164: true, // READONLY
	202: true, // TOO_MANY_SIMULTANEOUS_QUERIES
	203: true, // NO_FREE_CONNECTION
	209: true, // SOCKET_TIMEOUT
	210: true, // NETWORK_ERROR
	241: true, // MEMORY_LIMIT_EXCEEDED
	242: true, // TABLE_IS_READ_ONLY
	252: true, // TOO_MANY_PARTS
	285: true, // TOO_FEW_LIVE_REPLICAS
	319: true, // UNKNOWN_STATUS_OF_INSERT
	394: true, // QUERY_WAS_CANCELLED
	425: true, // SYSTEM_ERROR
	999: true, // KEEPER_EXCEPTION
}

// IsRetryable reports whether an Insert (or query) failure may succeed when
// tried again: the server was down, slow, overloaded or the connection broke,
// or the caller's context ended. Bad data and schema mismatches (a server
// exception such as an unknown column or a type error, or rows that do not
// fit the columns client-side) are permanent.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var p permanent
	if errors.As(err, &p) {
		return false
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return retryableCodes[ex.Code]
	}
	// Everything else failed on the way to or from the server: refused,
	// reset, EOF, timeouts, pool exhaustion, context ended.
	return true
}
