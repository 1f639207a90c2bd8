package chain_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/store/chtest"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"github.com/trilens/trilens/services/scorer/chain"
	"github.com/trilens/trilens/services/scorer/evidence"
)

// BenchmarkBatch stores batches of 1000 envelopes of one tenant whose log
// already holds 100 000 entries, with the chain (lock, head query, redelivery
// query, digests) and without it, to show what the chain costs a batch.
func BenchmarkBatch(b *testing.B) {
	st := chtest.Store(b)
	ctx := context.Background()
	l, err := chain.NewLinker(ctx, st, nil, nil, 1000, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	batch := func() *evidence.Rows {
		var rows evidence.Rows
		for range 1000 {
			n++
			env := events.NewEnvelope(fmt.Sprint("ev-", n), "shop", eventv1.Kind_KIND_TRACE_WINDOW, &eventv1.Producer{Collector: "bench"},
				&eventv1.Subject{Service: "checkout"}, time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC))
			rows.AddMessage(&eventv1.Event{Envelope: env}, make([]byte, 512))
		}
		return &rows
	}
	store := func(chained bool) {
		rows := batch()
		if !chained {
			if err := st.Insert(ctx, rows.Tables()...); err != nil {
				b.Fatal(err)
			}
			return
		}
		cps, release, err := l.Link(ctx, &rows.EvidenceLog)
		if err == nil {
			err = st.Insert(ctx, append(rows.Tables(), cps)...)
			release()
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	for range 100 {
		store(true)
	}
	b.Run("chained", func(b *testing.B) {
		for b.Loop() {
			store(true)
		}
	})
	b.Run("plain", func(b *testing.B) {
		for b.Loop() {
			store(false)
		}
	})
}
