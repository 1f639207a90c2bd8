package tracecollector

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/natstest"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, append(natstest.LeakOptions(),
		// The OTel SDK's gRPC exporter leaves a resolver goroutine that ends on its own shortly after.
		goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"))...)
}

// testConfig listens on free loopback ports, and neither finishes a trace
// nor closes a window by time, so a test decides when both happen (at Stop)
// however slowly the exporters of its services deliver on a busy machine.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.GRPCAddress = "127.0.0.1:0"
	cfg.HTTPAddress = "127.0.0.1:0"
	cfg.DecisionWait = time.Hour
	cfg.MaxTraceAge = time.Hour
	cfg.Lateness = 24 * time.Hour
	cfg.FlushInterval = 50 * time.Millisecond
	return cfg
}

// startCollector runs a collector publishing to b; the test stops it.
func startCollector(t testing.TB, cfg Config, b bus.Publisher, auth *collect.Auth) *Collector {
	t.Helper()
	c, err := New(cfg, collect.Settings{Logger: slog.New(slog.DiscardHandler), Publisher: b, Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return c
}

// traceEvents reads every trace event in the evidence stream.
func traceEvents(t testing.TB, b *bus.Bus) []*eventv1.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := b.JetStream().OrderedConsumer(ctx, bus.StreamEvidence, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"trilens.v1.*.evidence.trace_window", "trilens.v1.*.evidence.trace_detection"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []*eventv1.Event
	for {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(300*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			ev := &eventv1.Event{}
			if err := proto.Unmarshal(msg.Data(), ev); err != nil {
				t.Fatal(err)
			}
			out = append(out, ev)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			t.Fatal(err)
		}
		if n == 0 {
			return out
		}
	}
}

func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
