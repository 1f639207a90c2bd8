package tracker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// LeaseBucket is the JetStream key-value bucket whose "sync" key a replica
// holds while it syncs: two replicas syncing at once could both miss an
// issue the other is creating and create it twice.
const LeaseBucket = "trilens-trackers"

const leaseKey = "sync"

// lease is the sync's lock in LeaseBucket. Its entries expire after ttl,
// so a replica that dies while syncing blocks the others that long at most.
type lease struct{ kv jetstream.KeyValue }

func openLease(ctx context.Context, js jetstream.JetStream, ttl time.Duration) (*lease, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: LeaseBucket,
		Description: "the tracker sync's lock: which replica syncs now", TTL: ttl, Storage: jetstream.FileStorage})
	if err != nil {
		return nil, fmt.Errorf("tracker lease bucket: %w", err)
	}
	return &lease{kv: kv}, nil
}

// acquire takes the lease; false means another replica holds it.
func (l *lease) acquire(ctx context.Context, holder string) (bool, error) {
	_, err := l.kv.Create(ctx, leaseKey, []byte(holder))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	return err == nil, err
}

func (l *lease) release(ctx context.Context) error { return l.kv.Delete(ctx, leaseKey) }
