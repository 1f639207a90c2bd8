package chain

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/trilens/trilens/pkg/store"
)

// ErrLockUnavailable: the tenant's cross-replica chain lock could not be taken.
var ErrLockUnavailable = errors.New("chain lock unavailable")

// catchUpBatch is how many unchained envelopes one lock holding appends,
// far below what lockTTL allows, so a long backlog never outlives its lock.
const catchUpBatch = 5000

// Pending lists the tenants with envelopes stored unchained, sorted.
func (l *Linker) Pending() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.pending))
	for t := range l.pending {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// FindPending marks pending every tenant whose log holds unchained rows:
// a replica that stopped before catching up left them, or the log was
// written before the chain was on (those envelopes are appended too).
func (l *Linker) FindPending(ctx context.Context) error {
	rows, err := l.st.Conn().Query(ctx, `SELECT DISTINCT tenant FROM `+l.st.Database()+`.evidence_log WHERE chain_seq = 0`)
	if err != nil {
		return fmt.Errorf("unchained tenants: %w", err)
	}
	defer rows.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return err
		}
		l.pending[t] = true
	}
	return rows.Err()
}

// CatchUp appends tenant's unchained envelopes to its chain, oldest stored
// first, in batches that each take the lock, and returns how many it
// appended. The tenant stops being pending once none is left.
func (l *Linker) CatchUp(ctx context.Context, tenant string) (int, error) {
	total := 0
	for {
		n, err := l.catchUpBatch(ctx, tenant)
		total += n
		if err != nil || n < catchUpBatch {
			return total, err
		}
	}
}

func (l *Linker) catchUpBatch(ctx context.Context, tenant string) (int, error) {
	unlock, locked, err := l.lock(ctx, tenant)
	if err != nil {
		return 0, err
	}
	defer unlock()
	if !locked {
		return 0, fmt.Errorf("catching up the chain of %s: %w", tenant, ErrLockUnavailable)
	}
	rows, err := l.unchained(ctx, tenant)
	if err != nil {
		return 0, err
	}
	if n := rows.Len(); n > 0 {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		cps := &store.CheckpointRows{}
		if err := l.linkTenant(ctx, rows, tenant, idx, cps); err != nil {
			return 0, err
		}
		if err := l.st.Insert(ctx, rows, cps); err != nil {
			return 0, fmt.Errorf("catching up the chain of %s: %w", tenant, err)
		}
	}
	if rows.Len() < catchUpBatch {
		// Under the tenant's process lock: no batch of this process is
		// being stored unchained meanwhile.
		l.mu.Lock()
		delete(l.pending, tenant)
		l.mu.Unlock()
	}
	return rows.Len(), nil
}

// unchained reads up to catchUpBatch of tenant's envelopes that no row
// chains yet, oldest stored first (one copy of each).
func (l *Linker) unchained(ctx context.Context, tenant string) (*store.EvidenceLogRows, error) {
	q, err := l.st.Conn().Query(ctx, `SELECT event_id, min(stored_at) AS first_stored FROM `+l.st.Database()+`.evidence_log
		WHERE tenant = ? GROUP BY event_id HAVING max(chain_seq) = 0 ORDER BY first_stored, event_id LIMIT ?`, tenant, catchUpBatch)
	if err != nil {
		return nil, fmt.Errorf("unchained envelopes of %s: %w", tenant, err)
	}
	var ids []string
	for q.Next() {
		var id string
		var first time.Time
		if err := q.Scan(&id, &first); err != nil {
			q.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	q.Close()
	if err := q.Err(); err != nil {
		return nil, err
	}
	byID := map[string]store.EvidenceLog{}
	for start := 0; start < len(ids); start += chainedChunk {
		if err := l.unchainedRows(ctx, tenant, ids[start:min(len(ids), start+chainedChunk)], byID); err != nil {
			return nil, err
		}
	}
	out := &store.EvidenceLogRows{}
	for _, id := range ids {
		if e, ok := byID[id]; ok {
			out.Append(e)
		}
	}
	return out, nil
}

// unchainedRows adds a stored copy of each of ids to out.
func (l *Linker) unchainedRows(ctx context.Context, tenant string, ids []string, out map[string]store.EvidenceLog) error {
	set := make([]any, len(ids))
	for i, id := range ids {
		set[i] = id
	}
	q, err := l.st.Conn().Query(ctx, `SELECT `+logColumns+` FROM `+l.st.Database()+`.evidence_log
		WHERE tenant = ? AND event_id IN ? AND chain_seq = 0`, tenant, clickhouse.GroupSet{Value: set})
	if err != nil {
		return fmt.Errorf("unchained envelopes of %s: %w", tenant, err)
	}
	defer q.Close()
	for q.Next() {
		e, err := scanRow(q.Scan)
		if err != nil {
			return err
		}
		if _, dup := out[e.EventID]; !dup {
			out[e.EventID] = e
		}
	}
	return q.Err()
}

// logged says which of the batch's envelopes tenant's log already holds.
func (l *Linker) logged(ctx context.Context, tenant string, rows *store.EvidenceLogRows, idx []int) (map[string]bool, error) {
	out := map[string]bool{}
	for start := 0; start < len(idx); start += chainedChunk {
		part := idx[start:min(len(idx), start+chainedChunk)]
		ids := make([]any, len(part))
		for j, i := range part {
			ids[j] = rows.EventID[i]
		}
		q, err := l.st.Conn().Query(ctx, `SELECT DISTINCT event_id FROM `+l.st.Database()+`.evidence_log
			WHERE tenant = ? AND event_id IN ?`, tenant, clickhouse.GroupSet{Value: ids})
		if err != nil {
			return nil, fmt.Errorf("logged envelopes: %w", err)
		}
		for q.Next() {
			var id string
			if err := q.Scan(&id); err != nil {
				q.Close()
				return nil, err
			}
			out[id] = true
		}
		q.Close()
		if err := q.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
