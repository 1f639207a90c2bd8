package bus_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/events"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

func TestDeadLetterReplayedAfterTheFixIsStored(t *testing.T) {
	b := newBus(t)
	ctx := context.Background()
	evs := changeEvents(10)
	poison := evs[4].GetEnvelope().GetEventId()
	if err := b.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	var broken atomic.Bool
	broken.Store(true)
	c := &collector{stored: map[string]int{}, fail: func(batch []bus.Delivery) error {
		for _, d := range batch {
			if broken.Load() && d.Event.GetEnvelope().GetEventId() == poison {
				return bus.Permanent(errors.New("unknown column lcp_ms"))
			}
		}
		return nil
	}}
	spec := evidenceSpec("replay")
	opts := bus.BatchOptions{MaxWait: 20 * time.Millisecond}
	consumeUntil(t, b, spec, opts, c, func() bool { return c.count() == 9 && streamMsgs(t, b, bus.StreamDeadLetter) == 1 })

	dls, err := b.DeadLetters(ctx, "", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 {
		t.Fatalf("%d dead letters listed, want 1", len(dls))
	}
	dl := dls[0]
	if dl.EventID != poison || dl.Consumer != "replay" || !strings.Contains(dl.Reason, "unknown column") ||
		dl.Subject != events.EvidenceSubject("acme", eventv1.Kind_KIND_CHANGE) {
		t.Fatalf("dead letter %+v", dl)
	}
	if other, err := b.DeadLetters(ctx, "another-consumer", 0, 100); err != nil || len(other) != 0 {
		t.Fatalf("another consumer's dead letters: %v %v", other, err)
	}

	broken.Store(false) // the cause is fixed (the column added)
	if _, err := b.Replay(ctx, dl.Sequence); err != nil {
		t.Fatal(err)
	}
	consumeUntil(t, b, spec, opts, c, func() bool { return c.count() == 10 })
	if c.stored[poison] != 1 {
		t.Fatalf("the replayed event was stored %d times, want once", c.stored[poison])
	}
	if got := streamMsgs(t, b, bus.StreamDeadLetter); got != 0 {
		t.Fatalf("%d dead letters left after the replay, want 0", got)
	}
	if _, err := b.Replay(ctx, dl.Sequence); err == nil {
		t.Fatal("a dead letter replayed once must not be replayed again")
	}
}
