package scorer

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"github.com/trilens/trilens/services/scorer/chain"
	"github.com/trilens/trilens/services/scorer/evidence"
	"google.golang.org/protobuf/proto"
)

// Replay re-scores tenant's evidence stored in from since `since`, in chain
// order, into `into` (a scratch database) with pol, as the scorer would
// have: each envelope's rows, then every processor, one envelope at a time.
// The clock is fixed at asOf, so the same evidence and policy give the
// same rows. Verdicts are stored, not published. The scorer scores the
// decoded events, never the documents they point to, so the log's messages
// are all a replay needs; entries stored before the log kept messages are
// skipped and counted.
func Replay(ctx context.Context, from, into *store.Store, pol *policy.Policy, tenant string, since, asOf time.Time) (replayed, skipped int, err error) {
	set := Settings{Store: into, Policy: pol, Now: func() time.Time { return asOf }}
	// The scorer's defaults, so that a new setting validates here too; replay
	// never starts the consumer nor its sweeps, it only runs the processors.
	var cfg Config
	cfg.RegisterFlags("", flag.NewFlagSet("replay", flag.ContinueOnError))
	cfg.Durable, cfg.BatchRows, cfg.MaxDeliver, cfg.CheckpointEvery, cfg.Chain = "replay", 1, 1, 1, true
	s, err := New(cfg, set)
	if err != nil {
		return 0, 0, err
	}
	err = chain.Walk(ctx, from, tenant, func(e store.EvidenceLog) error {
		if e.ObservedAt.Before(since) {
			return nil
		}
		if e.Message == "" {
			skipped++
			return nil
		}
		ev := &eventv1.Event{}
		if err := proto.Unmarshal([]byte(e.Message), ev); err != nil {
			return fmt.Errorf("entry %d (%s): %w", e.ChainSeq, e.EventID, err)
		}
		rows := evidence.Rows{Now: set.Now}
		rows.AddMessage(ev, []byte(e.Message))
		rows.EvidenceLog.ChainSeq[0], rows.EvidenceLog.EntryDigest[0] = e.ChainSeq, e.EntryDigest
		rows.EvidenceLog.PrevDigest[0], rows.EvidenceLog.ChainDigest[0] = e.PrevDigest, e.ChainDigest
		if err := into.Insert(ctx, rows.Tables()...); err != nil {
			return err
		}
		for _, p := range s.processors {
			if err := p.Process(ctx, []*eventv1.Event{ev}); err != nil {
				return fmt.Errorf("%s: %w", p.Name(), err)
			}
		}
		replayed++
		return nil
	})
	return replayed, skipped, err
}
