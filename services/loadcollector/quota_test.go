package loadcollector

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/collect/collecttest"
	"github.com/trilens/trilens/pkg/natstest"
)

// TestDocumentPastTenantQuotaIs507: once a tenant's stored documents reach
// its quota, its next report is refused with 507 and nothing is published,
// while another tenant still stores its own.
func TestDocumentPastTenantQuotaIs507(t *testing.T) {
	cfg := bus.DefaultConfig()
	first, second := fixture(t, "k6/mixed-summary-export.json"), fixture(t, "k6/mixed-handle-summary.json")
	cfg.DocumentQuota = int64(len(first)+len(second)) - 1
	b, err := natstest.Start(t).Bus(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	c, err := New(testConfig(), collect.Settings{Publisher: b, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	srv := collecttest.Serve(t, c)
	post := func(tenant, file string) (int, string) {
		status, out := collecttest.Post(t, srv.URL+"/v1/loadruns?repo=acme/shop&test=checkout&tenant="+tenant, fixture(t, file))
		return status, string(out)
	}
	if status, out := post("acme", "k6/mixed-summary-export.json"); status != http.StatusAccepted {
		t.Fatalf("first report: %d %s", status, out)
	}
	published := len(natstest.Published(t, b))
	status, out := post("acme", "k6/mixed-handle-summary.json")
	if status != http.StatusInsufficientStorage || !strings.Contains(out, "quota") {
		t.Fatalf("report past the quota: %d %s, want 507 naming the quota", status, out)
	}
	if got := len(natstest.Published(t, b)); got != published {
		t.Fatalf("%d events published for a refused report", got-published)
	}
	if status, out := post("globex", "k6/mixed-handle-summary.json"); status != http.StatusAccepted {
		t.Fatalf("another tenant: %d %s", status, out)
	}
}
