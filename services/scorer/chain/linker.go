package chain

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/trilens/trilens/pkg/store"
)

// LockBucket is the NATS KV bucket of the tenants' chain locks.
const LockBucket = "trilens_chain_locks"

// lockTTL frees the lock of a replica that died holding it; an insert
// takes far less.
const lockTTL = 2 * time.Minute

// Linker gives new evidence_log rows their place in their tenant's chain.
type Linker struct {
	st     *store.Store
	kv     jetstream.KeyValue // nil: one process only
	signer *Signer            // nil: no checkpoints
	every  uint64
	now    func() time.Time

	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// NewLinker links rows of st. js (may be nil) holds the cross-replica
// locks; signer (may be nil) signs a checkpoint every `every` entries.
func NewLinker(ctx context.Context, st *store.Store, js jetstream.JetStream, signer *Signer, every int, now func() time.Time) (*Linker, error) {
	l := &Linker{st: st, signer: signer, every: uint64(max(every, 1)), now: now, locks: map[string]*sync.Mutex{}}
	if js != nil {
		kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: LockBucket, TTL: lockTTL})
		if err != nil {
			return nil, fmt.Errorf("chain locks: %w", err)
		}
		l.kv = kv
	}
	return l, nil
}

// Link fills the chain columns of rows (under each tenant's lock) and
// returns the checkpoints due and the function that releases the locks,
// to call once rows and checkpoints are inserted.
func (l *Linker) Link(ctx context.Context, rows *store.EvidenceLogRows) (*store.CheckpointRows, func(), error) {
	byTenant := map[string][]int{}
	for i, t := range rows.Tenant {
		byTenant[t] = append(byTenant[t], i)
	}
	tenants := make([]string, 0, len(byTenant))
	for t := range byTenant {
		tenants = append(tenants, t)
	}
	slices.Sort(tenants) // one order, so two replicas never wait on each other
	var unlocks []func()
	release := func() {
		for _, u := range slices.Backward(unlocks) {
			u()
		}
	}
	cps := &store.CheckpointRows{}
	for _, t := range tenants {
		unlock, err := l.lock(ctx, t)
		if err != nil {
			release()
			return nil, nil, err
		}
		unlocks = append(unlocks, unlock)
		if err := l.linkTenant(ctx, rows, t, byTenant[t], cps); err != nil {
			release()
			return nil, nil, err
		}
	}
	return cps, release, nil
}

func (l *Linker) linkTenant(ctx context.Context, rows *store.EvidenceLogRows, tenant string, idx []int, cps *store.CheckpointRows) error {
	known, err := l.chained(ctx, tenant, rows, idx)
	if err != nil {
		return err
	}
	seq, prev, err := Head(ctx, l.st, tenant)
	if err != nil {
		return err
	}
	for _, i := range idx {
		if k, ok := known[rows.EventID[i]]; ok {
			rows.ChainSeq[i], rows.EntryDigest[i], rows.PrevDigest[i], rows.ChainDigest[i], rows.StoredAt[i] =
				k.ChainSeq, k.EntryDigest, k.PrevDigest, k.ChainDigest, k.StoredAt
			continue
		}
		seq++
		entry := EntryDigest(Row(rows, i))
		link := Link(prev, entry)
		rows.ChainSeq[i], rows.EntryDigest[i], rows.PrevDigest[i], rows.ChainDigest[i] = seq, entry, prev, link
		known[rows.EventID[i]] = Row(rows, i) // a duplicate in the batch keeps this place
		prev = link
		if l.signer != nil && seq%l.every == 0 {
			cps.Append(l.signer.Sign(tenant, seq, link, l.now()))
		}
	}
	return nil
}

// Head is the last entry of tenant's chain: its seq and chain digest (0, "" when empty).
func Head(ctx context.Context, st *store.Store, tenant string) (uint64, string, error) {
	var seq uint64
	var digest string
	err := st.Conn().QueryRow(ctx, `SELECT max(chain_seq), argMax(chain_digest, chain_seq) FROM `+st.Database()+`.evidence_log
		WHERE tenant = ? AND chain_seq > 0`, tenant).Scan(&seq, &digest)
	if err != nil {
		return 0, "", fmt.Errorf("chain head of %s: %w", tenant, err)
	}
	return seq, digest, nil
}

// chainedChunk bounds the ids bound into one query: their text must stay
// well under ClickHouse's max_query_size (256 KiB) whatever the batch size.
const chainedChunk = 2000

// chained reads the chain places of the batch's envelopes already stored.
func (l *Linker) chained(ctx context.Context, tenant string, rows *store.EvidenceLogRows, idx []int) (map[string]store.EvidenceLog, error) {
	out := map[string]store.EvidenceLog{}
	for start := 0; start < len(idx); start += chainedChunk {
		part := idx[start:min(len(idx), start+chainedChunk)]
		ids := make([]any, len(part))
		for j, i := range part {
			ids[j] = rows.EventID[i]
		}
		if err := l.chainedIDs(ctx, tenant, ids, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// chainedIDs adds the stored chain places of ids to out.
func (l *Linker) chainedIDs(ctx context.Context, tenant string, ids []any, out map[string]store.EvidenceLog) error {
	// No FINAL: copies of one envelope carry the same place. IN takes a hash
	// set (has() over an array compared every row with every id: 10x slower).
	q, err := l.st.Conn().Query(ctx, `SELECT event_id, chain_seq, entry_digest, prev_digest, chain_digest, stored_at
		FROM `+l.st.Database()+`.evidence_log WHERE tenant = ? AND event_id IN ? AND chain_seq > 0`, tenant, clickhouse.GroupSet{Value: ids})
	if err != nil {
		return fmt.Errorf("chained envelopes: %w", err)
	}
	defer q.Close()
	for q.Next() {
		var e store.EvidenceLog
		if err := q.Scan(&e.EventID, &e.ChainSeq, &e.EntryDigest, &e.PrevDigest, &e.ChainDigest, &e.StoredAt); err != nil {
			return err
		}
		out[e.EventID] = e
	}
	return q.Err()
}

// lock takes tenant's chain lock in the process, then across replicas.
func (l *Linker) lock(ctx context.Context, tenant string) (func(), error) {
	l.mu.Lock()
	m := l.locks[tenant]
	if m == nil {
		m = &sync.Mutex{}
		l.locks[tenant] = m
	}
	l.mu.Unlock()
	m.Lock()
	if l.kv == nil {
		return m.Unlock, nil
	}
	key := "t." + tenant // tenant names are valid KV key tokens
	for {
		rev, err := l.kv.Create(ctx, key, []byte(l.now().UTC().Format(time.RFC3339Nano)))
		if err == nil {
			return func() {
				_ = l.kv.Delete(context.Background(), key, jetstream.LastRevision(rev))
				m.Unlock()
			}, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			m.Unlock()
			return nil, fmt.Errorf("chain lock of %s: %w", tenant, err)
		}
		select {
		case <-ctx.Done():
			m.Unlock()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
