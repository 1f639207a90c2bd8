package natstest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/natsserver"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
)

// Bus starts a server and returns a bus connected to it in process, with
// every stream provisioned, closed when the test ends.
func Bus(t testing.TB) *bus.Bus {
	t.Helper()
	return BusOn(t, Start(t))
}

// BusOn connects a provisioned bus to srv in process.
func BusOn(t testing.TB, srv *natsserver.Server) *bus.Bus {
	t.Helper()
	b, err := srv.Bus(context.Background(), bus.DefaultConfig(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// Published reads every event on the evidence stream, in order, and checks
// that each message's Nats-Msg-Id is its event id.
func Published(t testing.TB, b *bus.Bus) []*eventv1.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := b.JetStream().Stream(ctx, bus.StreamEvidence)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*eventv1.Event
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		msg, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		ev := &eventv1.Event{}
		if err := proto.Unmarshal(msg.Data, ev); err != nil {
			t.Fatal(err)
		}
		if id := msg.Header.Get(jetstream.MsgIDHeader); id != ev.GetEnvelope().GetEventId() {
			t.Errorf("Nats-Msg-Id %q, event id %q", id, ev.GetEnvelope().GetEventId())
		}
		out = append(out, ev)
	}
	return out
}

// LeakOptions are the goroutines goleak must ignore in packages that run an
// embedded server: one the server leaves by design, and a nats.go v1.55.0
// race in which an object-store Put's publisher goroutine waits for ever on
// a channel its cleanup already dropped.
func LeakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).logRejectedTLSConns"),
		goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect"),
	}
}
