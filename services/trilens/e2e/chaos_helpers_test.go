package e2e

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"google.golang.org/protobuf/proto"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/natsserver"
	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
	changev1 "github.com/trilens/trilens/proto/trilens/change/v1"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	loadtestv1 "github.com/trilens/trilens/proto/trilens/loadtest/v1"
)

func chtestServer(t testing.TB) interface {
	Stop(context.Context) error
	Restart(context.Context) error
} {
	t.Helper()
	srv := chtest.Server()
	if srv == nil {
		t.Fatal("this test stops ClickHouse: it needs the private server chtest starts, not TRILENS_CLICKHOUSE_DSN")
	}
	return srv
}

func chtestStore(t testing.TB) *store.Store { return chtest.Store(t) }

func natsStart(t *testing.T) *natsserver.Server { return natstest.Start(t) }

// natsStartAt runs a NATS server on a fixed port and store, so that a test
// can restart it as an external server would be.
func natsStartAt(t testing.TB, dir string, port int) *natsserver.Server {
	t.Helper()
	s, err := natsserver.Start(natsserver.Config{Listen: fmt.Sprintf("127.0.0.1:%d", port), StoreDir: dir, MaxPayload: 1 << 20, MaxStore: natsserver.DefaultMaxStore})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// natsStartLimited runs a NATS server whose JetStream file store holds at
// most maxStore bytes: a small disk.
func natsStartLimited(t *testing.T, maxStore int64) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, JetStreamMaxStore: maxStore,
		JetStreamMaxMemory: 64 << 20, StoreDir: t.TempDir(), MaxPayload: 1 << 20, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func protoMarshal(ev *eventv1.Event) ([]byte, error) { return proto.Marshal(ev) }

// hugeTestNameRun is a load run named by 600 KB, past what ClickHouse takes
// in one query, as a collector without subject checks once let through.
func hugeTestNameRun() *eventv1.Event {
	env := events.NewEnvelope(events.ID("chaos-poison", "huge-test"), "chaos-poison", eventv1.Kind_KIND_LOAD_RUN,
		&eventv1.Producer{Collector: "chaos-test", Tool: "k6"}, &eventv1.Subject{Repository: "acme/shop", Branch: "main"}, time.Now())
	run := &loadtestv1.LoadRun{TestName: strings.Repeat("t", 600<<10), RunId: "huge", ThresholdsPassed: true,
		Scenarios: []*loadtestv1.ScenarioStats{{Requests: 100, Rps: 10, P50Ms: 20, P95Ms: 40, P99Ms: 60}}}
	return &eventv1.Event{Envelope: env, Payload: &eventv1.Event_LoadRun{LoadRun: run}}
}

// oversizedChange is a change event of over 2 MiB, twice the payload limit.
func oversizedChange(tenant string) *eventv1.Event {
	ev := changeEvent(tenant, -1)
	for i := range 3000 {
		ev.GetChanges().Changes = append(ev.GetChanges().Changes, &changev1.Change{Id: fmt.Sprintf("%04d-%s", i, strings.Repeat("x", 700))})
	}
	return ev
}

func streamCount(t *testing.T, b *bus.Bus) uint64 {
	t.Helper()
	s, err := b.JetStream().Stream(context.Background(), bus.StreamEvidence)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}
