package tracker

import (
	"context"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/natstest"
)

// TestLeaseOneReplicaAtATime: while one replica holds the lease, another
// cannot take it; once released, it can.
func TestLeaseOneReplicaAtATime(t *testing.T) {
	ctx := context.Background()
	b := natstest.Bus(t)
	a, err := openLease(ctx, b.JetStream(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	other, err := openLease(ctx, b.JetStream(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for i, step := range []struct {
		l    *lease
		want bool
	}{{a, true}, {other, false}, {a, false}} {
		if ok, err := step.l.acquire(ctx, "replica"); err != nil || ok != step.want {
			t.Fatalf("step %d: acquire = %v, %v; want %v", i, ok, err, step.want)
		}
	}
	if err := a.release(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := other.acquire(ctx, "replica-2"); err != nil || !ok {
		t.Fatalf("after release: acquire = %v, %v; want true", ok, err)
	}
}
