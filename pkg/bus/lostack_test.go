package bus_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/natsserver"
)

// TestStoredMessageWithLostAckIsNeverDeadLettered: the acks of a stored
// batch are lost (the NATS server restarts as they are sent; in the soak,
// progress signals of 50k-message batches overflowed the reconnect buffer
// so the acks after them failed). The server delivers the batch again every
// AckWait; those copies must be acknowledged, not dropped, or their
// deliveries climb until a consumer that no longer remembers them (its ring
// of recent acks moved on, or the scorer restarted) dead-letters them
// "delivered N times without being stored": the chaos soak's 1M run
// dead-lettered 22,044 events it had stored.
func TestStoredMessageWithLostAckIsNeverDeadLettered(t *testing.T) {
	dir, port := t.TempDir(), freePort(t)
	var mu sync.Mutex
	var srv *natsserver.Server
	start := func() {
		s, err := natsserver.Start(natsserver.Config{Listen: fmt.Sprintf("127.0.0.1:%d", port), StoreDir: dir, MaxPayload: 1 << 20, MaxStore: natsserver.DefaultMaxStore})
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		srv = s
		mu.Unlock()
	}
	start()
	t.Cleanup(func() { mu.Lock(); defer mu.Unlock(); srv.Shutdown() })
	cfg := bus.DefaultConfig()
	cfg.URL = srv.ClientURL()
	ctx := context.Background()
	disconnected := make(chan struct{}, 1)
	// No reconnect buffer: what is published while the server is away fails,
	// as it does once the buffer is full.
	b, err := bus.Connect(ctx, cfg, slog.New(slog.DiscardHandler), nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(*nats.Conn, error) {
			select {
			case disconnected <- struct{}{}:
			default:
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 300
	if err := b.Publish(ctx, changeEvents(n)...); err != nil {
		t.Fatal(err)
	}
	spec := evidenceSpec("lost-ack") // AckWait 2s, MaxDeliver 3
	var once sync.Once
	c := &collector{stored: map[string]int{}, fail: func([]bus.Delivery) error {
		// The batch is stored; the server goes away before its acks arrive.
		once.Do(func() {
			mu.Lock()
			srv.Shutdown()
			mu.Unlock()
			<-disconnected
			go func() { time.Sleep(300 * time.Millisecond); start() }()
		})
		return nil
	}}
	run := func(d time.Duration) {
		runCtx, stop := context.WithTimeout(ctx, d)
		defer stop()
		if err := b.Consume(runCtx, spec, bus.BatchOptions{MaxMessages: 1000, MaxWait: 20 * time.Millisecond}, c.handle); err != nil {
			t.Fatal(err)
		}
	}
	// Long enough for the copies to spend every delivery if nobody acks them.
	run(time.Duration(spec.MaxDeliver+2) * spec.AckWait)
	// A restarted consumer remembers no acks.
	run(2 * spec.AckWait)
	if got := c.count(); got != n {
		t.Fatalf("stored %d distinct events, want %d", got, n)
	}
	if dead := streamMsgs(t, b, bus.StreamDeadLetter); dead != 0 {
		dls, _ := b.DeadLetters(ctx, "", 1, 3)
		for _, d := range dls {
			t.Logf("dead letter: %s", d.Reason)
		}
		t.Fatalf("%d stored events dead-lettered, want 0", dead)
	}
	cons, err := b.JetStream().Consumer(ctx, bus.StreamEvidence, spec.Durable)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 0 {
		t.Fatalf("%d stored messages still unacknowledged, want 0", info.NumAckPending)
	}
}

// TestSpentDeliveriesAloneDeadLetterNothing: a replica stores a batch and
// dies before acking it, several times over (or the copies of a held batch
// spend its deliveries while a slow store keeps it): the delivery count is
// past MaxDeliver, but the messages never failed. The next consumer tries
// them and acks them; only a failure, or MaxAge, dead-letters a message.
func TestSpentDeliveriesAloneDeadLetterNothing(t *testing.T) {
	b := newBus(t)
	ctx := context.Background()
	const n = 200
	if err := b.Publish(ctx, changeEvents(n)...); err != nil {
		t.Fatal(err)
	}
	spec := evidenceSpec("spent")
	spec.AckWait = time.Second
	cons, err := b.JetStream().CreateOrUpdateConsumer(ctx, spec.Stream, jetstream.ConsumerConfig{
		Durable: spec.Durable, AckPolicy: jetstream.AckExplicitPolicy, AckWait: spec.AckWait, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	for range spec.MaxDeliver {
		got := 0
		for got < n {
			msgs, err := cons.Fetch(n-got, jetstream.FetchMaxWait(3*spec.AckWait))
			if err != nil {
				t.Fatal(err)
			}
			for range msgs.Messages() {
				got++ // stored, then the replica dies: no ack
			}
		}
		time.Sleep(spec.AckWait + 200*time.Millisecond)
	}
	var least atomic.Uint64 // the fewest deliveries a message came with
	least.Store(math.MaxUint64)
	c := &collector{stored: map[string]int{}, fail: func(batch []bus.Delivery) error {
		for _, d := range batch {
			for old := least.Load(); d.Delivered < old && !least.CompareAndSwap(old, d.Delivered); old = least.Load() {
			}
		}
		return nil
	}}
	consumeUntil(t, b, spec, bus.BatchOptions{MaxWait: 20 * time.Millisecond}, c, func() bool { return c.count() == n })
	if dead := streamMsgs(t, b, bus.StreamDeadLetter); dead != 0 {
		dls, _ := b.DeadLetters(ctx, "", 1, 3)
		for _, d := range dls {
			t.Logf("dead letter: %s", d.Reason)
		}
		t.Fatalf("%d events dead-lettered for deliveries they never failed, want 0", dead)
	}
	if got := c.count(); got != n {
		t.Fatalf("stored %d distinct events, want %d", got, n)
	}
	if got := least.Load(); got <= uint64(spec.MaxDeliver) {
		t.Fatalf("a message came with %d deliveries, want each past max-deliver %d", got, spec.MaxDeliver)
	}
}
