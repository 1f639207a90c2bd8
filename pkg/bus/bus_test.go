package bus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/natsserver"
	"github.com/trilens/trilens/pkg/natstest"
	changev1 "github.com/trilens/trilens/proto/trilens/change/v1"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, natstest.LeakOptions()...)
}

func newBus(t *testing.T) *bus.Bus {
	t.Helper()
	b := natstest.Bus(t)
	if err := b.Provision(context.Background()); err != nil {
		t.Fatalf("a second provision must be a no-op: %v", err)
	}
	return b
}

func changeEvent(i int) *eventv1.Event {
	env := events.NewEnvelope(events.ID("t", fmt.Sprint(i)), "acme", eventv1.Kind_KIND_CHANGE, &eventv1.Producer{Collector: "test"}, &eventv1.Subject{Service: "svc"}, time.Now())
	return &eventv1.Event{Envelope: env, Payload: &eventv1.Event_Changes{Changes: &changev1.ChangeBatch{Changes: []*changev1.Change{{Id: fmt.Sprint(i)}}}}}
}

func changeEvents(n int) []*eventv1.Event {
	evs := make([]*eventv1.Event, n)
	for i := range evs {
		evs[i] = changeEvent(i)
	}
	return evs
}

func streamMsgs(t *testing.T, b *bus.Bus, name string) uint64 {
	t.Helper()
	s, err := b.JetStream().Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// collector is a handler that records the ids it stored, failing as told.
type collector struct {
	mu     sync.Mutex
	stored map[string]int
	fail   func(batch []bus.Delivery) error
}

func (c *collector) handle(_ context.Context, batch []bus.Delivery) error {
	if c.fail != nil {
		if err := c.fail(batch); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range batch {
		c.stored[d.Event.GetEnvelope().GetEventId()]++
	}
	return nil
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.stored)
}

// consume runs a consumer until want ids are stored, then stops it and waits.
func consume(t *testing.T, b *bus.Bus, spec bus.ConsumerSpec, c *collector, want int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Consume(ctx, spec, bus.BatchOptions{MaxWait: 50 * time.Millisecond}, c.handle) }()
	deadline := time.Now().Add(30 * time.Second)
	for c.count() < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := c.count(); got != want {
		t.Fatalf("stored %d distinct events, want %d", got, want)
	}
}

func evidenceSpec(name string) bus.ConsumerSpec {
	return bus.ConsumerSpec{Stream: bus.StreamEvidence, Durable: name, AckWait: 2 * time.Second, MaxDeliver: 3}
}

func TestPublishDeduplicatesByEventID(t *testing.T) {
	b := newBus(t)
	evs := changeEvents(500)
	ctx := context.Background()
	if err := b.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, evs[:200]...); err != nil {
		t.Fatal(err)
	}
	if got := streamMsgs(t, b, bus.StreamEvidence); got != 500 {
		t.Fatalf("evidence stream holds %d messages, want 500", got)
	}
}

func TestPublishRejectsInvalidEvent(t *testing.T) {
	b := newBus(t)
	ev := changeEvent(1)
	ev.Envelope.Tenant = "Bad Tenant"
	if err := b.Publish(context.Background(), ev); err == nil || !strings.Contains(err.Error(), "tenant") {
		t.Fatalf("want a tenant error, got %v", err)
	}
}

func TestConsumeStoresEveryEventOnce(t *testing.T) {
	b := newBus(t)
	if err := b.Publish(context.Background(), changeEvents(3000)...); err != nil {
		t.Fatal(err)
	}
	c := &collector{stored: map[string]int{}}
	consume(t, b, evidenceSpec("once"), c, 3000)
	for id, n := range c.stored {
		if n != 1 {
			t.Fatalf("event %s stored %d times", id, n)
		}
	}
}

func TestConsumeRetriesPassingErrors(t *testing.T) {
	b := newBus(t)
	if err := b.Publish(context.Background(), changeEvents(100)...); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	c := &collector{stored: map[string]int{}, fail: func([]bus.Delivery) error {
		if calls.Add(1) <= 3 {
			return errors.New("database restarting")
		}
		return nil
	}}
	consume(t, b, evidenceSpec("retry"), c, 100)
	if calls.Load() <= 3 {
		t.Fatalf("handler called %d times, want retries past the 3 failures", calls.Load())
	}
	if got := streamMsgs(t, b, bus.StreamDeadLetter); got != 0 {
		t.Fatalf("passing errors must not dead-letter, got %d dead letters", got)
	}
}

func TestUndecodableMessageIsDeadLetteredAndStreamFlows(t *testing.T) {
	b := newBus(t)
	ctx := context.Background()
	if err := b.Publish(ctx, changeEvents(10)...); err != nil {
		t.Fatal(err)
	}
	garbage := nats.NewMsg(events.EvidenceSubject("acme", eventv1.Kind_KIND_CHANGE))
	garbage.Data = []byte("\xff\xff not protobuf")
	if _, err := b.JetStream().PublishMsg(ctx, garbage); err != nil {
		t.Fatal(err)
	}
	evs := changeEvents(20)[10:]
	if err := b.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	c := &collector{stored: map[string]int{}}
	consume(t, b, evidenceSpec("dlq"), c, 20)

	dl := lastDeadLetter(t, b)
	if reason := dl.Headers().Get(bus.HeaderDeadReason); !strings.Contains(reason, "undecodable protobuf") {
		t.Fatalf("dead letter reason %q, want it to say undecodable protobuf", reason)
	}
	if !bytes.Equal(dl.Data(), garbage.Data) {
		t.Fatalf("dead letter must keep the original bytes")
	}
	if s := dl.Headers().Get(bus.HeaderDeadSubject); s != garbage.Subject {
		t.Fatalf("dead letter subject header %q, want %q", s, garbage.Subject)
	}
}

func lastDeadLetter(t *testing.T, b *bus.Bus) jetstream.Msg {
	t.Helper()
	ctx := context.Background()
	if n := streamMsgs(t, b, bus.StreamDeadLetter); n != 1 {
		t.Fatalf("dead-letter stream holds %d messages, want 1", n)
	}
	cons, err := b.JetStream().OrderedConsumer(ctx, bus.StreamDeadLetter, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestPermanentFailureDeadLettersOnlyTheCulprit(t *testing.T) {
	b := newBus(t)
	evs := changeEvents(50)
	poison := evs[17].GetEnvelope().GetEventId()
	if err := b.Publish(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	c := &collector{stored: map[string]int{}, fail: func(batch []bus.Delivery) error {
		for _, d := range batch {
			if d.Event.GetEnvelope().GetEventId() == poison {
				return bus.Permanent(errors.New("column value out of range"))
			}
		}
		return nil
	}}
	consume(t, b, evidenceSpec("poison"), c, 49)
	if _, ok := c.stored[poison]; ok {
		t.Fatal("the poison event must not be stored")
	}
	if reason := lastDeadLetter(t, b).Headers().Get(bus.HeaderDeadReason); !strings.Contains(reason, "out of range") {
		t.Fatalf("dead letter reason %q", reason)
	}
}

func TestUnackedMessagesComeBackToAnotherInstance(t *testing.T) {
	srv := natstest.Start(t)
	b := natstest.BusOn(t, srv)
	ctx := context.Background()
	if err := b.Publish(ctx, changeEvents(30)...); err != nil {
		t.Fatal(err)
	}
	spec := evidenceSpec("crash")
	// A first instance on its own connection takes the messages, hangs in
	// its handler and loses its connection, as a killed process would.
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	dying, err := bus.New(nc, bus.DefaultConfig(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	taken := make(chan struct{}, 1)
	hung := &collector{stored: map[string]int{}, fail: func([]bus.Delivery) error {
		select {
		case taken <- struct{}{}:
		default:
		}
		<-release
		return errors.New("connection lost")
	}}
	crashCtx, crash := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = dying.Consume(crashCtx, spec, bus.BatchOptions{MaxWait: 10 * time.Millisecond, DrainTimeout: time.Millisecond}, hung.handle)
	}()
	<-taken
	nc.Close()
	c := &collector{stored: map[string]int{}}
	consume(t, b, spec, c, 30)
	crash()
	close(release)
	<-done
}

func TestStopDrainsFetchedMessages(t *testing.T) {
	b := newBus(t)
	if err := b.Publish(context.Background(), changeEvents(2000)...); err != nil {
		t.Fatal(err)
	}
	c := &collector{stored: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	var firstBatch sync.Once
	c.fail = func([]bus.Delivery) error { firstBatch.Do(cancel); return nil }
	// Stop as soon as the first batch is handled: everything fetched by then
	// must still be stored, and no message may be acked without being stored.
	if err := b.Consume(ctx, evidenceSpec("drain"), bus.BatchOptions{MaxMessages: 100}, c.handle); err != nil {
		t.Fatal(err)
	}
	stored := c.count()
	rest := &collector{stored: map[string]int{}}
	consume(t, b, evidenceSpec("drain"), rest, 2000-stored)
	for id := range rest.stored {
		if c.stored[id] > 0 {
			t.Fatalf("event %s was stored and delivered again after a clean stop", id)
		}
	}
}

func TestDocumentsByDigest(t *testing.T) {
	b := newBus(t)
	ctx := context.Background()
	doc := bytes.Repeat([]byte("sarif "), 300_000)
	ref, err := b.PutDocument(ctx, "report.sarif", "application/sarif+json", bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if ref.GetSize() != int64(len(doc)) || len(ref.GetSha256()) != 64 {
		t.Fatalf("bad reference %v", ref)
	}
	again, err := b.PutDocument(ctx, "copy.sarif", "application/sarif+json", bytes.NewReader(doc))
	if err != nil || again.GetSha256() != ref.GetSha256() {
		t.Fatalf("same document, different digest or error: %v %v", again, err)
	}
	r, err := b.GetDocument(ctx, ref.GetSha256())
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	_ = r.Close()
	if err != nil || !bytes.Equal(got, doc) {
		t.Fatalf("document round trip differs (%d bytes, err %v)", len(got), err)
	}
	if _, err := b.GetDocument(ctx, strings.Repeat("0", 64)); err == nil {
		t.Fatal("want an error for an unknown digest")
	}
}

func TestConsumerSurvivesServerRestart(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	start := func() *natsserver.Server {
		s, err := natsserver.Start(natsserver.Config{Listen: fmt.Sprintf("127.0.0.1:%d", port), StoreDir: dir, MaxPayload: 1 << 20, MaxStore: natsserver.DefaultMaxStore})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	srv := start()
	cfg := bus.DefaultConfig()
	cfg.URL = srv.ClientURL()
	ctx := context.Background()
	b, err := bus.Connect(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	evs := changeEvents(400)
	if err := b.Publish(ctx, evs[:200]...); err != nil {
		t.Fatal(err)
	}
	c := &collector{stored: map[string]int{}}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- b.Consume(runCtx, evidenceSpec("restart"), bus.BatchOptions{MaxWait: 20 * time.Millisecond}, c.handle)
	}()
	for c.count() < 200 {
		time.Sleep(10 * time.Millisecond)
	}
	srv.Shutdown()
	time.Sleep(300 * time.Millisecond)
	srv = start()
	defer srv.Shutdown()
	// The publisher retries until the connection is back.
	if err := b.Publish(ctx, evs[200:]...); err != nil {
		t.Fatalf("publish after restart: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for c.count() < 400 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	<-done
	if got := c.count(); got != 400 {
		t.Fatalf("stored %d distinct events across the restart, want 400", got)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestProvisionPastTheStoreSaysWhatToChange: a server whose store is smaller than
// the evidence stream's bound refuses to create it; the error names both settings.
func TestProvisionPastTheStoreSaysWhatToChange(t *testing.T) {
	srv, err := natsserver.Start(natsserver.Config{Listen: "127.0.0.1:-1", StoreDir: t.TempDir(), MaxPayload: 1 << 20, MaxStore: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	cfg := bus.DefaultConfig()
	cfg.URL = srv.ClientURL()
	b, err := bus.Connect(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.Provision(context.Background())
	for _, want := range []string{"--bus.evidence-max-bytes", "--nats.max-store", "insufficient storage"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("provision on a 64 MiB store: %v, want it to name %q", err, want)
		}
	}
}
