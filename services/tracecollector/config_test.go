package tracecollector

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/natstest"
)

func TestConfigValidate(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	cfg.DecisionWait = 0
	cfg.MaxQueuedSpans = -1
	cfg.Environment = "moon"
	cfg.GRPCAddress, cfg.HTTPAddress = "", ""
	err := cfg.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, key := range []string{"decision_wait", "max_queued_spans", "environment", "grpc_address, http_address"} {
		if !strings.Contains(err.Error(), key+":") {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
}

// TestTwoCollectorsOneRegistry: a module restarted in the same process
// builds its collector again against the same registry.
func TestTwoCollectorsOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := natstest.Bus(t)
	for range 2 {
		c, err := New(testConfig(), collect.Settings{Logger: slog.New(slog.DiscardHandler), Publisher: b, Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		c.metrics.requests.WithLabelValues("http", "ok").Inc()
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "trilens_tracecollector_requests_total" && mf.GetMetric()[0].GetCounter().GetValue() != 2 {
			t.Errorf("requests counter %v, want 2", mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
}
