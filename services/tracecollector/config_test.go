package tracecollector

import (
	"strings"
	"testing"
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
