package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/bus"
)

func TestOldestUnackedTracksUnscoredEvidence(t *testing.T) {
	b := newBus(t)
	ctx := context.Background()
	if err := b.Publish(ctx, changeEvents(20)...); err != nil {
		t.Fatal(err)
	}
	spec := evidenceSpec("lag")
	release := make(chan struct{})
	c := &collector{stored: map[string]int{}, fail: func([]bus.Delivery) error { <-release; return nil }}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Consume(runCtx, spec, bus.BatchOptions{MaxWait: 20 * time.Millisecond}, c.handle) }()
	time.Sleep(1500 * time.Millisecond)
	age, err := b.OldestUnacked(ctx, bus.StreamEvidence, spec.Durable)
	if err != nil {
		t.Fatal(err)
	}
	if age < 1500*time.Millisecond || age > time.Minute {
		t.Fatalf("oldest unacknowledged evidence is %s old, want at least 1.5s while the handler holds it", age)
	}
	close(release)
	for deadline := time.Now().Add(10 * time.Second); c.count() < 20 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	// Acks are asynchronous: poll until the consumer's ack floor moves.
	for deadline := time.Now().Add(5 * time.Second); ; {
		if age, err = b.OldestUnacked(ctx, bus.StreamEvidence, spec.Durable); err != nil || age == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	<-done
	if err != nil || age != 0 {
		t.Fatalf("caught up: oldest unacknowledged %s (err %v), want 0", age, err)
	}
}
