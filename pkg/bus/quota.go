package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
)

// DocumentUsageBucket is the key-value bucket of the document bytes each
// tenant has stored, the figure its document quota is checked against.
const DocumentUsageBucket = "trilens-document-usage"

type tenantKey struct{}

// WithTenant makes the documents stored under ctx count against tenant's
// document quota. Without it a document counts against no quota.
func WithTenant(ctx context.Context, tenant string) context.Context {
	return context.WithValue(ctx, tenantKey{}, tenant)
}

func tenantOf(ctx context.Context) string {
	t, _ := ctx.Value(tenantKey{}).(string)
	return t
}

// QuotaError refuses a document that would take a tenant past its quota:
// the object store is shared, and one tenant filling it would refuse every
// tenant's evidence.
type QuotaError struct {
	Tenant            string
	Used, Size, Limit int64
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("tenant %s stores %d bytes of documents; %d more would pass its quota of %d bytes", e.Tenant, e.Used, e.Size, e.Limit)
}

// addUsage adds delta bytes to tenant's usage, refusing with a QuotaError
// when the sum would pass limit (limit <= 0 checks nothing). Concurrent
// writers are serialised by the entry's revision.
func (b *Bus) addUsage(ctx context.Context, tenant string, delta, limit int64) error {
	kv, err := b.js.KeyValue(ctx, DocumentUsageBucket)
	if err != nil {
		return fmt.Errorf("document usage bucket: %w", err)
	}
	for range 20 {
		var used int64
		var rev uint64
		e, err := kv.Get(ctx, tenant)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("document usage of %s: %w", tenant, err)
		default:
			used, _ = strconv.ParseInt(string(e.Value()), 10, 64)
			rev = e.Revision()
		}
		if limit > 0 && delta > 0 && used+delta > limit {
			return &QuotaError{Tenant: tenant, Used: used, Size: delta, Limit: limit}
		}
		val := []byte(strconv.FormatInt(max(used+delta, 0), 10))
		if rev == 0 {
			_, err = kv.Create(ctx, tenant, val)
		} else {
			_, err = kv.Update(ctx, tenant, val, rev)
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			// Another writer won the race: read again.
		default:
			// Anything else (a refused publish, a full store) will not pass on a retry.
			return fmt.Errorf("document usage of %s: %w", tenant, err)
		}
	}
	return fmt.Errorf("document usage of %s: too many concurrent updates", tenant)
}

// DocumentUsage is the document bytes tenant has stored.
func (b *Bus) DocumentUsage(ctx context.Context, tenant string) (int64, error) {
	kv, err := b.js.KeyValue(ctx, DocumentUsageBucket)
	if err != nil {
		return 0, fmt.Errorf("document usage bucket: %w", err)
	}
	e, err := kv.Get(ctx, tenant)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(e.Value()), 10, 64)
}
