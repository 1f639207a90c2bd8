package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/services/scorer"
)

// TestScorerSweepsScoredDocuments: an event over the payload limit is
// stored by claim check; once the scorer has stored it and the document
// is past the (here tiny) retention, the scorer's periodic sweep deletes
// the document from the object store.
func TestScorerSweepsScoredDocuments(t *testing.T) {
	ns := natsStart(t)
	b := connectBus(t, ns.ClientURL(), nil)
	st := chtestStore(t)
	ctx := context.Background()
	docs, err := b.JetStream().ObjectStore(ctx, bus.DocumentBucket)
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		infos, err := docs.List(ctx)
		if errors.Is(err, jetstream.ErrNoObjectsFound) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return len(infos)
	}
	const tenant = "doc-retention"
	if err := b.Publish(ctx, oversizedChange(tenant)); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d documents after a claim-checked publish, want 1", n)
	}
	runScorer(t, b, st, func(c *scorer.Config) {
		c.DocumentRetention = time.Millisecond
		c.DocumentSweepEvery = 300 * time.Millisecond
	})
	waitStored(t, st, tenant, 1, 2*time.Minute)
	waitFor(t, time.Minute, "the scored event's document swept", func() bool { return count() == 0 })
}
