package chain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// lockWait bounds how long a batch waits for another replica's lock
// before it is stored unchained (and chained later by CatchUp), and
// bucketRetry how often a bucket that could not be created is tried again.
const (
	lockWait    = 10 * time.Second
	bucketRetry = 10 * time.Second
)

// Linker gives new evidence_log rows their place in their tenant's chain.
//
// The cross-replica lock is a key in a NATS KV bucket, and a JetStream
// write can fail (a full store refuses every write: the server checks its
// total usage on each message, so a MaxBytes reservation on the bucket
// would only guarantee the bucket's creation, not its writes). So the lock
// never stops scoring: when it cannot be taken, the batch's envelopes are
// stored unchained (chain_seq 0) and the tenant is marked pending; CatchUp,
// run by the scorer in the background, later takes the lock and appends
// them to the chain in the order they were stored (see the package doc).
type Linker struct {
	st     *store.Store
	js     jetstream.JetStream // nil: one process only
	signer *Signer             // nil: no checkpoints
	every  uint64
	now    func() time.Time
	log    *slog.Logger

	mu        sync.Mutex
	locks     map[string]*sync.Mutex
	kv        jetstream.KeyValue
	kvRetryAt time.Time
	pending   map[string]bool      // tenants with unchained envelopes
	busy      map[string]time.Time // tenants whose lock another replica held past lockWait, until when
}

// NewLinker links rows of st. js (may be nil) holds the cross-replica
// locks; signer (may be nil) signs a checkpoint every `every` entries. A
// lock bucket that cannot be created now is tried again later: until then
// batches are stored unchained.
func NewLinker(ctx context.Context, st *store.Store, js jetstream.JetStream, signer *Signer, every int, now func() time.Time) (*Linker, error) {
	l := &Linker{st: st, js: js, signer: signer, every: uint64(max(every, 1)), now: now, log: slog.Default(),
		locks: map[string]*sync.Mutex{}, pending: map[string]bool{}, busy: map[string]time.Time{}}
	if js != nil {
		if _, err := l.bucket(ctx); err != nil {
			l.log.Warn("chain lock bucket unavailable; envelopes are stored unchained and chained once it is", "err", err)
		}
	}
	return l, nil
}

// bucket is the lock bucket, created on first use (nil, err while JetStream refuses it).
func (l *Linker) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.kv != nil {
		return l.kv, nil
	}
	if l.now().Before(l.kvRetryAt) {
		return nil, errors.New("chain lock bucket: creation failed recently")
	}
	kv, err := l.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: LockBucket, TTL: lockTTL})
	if err != nil {
		l.kvRetryAt = l.now().Add(bucketRetry)
		return nil, fmt.Errorf("chain lock bucket %s: %w", LockBucket, err)
	}
	l.kv = kv
	return kv, nil
}

// Link fills the chain columns of rows (under each tenant's lock) and
// returns the checkpoints due and the function that releases the locks,
// to call once rows and checkpoints are inserted. A tenant whose lock
// cannot be taken keeps its new envelopes unchained (see Linker); those
// already logged are dropped from rows, so a redelivery never hides a
// chained row behind an unchained copy.
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
	drop := map[int]bool{}
	for _, t := range tenants {
		unlock, locked, err := l.lock(ctx, t)
		if err != nil {
			release()
			return nil, nil, err
		}
		unlocks = append(unlocks, unlock)
		if locked {
			err = l.linkTenant(ctx, rows, t, byTenant[t], cps)
		} else {
			err = l.leaveUnchained(ctx, rows, t, byTenant[t], drop)
		}
		if err != nil {
			release()
			return nil, nil, err
		}
	}
	if len(drop) > 0 {
		keep := store.EvidenceLogRows{}
		for i := range rows.EventID {
			if !drop[i] {
				keep.Append(Row(rows, i))
			}
		}
		*rows = keep
	}
	return cps, release, nil
}

// leaveUnchained marks tenant pending and drops from the batch the
// envelopes its log already holds (chained or not): their row is stored.
func (l *Linker) leaveUnchained(ctx context.Context, rows *store.EvidenceLogRows, tenant string, idx []int, drop map[int]bool) error {
	l.mu.Lock()
	l.pending[tenant] = true
	l.mu.Unlock()
	logged, err := l.logged(ctx, tenant, rows, idx)
	if err != nil {
		return err
	}
	for _, i := range idx {
		if logged[rows.EventID[i]] {
			drop[i] = true
		}
	}
	return nil
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

// Head is the last entry of tenant's chain: its seq and chain digest (0,
// "" when empty), from evidence_chain_heads, which a materialized view
// keeps on every insert into the log: constant cost, however long the log.
// A chain with no head there (linked before the view existed, or empty)
// is read from the log once; its next insert records the head.
func Head(ctx context.Context, st *store.Store, tenant string) (uint64, string, error) {
	var seq uint64
	var digest string
	err := st.Conn().QueryRow(ctx, `SELECT max(head_seq), argMax(head_digest, head_seq) FROM `+st.Database()+`.evidence_chain_heads
		WHERE tenant = ?`, tenant).Scan(&seq, &digest)
	if err == nil && seq == 0 {
		err = st.Conn().QueryRow(ctx, `SELECT max(chain_seq), argMax(chain_digest, chain_seq) FROM `+st.Database()+`.evidence_log
			WHERE tenant = ? AND chain_seq > 0`, tenant).Scan(&seq, &digest)
	}
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
// locked is false when the cross-replica lock could not be taken (its
// bucket or a JetStream write failed, or another replica held it past
// lockWait); the process lock is held either way until unlock.
func (l *Linker) lock(ctx context.Context, tenant string) (unlock func(), locked bool, err error) {
	l.mu.Lock()
	m := l.locks[tenant]
	if m == nil {
		m = &sync.Mutex{}
		l.locks[tenant] = m
	}
	l.mu.Unlock()
	m.Lock()
	if l.js == nil {
		return m.Unlock, true, nil
	}
	kv, err := l.bucket(ctx)
	if err != nil {
		return m.Unlock, false, nil
	}
	key := "t." + tenant // tenant names are valid KV key tokens
	// A lock held past lockWait (likely a replica that died holding it) is
	// only tried once per batch until its TTL has surely freed it.
	deadline := time.Now().Add(lockWait)
	l.mu.Lock()
	if l.busy[tenant].After(time.Now()) {
		deadline = time.Now()
	}
	l.mu.Unlock()
	for {
		rev, err := kv.Create(ctx, key, []byte(l.now().UTC().Format(time.RFC3339Nano)))
		if err == nil {
			l.mu.Lock()
			delete(l.busy, tenant)
			l.mu.Unlock()
			return func() {
				_ = kv.Delete(context.Background(), key, jetstream.LastRevision(rev))
				m.Unlock()
			}, true, nil
		}
		if ctx.Err() != nil {
			m.Unlock()
			return nil, false, ctx.Err()
		}
		if !errors.Is(err, jetstream.ErrKeyExists) || !time.Now().Before(deadline) {
			if errors.Is(err, jetstream.ErrKeyExists) {
				l.mu.Lock()
				l.busy[tenant] = time.Now().Add(lockTTL)
				l.mu.Unlock()
			}
			l.log.Warn("chain lock unavailable; the batch is stored unchained and chained later", "tenant", tenant, "err", err)
			return m.Unlock, false, nil
		}
		select {
		case <-ctx.Done():
			m.Unlock()
			return nil, false, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
