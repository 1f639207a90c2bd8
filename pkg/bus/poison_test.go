package bus_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/trilens/trilens/pkg/bus"
	changev1 "github.com/trilens/trilens/proto/trilens/change/v1"
	"google.golang.org/protobuf/proto"
)

// failOn fails every batch holding the event poison with a plain error, the
// kind the consumer used to take as passing and retry for ever.
func failOn(poison string) func([]bus.Delivery) error {
	return func(batch []bus.Delivery) error {
		for _, d := range batch {
			if d.Event.GetEnvelope().GetEventId() == poison {
				return errors.New("verdict refused by the bus: maximum payload exceeded")
			}
		}
		return nil
	}
}

// consumeUntil runs a consumer until done says so (at most 30 s).
func consumeUntil(t *testing.T, b *bus.Bus, spec bus.ConsumerSpec, opts bus.BatchOptions, c *collector, done func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan error, 1)
	go func() { finished <- b.Consume(ctx, spec, opts, c.handle) }()
	for deadline := time.Now().Add(30 * time.Second); !done() && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-finished; err != nil {
		t.Fatal(err)
	}
}

func TestPassingErrorOnOneMessageIsBoundedByMaxDeliver(t *testing.T) {
	b := newBus(t)
	evs := changeEvents(60)
	poison := evs[23].GetEnvelope().GetEventId()
	if err := b.Publish(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	c := &collector{stored: map[string]int{}, fail: failOn(poison)}
	var storedBeforeDead atomic.Int64
	storedBeforeDead.Store(-1)
	consumeUntil(t, b, evidenceSpec("bounded"), bus.BatchOptions{MaxWait: 50 * time.Millisecond}, c, func() bool {
		if streamMsgs(t, b, bus.StreamDeadLetter) == 0 {
			return false
		}
		storedBeforeDead.CompareAndSwap(-1, int64(c.count()))
		return true
	})
	if got := c.count(); got != 59 {
		t.Fatalf("stored %d events, want the 59 good ones", got)
	}
	if got := storedBeforeDead.Load(); got != 59 {
		t.Fatalf("%d good events stored before the poison was dead-lettered, want all 59: a retried message must not hold up the others", got)
	}
	dl := lastDeadLetter(t, b)
	if reason := dl.Headers().Get(bus.HeaderDeadReason); !strings.Contains(reason, "failed on each of 3 deliveries") || !strings.Contains(reason, "maximum payload") {
		t.Fatalf("dead letter reason %q", reason)
	}
}

func TestPassingErrorIsBoundedByMaxAge(t *testing.T) {
	b := newBus(t)
	evs := changeEvents(5)
	poison := evs[2].GetEnvelope().GetEventId()
	if err := b.Publish(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	spec := evidenceSpec("aged")
	spec.MaxDeliver, spec.MaxAge = 1000, time.Second
	time.Sleep(time.Second)
	c := &collector{stored: map[string]int{}, fail: failOn(poison)}
	consumeUntil(t, b, spec, bus.BatchOptions{MaxWait: 20 * time.Millisecond}, c, func() bool {
		return streamMsgs(t, b, bus.StreamDeadLetter) > 0
	})
	if got := c.count(); got != 4 {
		t.Fatalf("stored %d events, want 4", got)
	}
	if reason := lastDeadLetter(t, b).Headers().Get(bus.HeaderDeadReason); !strings.Contains(reason, "not stored within 1s") {
		t.Fatalf("dead letter reason %q", reason)
	}
}

func TestStoreOutageSpendsNoDeliveries(t *testing.T) {
	b := newBus(t)
	if err := b.Publish(context.Background(), changeEvents(200)...); err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	down.Store(true)
	time.AfterFunc(2*time.Second, func() { down.Store(false) })
	outage := errors.New("connection refused")
	c := &collector{stored: map[string]int{}, fail: func([]bus.Delivery) error {
		if down.Load() {
			return outage
		}
		return nil
	}}
	spec := evidenceSpec("outage")
	spec.MaxDeliver = 1
	opts := bus.BatchOptions{MaxWait: 20 * time.Millisecond, Attempts: 1, Healthy: func(context.Context) error {
		if down.Load() {
			return outage
		}
		return nil
	}}
	consumeUntil(t, b, spec, opts, c, func() bool { return c.count() == 200 })
	if got := c.count(); got != 200 {
		t.Fatalf("stored %d events after the outage, want 200", got)
	}
	if got := streamMsgs(t, b, bus.StreamDeadLetter); got != 0 {
		t.Fatalf("an outage of the store dead-lettered %d messages", got)
	}
}

func TestOversizedEventIsPublishedByClaimCheck(t *testing.T) {
	b := newBus(t)
	ctx := context.Background()
	big := changeEvent(1)
	for i := range 3000 {
		big.GetChanges().Changes = append(big.GetChanges().Changes, &changev1.Change{Id: strings.Repeat("x", 700) + string(rune('a'+i%26))})
	}
	if n := proto.Size(big); n < 2<<20 {
		t.Fatalf("test event is %d bytes, want over 2 MiB", n)
	}
	if err := b.Publish(ctx, big, changeEvent(2)); err != nil {
		t.Fatalf("publish an event over the payload limit: %v", err)
	}
	st, err := b.JetStream().Stream(ctx, bus.StreamEvidence)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := st.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if raw.Header.Get(bus.HeaderClaimCheck) == "" || len(raw.Data) != 0 || raw.Header.Get(jetstream.MsgIDHeader) != big.GetEnvelope().GetEventId() {
		t.Fatalf("oversized message: claim %q, %d bytes inline", raw.Header.Get(bus.HeaderClaimCheck), len(raw.Data))
	}
	var got atomic.Pointer[bus.Delivery]
	c := &collector{stored: map[string]int{}, fail: func(batch []bus.Delivery) error {
		for i := range batch {
			if batch[i].Event.GetEnvelope().GetEventId() == big.GetEnvelope().GetEventId() {
				got.Store(&batch[i])
			}
		}
		return nil
	}}
	consume(t, b, evidenceSpec("claim"), c, 2)
	if d := got.Load(); d == nil || !proto.Equal(d.Event, big) {
		t.Fatal("the consumer must hand over the whole oversized event")
	}
}

func TestConsumerMaxAgeMustStayBelowTheStreams(t *testing.T) {
	b := newBus(t)
	spec := evidenceSpec("too-old")
	spec.MaxAge = bus.DefaultConfig().EvidenceMaxAge
	err := b.Consume(context.Background(), spec, bus.BatchOptions{}, func(context.Context, []bus.Delivery) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "must stay below") {
		t.Fatalf("want a refusal of a max age the stream would cut short, got %v", err)
	}
}
