package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
)

// A migrator waits while another one holds the lock and beats, takes the
// lock over once the holder falls silent, and leaves no lock behind.
func TestMigratorWaitsForTheLockAndTakesOverASilentHolder(t *testing.T) {
	defer store.SetMigrationLockTiming(100*time.Millisecond, 2*time.Second, 50*time.Millisecond)()
	ctx := context.Background()
	cfg := chtest.Config(t)
	st, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lockSQL := func(beat int64) []string { return store.MigrationLockStatements(cfg.Database, "other-migrator", beat) }
	for _, q := range lockSQL(1)[:2] {
		if err := st.Conn().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	stopBeating := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	var stopOnce sync.Once
	stop := func() { stopOnce.Do(func() { close(stopBeating) }) }
	defer stop()
	wg.Go(func() {
		for beat := int64(2); ; beat++ {
			select {
			case <-stopBeating:
				return
			case <-time.After(100 * time.Millisecond):
				if err := st.Conn().Exec(ctx, lockSQL(beat)[1]); err != nil {
					t.Error(err)
					return
				}
			}
		}
	})

	// Two leases pass while the holder beats: the migrator keeps waiting.
	waitCtx, cancel := context.WithTimeout(ctx, 4*time.Second)
	err = st.Migrate(waitCtx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "held by other-migrator") {
		t.Fatalf("Migrate while another migrator holds the lock: %v, want a deadline naming the holder", err)
	}
	if n := tableCount(t, st, cfg.Database, "schema_migrations"); n != 0 {
		t.Fatalf("schema_migrations exists: the migrator ran while another held the lock")
	}

	stop()
	wg.Wait()
	start := time.Now()
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("Migrate after the holder fell silent: %v", err)
	}
	if waited := time.Since(start); waited < 2*time.Second {
		t.Errorf("took the lock over after %s, before the lease (2s) ran out", waited)
	}
	if applied, err := st.AppliedMigrations(ctx); err != nil || applied[1] != "foundation" {
		t.Fatalf("applied = %v, %v; want 1: foundation", applied, err)
	}
	if n := tableCount(t, st, cfg.Database, store.MigrationLockTable); n != 0 {
		t.Errorf("the lock is left behind after Migrate")
	}
}

func tableCount(t *testing.T, st *store.Store, db, table string) uint64 {
	t.Helper()
	var n uint64
	if err := st.Conn().QueryRow(context.Background(), "SELECT count() FROM system.tables WHERE database = ? AND name = ?", db, table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
