package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// publishLag bounds how long before its event a document is stored: a
// claim check just before the publish, an uploaded report just before the
// event naming it. A document that much older than the oldest unscored
// evidence can belong to no unscored event.
const publishLag = time.Hour

// SweepMetrics count what the document sweep deletes; a nil one counts
// nothing.
type SweepMetrics struct {
	deleted, bytes prometheus.Counter
	kept           prometheus.Gauge
}

// NewSweepMetrics registers the document sweep's metrics.
func NewSweepMetrics(reg prometheus.Registerer) *SweepMetrics {
	m := &SweepMetrics{
		deleted: prometheus.NewCounter(prometheus.CounterOpts{Name: "trilens_bus_documents_deleted_total", Help: "Documents the retention sweep deleted: their evidence was scored and past retention."}),
		bytes:   prometheus.NewCounter(prometheus.CounterOpts{Name: "trilens_bus_documents_deleted_bytes_total", Help: "Bytes of the documents the retention sweep deleted."}),
		kept:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "trilens_bus_documents_stored", Help: "Documents in the object store after the last retention sweep."}),
	}
	if reg != nil {
		reg.MustRegister(m.deleted, m.bytes, m.kept)
	}
	return m
}

// SweepDocuments deletes the documents stored before cutoff that no
// unscored evidence can still need: when the consumer durable on stream
// has unacknowledged messages, the cutoff moves to publishLag before the
// oldest of them. Each deleted document's bytes leave its tenant's usage.
// It returns how many documents it deleted.
func (b *Bus) SweepDocuments(ctx context.Context, cutoff time.Time, stream, durable string, m *SweepMetrics) (int, error) {
	oldest, pending, err := b.oldestUnackedAt(ctx, stream, durable)
	if err != nil {
		return 0, err
	}
	if pending && oldest.Add(-publishLag).Before(cutoff) {
		cutoff = oldest.Add(-publishLag)
	}
	store, err := b.js.ObjectStore(ctx, DocumentBucket)
	if err != nil {
		return 0, fmt.Errorf("object store %s: %w", DocumentBucket, err)
	}
	infos, err := store.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		infos, err = nil, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list documents: %w", err)
	}
	deleted := 0
	for _, info := range infos {
		if !info.ModTime.Before(cutoff) {
			continue
		}
		if err := store.Delete(ctx, info.Name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			return deleted, fmt.Errorf("delete document %s: %w", info.Name, err)
		}
		if tenant := info.Headers.Get(HeaderTenant); tenant != "" {
			if err := b.addUsage(ctx, tenant, -int64(info.Size), 0); err != nil { // #nosec G115 -- an object's size fits int64
				return deleted, err
			}
		}
		deleted++
		if m != nil {
			m.deleted.Inc()
			m.bytes.Add(float64(info.Size))
		}
	}
	if m != nil {
		m.kept.Set(float64(len(infos) - deleted))
	}
	return deleted, nil
}

// StartDocumentSweep runs SweepDocuments every interval until ctx ends,
// deleting the documents older than retention whose evidence durable has
// scored; the first run waits an interval, for durable to exist. Failures
// are logged; the next run tries again.
func (b *Bus) StartDocumentSweep(ctx context.Context, retention, every time.Duration, durable string, m *SweepMetrics) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := b.SweepDocuments(ctx, time.Now().Add(-retention), StreamEvidence, durable, m)
		if err != nil && ctx.Err() == nil {
			b.log.Warn("document retention sweep failed; retrying later", "err", err, "next", every)
		} else if n > 0 {
			b.log.Info("document retention sweep", "deleted", n, "retention", retention)
		}
	}
}
