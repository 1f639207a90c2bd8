package chain

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/trilens/trilens/pkg/store"
)

// Resolve follows evidence ids to the chain entries they name, so a score
// can be traced to the exact envelopes it came from. An id is an event id
// of the log, a report id (every part of the report), or the id of a
// derived KPI point (whose own evidence ids are followed in turn). It
// returns the entries, in chain order, and the ids that named nothing.
func Resolve(ctx context.Context, st *store.Store, tenant string, ids []string) ([]Entry, []string, error) {
	seen := map[string]bool{}
	found := map[uint64]Entry{}
	var unresolved []string
	for depth := 0; len(ids) > 0 && depth < 4; depth++ {
		named, err := entriesOf(ctx, st, tenant, ids)
		if err != nil {
			return nil, nil, err
		}
		for _, id := range ids {
			seen[id] = true
		}
		var derived []string
		for _, id := range ids {
			if es := named[id]; len(es) > 0 {
				for _, e := range es {
					found[e.Seq] = e
				}
			} else {
				derived = append(derived, id)
			}
		}
		next, resolvedHere, err := pointEvidence(ctx, st, tenant, derived)
		if err != nil {
			return nil, nil, err
		}
		for _, id := range derived {
			if !resolvedHere[id] {
				unresolved = append(unresolved, id)
			}
		}
		ids = slices.DeleteFunc(next, func(id string) bool { return seen[id] })
	}
	out := make([]Entry, 0, len(found))
	for _, e := range found {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, unresolved, nil
}

// entriesOf maps each id to the chain entries whose event id or report id it is.
func entriesOf(ctx context.Context, st *store.Store, tenant string, ids []string) (map[string][]Entry, error) {
	rows, err := st.Conn().Query(ctx, `SELECT event_id, report_id, chain_seq, entry_digest FROM `+st.Database()+`.evidence_log FINAL
		WHERE tenant = ? AND chain_seq > 0 AND (has(?, event_id) OR has(?, report_id))`, tenant, ids, ids)
	if err != nil {
		return nil, fmt.Errorf("resolve evidence: %w", err)
	}
	defer rows.Close()
	out := map[string][]Entry{}
	for rows.Next() {
		var e Entry
		var report string
		if err := rows.Scan(&e.EventID, &report, &e.Seq, &e.EntryDigest); err != nil {
			return nil, err
		}
		out[e.EventID] = append(out[e.EventID], e)
		if report != "" {
			out[report] = append(out[report], e)
		}
	}
	return out, rows.Err()
}

// pointEvidence is the evidence of the derived KPI points among ids.
func pointEvidence(ctx context.Context, st *store.Store, tenant string, ids []string) ([]string, map[string]bool, error) {
	resolved := map[string]bool{}
	if len(ids) == 0 {
		return nil, resolved, nil
	}
	rows, err := st.Conn().Query(ctx, `SELECT DISTINCT event_id, arrayJoin(evidence_ids) FROM `+st.Database()+`.kpi_points FINAL
		WHERE tenant = ? AND has(?, event_id)`, tenant, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("resolve derived evidence: %w", err)
	}
	defer rows.Close()
	var next []string
	for rows.Next() {
		var id, ev string
		if err := rows.Scan(&id, &ev); err != nil {
			return nil, nil, err
		}
		resolved[id] = true
		next = append(next, ev)
	}
	return next, resolved, rows.Err()
}
