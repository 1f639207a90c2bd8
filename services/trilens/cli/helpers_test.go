package cli

import (
	"context"
	"flag"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/services/scorer"
)

// startScorer runs a scorer with pol (nil: the defaults) on b and st, with
// short batches, and stops it when the test ends.
func startScorer(t testing.TB, b *bus.Bus, st *store.Store, pol *policy.Policy) *scorer.Scorer {
	t.Helper()
	var cfg scorer.Config
	cfg.RegisterFlags("", flag.NewFlagSet("s", flag.ContinueOnError))
	cfg.BatchWait = 200 * time.Millisecond
	cfg.Chain = true
	sc, err := scorer.New(cfg, scorer.Settings{Logger: slog.New(slog.DiscardHandler), Bus: b, Store: st, Policy: pol, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sc.Stop(context.Background()); err != nil {
			t.Errorf("stop scorer: %v", err)
		}
	})
	return sc
}
