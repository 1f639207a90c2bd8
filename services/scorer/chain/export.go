package chain

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/trilens/trilens/pkg/store"
)

// Entry is one link of an exported period.
type Entry struct {
	Seq         uint64 `json:"seq"`
	EventID     string `json:"event_id"`
	EntryDigest string `json:"entry_digest"`
}

// Period is what an auditor needs to verify the entries between two
// checkpoints with the public key alone: the signed checkpoint the period
// starts after (absent for the chain's start), its entries' digests, and
// the signed checkpoint it ends with.
type Period struct {
	From    *store.Checkpoint `json:"from,omitempty"`
	Entries []Entry           `json:"entries"`
	To      store.Checkpoint  `json:"to"`
}

// Export is the period that ends with tenant's checkpoint at seq (0: the
// latest checkpoint).
func Export(ctx context.Context, st *store.Store, tenant string, seq uint64) (*Period, error) {
	cps, err := Checkpoints(ctx, st, tenant)
	if err != nil {
		return nil, err
	}
	var p Period
	found := false
	for i, c := range cps {
		if seq == 0 && i == len(cps)-1 || c.ChainSeq == seq {
			p.To, found = c, true
			if i > 0 {
				p.From = &cps[i-1]
			}
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("tenant %s has no checkpoint %d", tenant, seq)
	}
	var lo uint64
	if p.From != nil {
		lo = p.From.ChainSeq
	}
	err = Walk(ctx, st, tenant, func(e store.EvidenceLog) error {
		if e.ChainSeq > lo && e.ChainSeq <= p.To.ChainSeq {
			p.Entries = append(p.Entries, Entry{Seq: e.ChainSeq, EventID: e.EventID, EntryDigest: e.EntryDigest})
		}
		return nil
	})
	return &p, err
}

// VerifyPeriod checks a period with the public key alone: both signatures,
// and that linking its entries from the first checkpoint's digest gives
// the last's.
func VerifyPeriod(pub ed25519.PublicKey, p *Period) error {
	prev, next := "", uint64(1)
	if p.From != nil {
		if err := VerifySignature(pub, *p.From); err != nil {
			return err
		}
		if p.From.Tenant != p.To.Tenant {
			return errors.New("the two checkpoints name different tenants")
		}
		prev, next = p.From.ChainDigest, p.From.ChainSeq+1
	}
	if err := VerifySignature(pub, p.To); err != nil {
		return err
	}
	for _, e := range p.Entries {
		if e.Seq != next {
			return fmt.Errorf("entry %d: want entry %d", e.Seq, next)
		}
		prev, next = Link(prev, e.EntryDigest), next+1
	}
	if next-1 != p.To.ChainSeq || prev != p.To.ChainDigest {
		return fmt.Errorf("the entries do not lead to checkpoint %d", p.To.ChainSeq)
	}
	return nil
}
