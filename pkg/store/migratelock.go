package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Migrators on one server take turns. Two ALTERs of one table at once can
// corrupt the column list Debian's 18.16 keeps in memory (ClickHouse issue
// 3421: std::bad_alloc or a crash), and Trilens processes that start together
// all migrate. ClickHouse has no lock, but CREATE TABLE without IF NOT EXISTS
// succeeds for one caller only, so the table is the lock. Its holder writes a
// beat into it every lockBeat; a waiter that sees no new beat for lockLease
// takes it over, because its holder died. On a cluster no lock is taken: ON
// CLUSTER DDL reaches each host through ZooKeeper's queue, one at a time.
var (
	lockBeat  = 5 * time.Second
	lockLease = time.Minute
	lockPoll  = 250 * time.Millisecond
)

// MigrationLockTable is the lock's table in the Store's database.
const MigrationLockTable = "schema_migrations_lock"

// MigrationLockStatements are the lock's statements for db, in the order a
// holder runs them (take, beat, read, release), so that tests can run them on
// every engine.
func MigrationLockStatements(db, holder string, beat int64) []string {
	t := db + "." + MigrationLockTable
	return []string{
		"CREATE TABLE " + t + " (holder String, beat Int64) ENGINE = Memory",
		fmt.Sprintf("INSERT INTO %s (holder, beat) SELECT %s, %d", t, quoteString(holder), beat),
		"SELECT argMax(holder, beat), max(beat) FROM " + t,
		"DROP TABLE IF EXISTS " + t,
	}
}

// lockMigrations waits for the migration lock and returns the function that
// releases it. A holder is named host:pid:start, which the waiters log.
func (s *Store) lockMigrations(ctx context.Context) (unlock func(), err error) {
	if s.cluster != "" {
		return func() {}, nil
	}
	host, _ := os.Hostname()
	holder := host + ":" + strconv.Itoa(os.Getpid()) + ":" + strconv.FormatInt(time.Now().UnixNano(), 36)
	st := MigrationLockStatements(s.db, holder, 0)
	take, read, release := st[0], st[2], st[3]
	var (
		other    string
		lastBeat int64 = -1
		lastSeen time.Time
		waitLog  bool
	)
	waiting := func(cause error) error {
		return fmt.Errorf("waiting for the migration lock %s.%s held by %s: %w", s.db, MigrationLockTable, other, cause)
	}
	for {
		err := s.conn.Exec(ctx, take)
		if err == nil {
			return s.holdMigrationLock(ctx, holder), nil
		}
		if cause := ended(ctx); cause != nil {
			return nil, waiting(cause)
		}
		if !alreadyExists(err) {
			return nil, fmt.Errorf("take the migration lock %s.%s: %w", s.db, MigrationLockTable, err)
		}
		var beat int64
		err = s.conn.QueryRow(ctx, read).Scan(&other, &beat)
		var ex *clickhouse.Exception
		switch {
		case errors.As(err, &ex) && ex.Code == 60: // UNKNOWN_TABLE: released meanwhile
			continue
		case ended(ctx) != nil:
			return nil, waiting(ended(ctx))
		case err != nil:
			return nil, fmt.Errorf("read the migration lock %s.%s: %w", s.db, MigrationLockTable, err)
		case beat != lastBeat:
			lastBeat, lastSeen = beat, time.Now()
			if !waitLog {
				waitLog = true
				slog.Default().Info("store: waiting for another migrator", "lock", s.db+"."+MigrationLockTable, "holder", other)
			}
		case time.Since(lastSeen) > lockLease:
			slog.Default().Warn("store: taking over the migration lock of a migrator that stopped beating",
				"lock", s.db+"."+MigrationLockTable, "holder", other, "silent_for", time.Since(lastSeen).Round(time.Second))
			if err := s.conn.Exec(ctx, release); err != nil {
				return nil, fmt.Errorf("drop the stale migration lock %s.%s: %w", s.db, MigrationLockTable, err)
			}
			lastBeat = -1
			continue
		}
		select {
		case <-ctx.Done():
			return nil, waiting(ctx.Err())
		case <-time.After(lockPoll):
		}
	}
}

// holdMigrationLock beats until the returned function stops it and drops the
// lock, unless a waiter took it over meanwhile.
func (s *Store) holdMigrationLock(ctx context.Context, holder string) func() {
	st := MigrationLockStatements(s.db, holder, 0)
	read, release := st[2], st[3]
	beat := func(ctx context.Context) {
		// A lost beat only brings the takeover nearer; the next one may land.
		_ = s.conn.Exec(ctx, MigrationLockStatements(s.db, holder, time.Now().UnixNano())[1])
	}
	beat(ctx)
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(lockBeat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				beat(ctx)
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var last string
		var n int64
		if err := s.conn.QueryRow(ctx, read).Scan(&last, &n); err == nil && last == holder {
			_ = s.conn.Exec(ctx, release) // left behind, it is taken over after lockLease
		}
	}
}

// ended is why ctx ended, or nil. The driver times a connection out at ctx's
// deadline, which can come a moment before ctx's own timer marks it done.
func ended(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// quoteString is s as a ClickHouse string literal.
func quoteString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
}
