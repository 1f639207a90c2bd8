package chain_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/store/chtest"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"github.com/trilens/trilens/services/scorer/chain"
	"github.com/trilens/trilens/services/scorer/evidence"
)

// TestChainReplicas: two scorer replicas, each with its own NATS
// connection and linker, store batches of one tenant at the same time; the
// KV lock keeps one chain, without a fork or a gap.
func TestChainReplicas(t *testing.T) {
	st := chtest.Store(t)
	srv := natstest.Start(t)
	ctx := context.Background()
	var linkers []*chain.Linker
	for range 2 {
		l, err := chain.NewLinker(ctx, st, natstest.BusOn(t, srv).JetStream(), nil, 1000, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		linkers = append(linkers, l)
	}
	const batches, perBatch = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, 2*batches)
	for r, l := range linkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				var rows evidence.Rows
				for i := range perBatch {
					env := events.NewEnvelope(fmt.Sprintf("r%d-b%d-%d", r, b, i), "shop", eventv1.Kind_KIND_CHANGE,
						&eventv1.Producer{Collector: "test"}, &eventv1.Subject{}, t0)
					rows.AddMessage(&eventv1.Event{Envelope: env}, []byte(env.GetEventId()))
				}
				cps, release, err := l.Link(ctx, &rows.EvidenceLog)
				if err == nil {
					err = st.Insert(ctx, append(rows.Tables(), cps)...)
					release()
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	res := verify(t, st, nil)
	if res.Break != nil || res.Entries != 2*batches*perBatch {
		t.Fatalf("%d entries, break %+v: want %d entries in one unbroken chain", res.Entries, res.Break, 2*batches*perBatch)
	}
}
