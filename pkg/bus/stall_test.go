package bus_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/bus"
)

// TestSlowFlushSpendsNoDeliveries: while one batch takes several AckWaits
// to store (an outage, a batch being split), the batches queued behind it
// and the messages already fetched are not delivered again until their
// deliveries run out: found by the chaos soak, where events were stored
// and dead-lettered "delivered 3 times without being stored" both.
func TestSlowFlushSpendsNoDeliveries(t *testing.T) {
	b := newBus(t)
	ctx := context.Background()
	const n = 3000
	if err := b.Publish(ctx, changeEvents(n)...); err != nil {
		t.Fatal(err)
	}
	spec := evidenceSpec("stall") // AckWait 2s, MaxDeliver 3
	var calls atomic.Int32
	c := &collector{stored: map[string]int{}, fail: func([]bus.Delivery) error {
		if calls.Add(1) == 1 {
			time.Sleep(5 * spec.AckWait)
		}
		return nil
	}}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- b.Consume(runCtx, spec, bus.BatchOptions{MaxMessages: 200, MaxWait: 20 * time.Millisecond}, c.handle)
	}()
	for deadline := time.Now().Add(time.Minute); c.count() < n && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(3 * spec.AckWait) // copies delivered again would show by now
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := c.count(); got != n {
		t.Fatalf("stored %d distinct events, want %d", got, n)
	}
	if dead := streamMsgs(t, b, bus.StreamDeadLetter); dead != 0 {
		t.Fatalf("%d events dead-lettered behind a slow batch, want 0", dead)
	}
}

// TestOutageDuringSplitSpendsNoDeliveries: the store goes down while a
// batch with a failing message is being split to find it; the good
// messages wait out the outage in place rather than being handed back
// message by message, spending deliveries that dead-letter them.
func TestOutageDuringSplitSpendsNoDeliveries(t *testing.T) {
	b := newBus(t)
	ctx := context.Background()
	const n = 2000
	evs := changeEvents(n)
	poison := evs[n/2].GetEnvelope().GetEventId()
	if err := b.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	spec := evidenceSpec("split-outage")
	spec.MaxDeliver = 2
	var downUntil atomic.Int64 // unix nanoseconds
	down := func() bool { return time.Now().UnixNano() < downUntil.Load() }
	c := &collector{stored: map[string]int{}, fail: func(batch []bus.Delivery) error {
		if down() {
			return errors.New("store down")
		}
		for _, d := range batch {
			if d.Event.GetEnvelope().GetEventId() == poison {
				// The store goes down as the split begins.
				downUntil.CompareAndSwap(0, time.Now().Add(6*time.Second).UnixNano())
				return errors.New("poison")
			}
		}
		return nil
	}}
	healthy := func(context.Context) error {
		if down() {
			return errors.New("store down")
		}
		return nil
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- b.Consume(runCtx, spec, bus.BatchOptions{MaxMessages: 500, MaxWait: 20 * time.Millisecond, Healthy: healthy, Attempts: 2}, c.handle)
	}()
	for deadline := time.Now().Add(time.Minute); (c.count() < n-1 || streamMsgs(t, b, bus.StreamDeadLetter) < 1) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := c.count(); got != n-1 {
		t.Fatalf("stored %d distinct events, want %d", got, n-1)
	}
	if dead := streamMsgs(t, b, bus.StreamDeadLetter); dead != 1 {
		dls, _ := b.DeadLetters(ctx, "", 1, 3)
		for _, d := range dls {
			t.Logf("dead letter: %s", d.Reason)
		}
		t.Fatalf("%d events dead-lettered, want 1 (the poison)", dead)
	}
}
