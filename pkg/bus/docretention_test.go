package bus_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/trilens/trilens/pkg/bus"
)

// TestSweepDocumentsPastRetentionOnceScored: a document older than the
// retention cutoff is kept while evidence published after it is unscored,
// deleted (and its bytes leave its tenant's usage) once that evidence is
// acknowledged; a younger document, and one stored again since, stay.
func TestSweepDocumentsPastRetentionOnceScored(t *testing.T) {
	b := newBus(t)
	ctx := context.Background()
	acme := bus.WithTenant(ctx, "acme")
	old, err := b.PutDocument(acme, "old report", "text/plain", bytes.NewReader(bytes.Repeat([]byte{'o'}, 3000)))
	if err != nil {
		t.Fatal(err)
	}
	again, err := b.PutDocument(acme, "report stored again", "text/plain", bytes.NewReader(bytes.Repeat([]byte{'a'}, 1000)))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	cutoff := time.Now()
	time.Sleep(50 * time.Millisecond)
	young, err := b.PutDocument(acme, "young report", "text/plain", bytes.NewReader(bytes.Repeat([]byte{'y'}, 2000)))
	if err != nil {
		t.Fatal(err)
	}
	// Uploaded again after the cutoff: a new event needs it.
	if _, err := b.PutDocument(acme, "report stored again", "text/plain", bytes.NewReader(bytes.Repeat([]byte{'a'}, 1000))); err != nil {
		t.Fatal(err)
	}
	cons, err := b.JetStream().CreateConsumer(ctx, bus.StreamEvidence, jetstream.ConsumerConfig{Durable: "sweep", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, changeEvent(1)); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := bus.NewSweepMetrics(reg)

	if n, err := b.SweepDocuments(ctx, cutoff, bus.StreamEvidence, "sweep", m); err != nil || n != 0 {
		t.Fatalf("sweep with unscored evidence deleted %d documents (err %v), want 0", n, err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for msg := range batch.Messages() {
		if err := msg.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := b.SweepDocuments(ctx, cutoff, bus.StreamEvidence, "sweep", m); err != nil || n != 1 {
		t.Fatalf("sweep once scored deleted %d documents (err %v), want 1 (the old one)", n, err)
	}
	if _, err := b.GetDocument(ctx, old.GetSha256()); err == nil {
		t.Fatal("the old document is still stored")
	}
	for name, sha := range map[string]string{"young": young.GetSha256(), "stored again": again.GetSha256()} {
		r, err := b.GetDocument(ctx, sha)
		if err != nil {
			t.Fatalf("the %s document was deleted: %v", name, err)
		}
		_ = r.Close()
	}
	if used, err := b.DocumentUsage(ctx, "acme"); err != nil || used != 3000 {
		t.Fatalf("acme uses %d bytes (err %v), want 3000: the deleted document's bytes leave its usage", used, err)
	}
	want := map[string]float64{"trilens_bus_documents_deleted_total": 1, "trilens_bus_documents_deleted_bytes_total": 3000, "trilens_bus_documents_stored": 2}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		got := f.GetMetric()[0].GetCounter().GetValue() + f.GetMetric()[0].GetGauge().GetValue()
		if got != want[f.GetName()] {
			t.Errorf("%s = %v, want %v", f.GetName(), got, want[f.GetName()])
		}
		delete(want, f.GetName())
	}
	if len(want) > 0 {
		t.Errorf("metrics not registered: %v", want)
	}
}
