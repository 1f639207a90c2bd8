package scorer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/server"
	"github.com/trilens/trilens/pkg/store"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"github.com/trilens/trilens/services/scorer/chain"
	"github.com/trilens/trilens/services/scorer/evidence"
)

// Settings are the scorer's dependencies.
type Settings = evidence.Settings

// Scorer consumes evidence into ClickHouse, then lets each Processor derive
// state from it, and acks only when all of that succeeded.
type Scorer struct {
	cfg        Config
	set        Settings
	processors []evidence.Processor
	metrics    *bus.ConsumerMetrics
	// sweepMetrics count the documents deleted past their retention.
	sweepMetrics *bus.SweepMetrics
	chain        *chain.Linker

	cancel   context.CancelFunc
	done     chan error
	sweeping sync.WaitGroup
}

// New builds a scorer; Start runs it.
func New(cfg Config, set Settings) (*Scorer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Logger == nil {
		set.Logger = slog.Default()
	}
	if set.Now == nil {
		set.Now = time.Now
	}
	if set.Policy == nil {
		set.Policy = policy.Default()
	}
	s := &Scorer{cfg: cfg, set: set, metrics: bus.NewConsumerMetrics(set.Registerer, cfg.Durable), sweepMetrics: bus.NewSweepMetrics(set.Registerer)}
	s.processors = newProcessors(set)
	return s, nil
}

// Name of the service.
func (s *Scorer) Name() string { return "scorer" }

// Register mounts the scorer's HTTP API.
func (s *Scorer) Register(mux server.Router) {
	for _, p := range s.processors {
		if r, ok := p.(interface{ Register(server.Router) }); ok {
			r.Register(mux)
		}
	}
}

// Start begins consuming in the background.
func (s *Scorer) Start(startCtx context.Context) error {
	if s.cfg.Chain {
		linker, err := s.newLinker(startCtx)
		if err != nil {
			return err
		}
		s.chain = linker
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.done = make(chan error, 1)
	spec := bus.ConsumerSpec{
		Stream:     bus.StreamEvidence,
		Durable:    s.cfg.Durable,
		AckWait:    s.cfg.AckWait,
		MaxDeliver: s.cfg.MaxDeliver,
		MaxAge:     s.cfg.MaxAge,
	}
	opts := bus.BatchOptions{
		MaxRows:     s.cfg.BatchRows,
		MaxMessages: s.cfg.BatchRows,
		MaxWait:     s.cfg.BatchWait,
		Rows:        evidence.RowCount,
		Metrics:     s.metrics,
		// While ClickHouse does not answer, batches wait in place: an outage
		// is not the evidence's fault and must not spend its deliveries.
		Healthy: s.set.Store.Ping,
	}
	go func() { s.done <- s.set.Bus.Consume(ctx, spec, opts, s.handle) }()
	s.sweeping.Add(2)
	go func() {
		defer s.sweeping.Done()
		s.sweepEvery(ctx, s.cfg.SweepInterval)
	}()
	go func() {
		defer s.sweeping.Done()
		retention := cmp.Or(s.cfg.DocumentRetention, DefaultDocumentRetention)
		s.set.Bus.StartDocumentSweep(ctx, retention, s.cfg.DocumentSweepEvery, s.cfg.Durable, s.sweepMetrics)
	}()
	if s.chain != nil {
		s.sweeping.Add(1)
		go func() {
			defer s.sweeping.Done()
			s.catchUpEvery(ctx, s.cfg.ChainCatchUp)
		}()
	}
	return nil
}

// catchUpEvery appends the envelopes stored unchained to their tenants'
// chains until ctx ends; the first pass also finds those a previous run
// left. A failure is logged and retried at the next tick.
func (s *Scorer) catchUpEvery(ctx context.Context, every time.Duration) {
	found := false
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if !found {
			if err := s.chain.FindPending(ctx); err != nil && ctx.Err() == nil {
				s.set.Logger.Warn("finding unchained evidence failed; retrying at the next tick", "err", err)
			} else {
				found = true
			}
		}
		for _, tenant := range s.chain.Pending() {
			n, err := s.chain.CatchUp(ctx, tenant)
			if err != nil && ctx.Err() == nil {
				s.set.Logger.Warn("evidence chain catch-up failed; retrying at the next tick", "tenant", tenant, "err", err)
			} else if n > 0 {
				s.set.Logger.Info("evidence chain caught up", "tenant", tenant, "entries", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepEvery runs the processors' time-driven work (waiver expiry) until
// ctx ends; a failure is logged and retried at the next tick.
func (s *Scorer) sweepEvery(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, p := range s.processors {
			if sw, ok := p.(interface{ SweepAll(context.Context) error }); ok {
				if err := sw.SweepAll(ctx); err != nil && ctx.Err() == nil {
					s.set.Logger.Warn("waiver sweep failed; retrying at the next tick", "err", err)
				}
			}
		}
	}
}

// Stop stops fetching and waits until the batches in flight are stored.
func (s *Scorer) Stop(ctx context.Context) error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	s.cancel = nil
	s.sweeping.Wait()
	select {
	case err := <-s.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("scorer drain: %w", ctx.Err())
	}
}

// handle stores a batch: raw rows first, then derived state. A ClickHouse
// that is down or restarting is a passing error (the batch is retried); bad
// data is permanent (the culprit is dead-lettered). Whatever the class, the
// bus bounds a message's deliveries and age.
func (s *Scorer) handle(ctx context.Context, batch []bus.Delivery) error {
	var rows evidence.Rows
	evs := make([]*eventv1.Event, len(batch))
	for i, d := range batch {
		rows.AddMessage(d.Event, d.Data)
		evs[i] = d.Event
	}
	if err := s.insertChained(ctx, &rows); err != nil {
		return classify(err)
	}
	for _, p := range s.processors {
		if err := p.Process(ctx, evs); err != nil {
			return classify(fmt.Errorf("%s: %w", p.Name(), err))
		}
	}
	return nil
}

// insertChained (with scorer.chain) links the batch's envelopes into their tenants' evidence
// chains and inserts the rows while the chains are locked (a tenant whose
// lock is unavailable gets its envelopes stored unchained, see chain.Linker).
func (s *Scorer) insertChained(ctx context.Context, rows *evidence.Rows) error {
	if s.chain == nil {
		return s.set.Store.Insert(ctx, rows.Tables()...)
	}
	cps, release, err := s.chain.Link(ctx, &rows.EvidenceLog)
	if err != nil {
		return err
	}
	defer release()
	return s.set.Store.Insert(ctx, append(rows.Tables(), cps)...)
}

func classify(err error) error {
	if store.IsRetryable(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return bus.Permanent(err)
}

// newLinker chains the evidence log, locking across replicas through the
// bus and signing checkpoints with the configured key.
func (s *Scorer) newLinker(ctx context.Context) (*chain.Linker, error) {
	var signer *chain.Signer
	if s.cfg.CheckpointKey != "" {
		pem, err := os.ReadFile(s.cfg.CheckpointKey)
		if err != nil {
			return nil, err
		}
		if signer, err = chain.NewSigner(pem); err != nil {
			return nil, err
		}
	}
	var js jetstream.JetStream
	if s.set.Bus != nil {
		js = s.set.Bus.JetStream()
	}
	return chain.NewLinker(ctx, s.set.Store, js, signer, s.cfg.CheckpointEvery, s.set.Now)
}
