package vex

import (
	"context"
	"fmt"
	"time"

	"github.com/trilens/trilens/services/scorer/ledger"
)

// Import records the waivers in the tenant's ledger, by who imported them
// at now: new ones are created, changed ones updated, and those the
// ledger already holds in the same terms left alone, so importing a
// document twice changes nothing. It returns the waivers it recorded.
func Import(ctx context.Context, l *ledger.Ledger, tenant string, ws []ledger.Waiver, by string, now time.Time) ([]ledger.Waiver, error) {
	existing, err := l.List(ctx, tenant)
	if err != nil {
		return nil, err
	}
	held := map[string]ledger.Waiver{}
	for _, e := range existing {
		held[e.ID] = e
	}
	var out []ledger.Waiver
	for _, w := range ws {
		w.Source, w.CreatedAt = ledger.WaiverSourceLedger, now
		change := ledger.WaiverCreated
		if e, ok := held[w.ID]; ok {
			if e.Source == ledger.WaiverSourcePolicy {
				return out, fmt.Errorf("vex: waiver %s is declared in the policy file", w.ID)
			}
			if e.State == ledger.WaiverActive && sameTerms(e, w) {
				continue
			}
			change, w.CreatedAt = ledger.WaiverUpdated, e.CreatedAt
		}
		if err := l.Record(ctx, tenant, w, change, by, now); err != nil {
			return out, err
		}
		w.State, w.LastChange, w.ChangedBy, w.ChangedAt = ledger.WaiverActive, change, by, now
		held[w.ID] = w
		out = append(out, w)
	}
	return out, nil
}

func sameTerms(a, b ledger.Waiver) bool {
	return a.Target == b.Target && a.Scope == b.Scope && a.Owner == b.Owner && a.Reason == b.Reason &&
		a.CompensatingControl == b.CompensatingControl && a.ExpiresAt.Equal(b.ExpiresAt)
}
