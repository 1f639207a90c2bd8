package loadcollector

import (
	"context"
	"log/slog"
	"testing"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/natstest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).logRejectedTLSConns"),
		// nats.go v1.55.0 race: an object-store Put (PutDocument) starts this
		// goroutine on a publisher it cleans up at once; when cleanup wins,
		// the goroutine waits on a nil channel for ever.
		goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect"))
}

// newBus starts a real NATS server with JetStream and provisions the streams.
func newBus(t testing.TB) *bus.Bus {
	t.Helper()
	nc, err := natstest.Start(t).Connect()
	if err != nil {
		t.Fatal(err)
	}
	b, err := bus.New(nc, bus.DefaultConfig(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := b.Provision(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b
}
