package bus_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/natstest"
)

func TestDocumentQuotaPerTenant(t *testing.T) {
	srv := natstest.Start(t)
	cfg := bus.DefaultConfig()
	cfg.DocumentQuota = 1 << 20
	b, err := srv.Bus(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	acme := bus.WithTenant(context.Background(), "acme")
	doc := func(fill byte, n int) *bytes.Reader { return bytes.NewReader(bytes.Repeat([]byte{fill}, n)) }
	if _, err := b.PutDocument(acme, "a", "text/plain", doc('a', 600<<10)); err != nil {
		t.Fatal(err)
	}
	// The same document again is not stored nor counted again.
	if _, err := b.PutDocument(acme, "a again", "text/plain", doc('a', 600<<10)); err != nil {
		t.Fatal(err)
	}
	_, err = b.PutDocument(acme, "b", "text/plain", doc('b', 600<<10))
	var qe *bus.QuotaError
	if !errors.As(err, &qe) || qe.Tenant != "acme" || qe.Used != 600<<10 || qe.Limit != 1<<20 {
		t.Fatalf("past the quota: %v, want a QuotaError for acme", err)
	}
	if used, err := b.DocumentUsage(context.Background(), "acme"); err != nil || used != 600<<10 {
		t.Fatalf("acme uses %d bytes (err %v), want %d: a refused document counts nothing", used, err, 600<<10)
	}
	// Another tenant has its own quota.
	if _, err := b.PutDocument(bus.WithTenant(context.Background(), "globex"), "b", "text/plain", doc('b', 600<<10)); err != nil {
		t.Fatalf("another tenant's document: %v", err)
	}
}
