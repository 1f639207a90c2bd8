package bus_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
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
