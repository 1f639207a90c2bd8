package chain_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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

// TestChainLockUnavailable: with the NATS store full, the lock cannot be
// taken, yet every batch is stored (unchained, nothing lost or duplicated);
// once JetStream takes writes again CatchUp appends them, and the chain
// verifies with every envelope in it. A redelivery while unchained leaves
// the stored row alone.
func TestChainLockUnavailable(t *testing.T) {
	st := chtest.Store(t)
	ctx := context.Background()
	js := fullJetStream(t)
	clock := t0
	l, err := chain.NewLinker(ctx, st, js, nil, 1000, func() time.Time { return clock })
	if err != nil {
		t.Fatalf("a full store must not stop the linker: %v", err)
	}
	const batches, perBatch = 3, 4
	for b := range batches {
		ids := make([]string, perBatch)
		for i := range ids {
			ids[i] = fmt.Sprintf("full-b%d-%d", b, i)
		}
		if b > 0 {
			ids = append(ids, "full-b0-0") // redelivered
		}
		var rows evidence.Rows
		for _, id := range ids {
			env := events.NewEnvelope(id, "shop", eventv1.Kind_KIND_CHANGE, &eventv1.Producer{Collector: "test"}, &eventv1.Subject{}, t0)
			rows.AddMessage(&eventv1.Event{Envelope: env}, []byte(id))
		}
		linkCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		cps, release, err := l.Link(linkCtx, &rows.EvidenceLog)
		cancel()
		if err != nil {
			t.Fatalf("batch %d with the lock unavailable: %v", b, err)
		}
		if b > 0 && rows.EvidenceLog.Len() != perBatch {
			t.Fatalf("batch %d: %d log rows, want %d (the redelivered envelope is logged already)", b, rows.EvidenceLog.Len(), perBatch)
		}
		err = st.Insert(ctx, append(rows.Tables(), cps)...)
		release()
		if err != nil {
			t.Fatal(err)
		}
	}
	if res := verify(t, st, nil); res.Entries != 0 || res.Break != nil {
		t.Fatalf("chain with the lock unavailable: %+v, want empty", res)
	}
	if got := l.Pending(); len(got) != 1 || got[0] != "shop" {
		t.Fatalf("pending tenants %v, want [shop]", got)
	}
	// JetStream takes writes again.
	if err := js.DeleteStream(ctx, "FILLER"); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Minute) // past the bucket's retry time
	n, err := l.CatchUp(ctx, "shop")
	if err != nil || n != batches*perBatch {
		t.Fatalf("caught up %d entries, %v: want %d", n, err, batches*perBatch)
	}
	if res := verify(t, st, nil); res.Entries != batches*perBatch || res.Break != nil {
		t.Fatalf("chain after catching up: %+v, want %d unbroken entries", res, batches*perBatch)
	}
	if n, err := l.CatchUp(ctx, "shop"); n != 0 || err != nil || len(l.Pending()) != 0 {
		t.Fatalf("second catch-up: %d, %v, pending %v: want nothing left", n, err, l.Pending())
	}
}

// fullJetStream is a JetStream whose 2 MiB store a filler stream has filled.
func fullJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, JetStreamMaxStore: 2 << 20,
		JetStreamMaxMemory: 8 << 20, StoreDir: t.TempDir(), NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FILLER", Subjects: []string{"filler"}}); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for i := 0; ; i++ {
		if _, err := js.Publish(ctx, "filler", chunk); err != nil {
			break
		}
		if i > 1000 {
			t.Fatal("the store never filled")
		}
	}
	return js
}
