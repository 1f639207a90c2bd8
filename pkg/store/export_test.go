package store

import (
	"context"
	"io/fs"
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
