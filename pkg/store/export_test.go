package store

import (
	"context"
	"io/fs"
	"time"
)

// MigrateFS applies the migrations of fsys (migrations/NNNN_name.sql), for
// tests of the migrator itself.
func (s *Store) MigrateFS(ctx context.Context, fsys fs.FS) error {
	ms, err := loadMigrations(fsys)
	if err != nil {
		return err
	}
	return s.migrate(ctx, ms)
}

// MigrateBefore applies the embedded migrations older than version, to
// store rows as a server that has not yet run version would.
func (s *Store) MigrateBefore(ctx context.Context, version uint32) error {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		return err
	}
	var older []migration
	for _, m := range ms {
		if m.version < version {
			older = append(older, m)
		}
	}
	return s.migrate(ctx, older)
}

// SetMigrationLockTiming shortens the migration lock's beat, lease and poll
// for a test; restore puts the defaults back.
func SetMigrationLockTiming(beat, lease, poll time.Duration) (restore func()) {
	b, l, p := lockBeat, lockLease, lockPoll
	lockBeat, lockLease, lockPoll = beat, lease, poll
	return func() { lockBeat, lockLease, lockPoll = b, l, p }
}
