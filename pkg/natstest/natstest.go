// Package natstest starts a real NATS server with JetStream for a test.
package natstest

import (
	"testing"

	"github.com/trilens/trilens/pkg/natsserver"
)

// Start runs an embedded server on a free port with JetStream in t.TempDir()
// and shuts it down when the test ends.
func Start(t testing.TB) *natsserver.Server {
	t.Helper()
	return StartDir(t, t.TempDir())
}

// StartDir is Start with a given store directory, so a test can restart the
// server on the same data.
func StartDir(t testing.TB, dir string) *natsserver.Server {
	t.Helper()
	s, err := natsserver.Start(natsserver.Config{Listen: "127.0.0.1:-1", StoreDir: dir, MaxPayload: 1 << 20, MaxStore: natsserver.DefaultMaxStore})
	if err != nil {
		t.Fatalf("start nats: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}
