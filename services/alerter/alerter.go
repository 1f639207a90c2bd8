package alerter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/policy"
)

// StateBucket is the JetStream key-value bucket of notified alerts: one key
// per fingerprint, expiring after RepeatInterval.
const StateBucket = "trilens-alerter"

// Dead-letter headers besides bus.HeaderDeadReason.
const (
	HeaderReceiver = "Trilens-Receiver"
	HeaderAttempts = "Trilens-Attempts"
)

// Settings are the alerter's dependencies.
type Settings struct {
	Logger     *slog.Logger
	Bus        *bus.Bus
	Policy     *policy.Policy
	Registerer prometheus.Registerer
	HTTPClient *http.Client
	Now        func() time.Time
}

// Alerter delivers verdicts to their owners' receivers.
type Alerter struct {
	cfg     Config
	set     Settings
	metrics *metrics
	bucket  jetstream.KeyValue

	cancel context.CancelFunc
	done   chan error
}

// New builds an alerter; Start runs it.
func New(cfg Config, set Settings) (*Alerter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Bus == nil {
		return nil, errors.New("alerter: Settings.Bus is required")
	}
	if set.Logger == nil {
		set.Logger = slog.Default()
	}
	if set.Policy == nil {
		set.Policy = policy.Default()
	}
	if set.HTTPClient == nil {
		allow, _ := parseEgressAllow(cfg.EgressAllow) // validated above
		set.HTTPClient = egressClient(allow, cfg.Timeout)
	}
	if set.Now == nil {
		set.Now = time.Now
	}
	return &Alerter{cfg: cfg, set: set, metrics: newMetrics(set.Registerer, cfg.Durable)}, nil
}

// Name of the service.
func (a *Alerter) Name() string { return "alerter" }

// Start provisions the state bucket and begins consuming in the background.
func (a *Alerter) Start(ctx context.Context) error {
	kv, err := a.set.Bus.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      StateBucket,
		Description: "alerts the alerter notified, by fingerprint",
		TTL:         a.cfg.RepeatInterval,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("alerter state bucket: %w", err)
	}
	a.bucket = kv
	runCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.done = make(chan error, 1)
	spec := bus.ConsumerSpec{
		Stream:         bus.StreamVerdicts,
		Durable:        a.cfg.Durable,
		FilterSubjects: []string{"trilens.v1.*.verdicts"},
	}
	// The batch window is the grouping window: a burst arriving within
	// GroupWait of its first verdict is handled, and notified, together.
	opts := bus.BatchOptions{MaxWait: a.cfg.GroupWait, MaxMessages: 10_000, Metrics: a.metrics.consumer}
	go func() { a.done <- a.set.Bus.Consume(runCtx, spec, opts, a.handle) }()
	return nil
}

// Stop stops fetching and waits for the notifications in flight.
func (a *Alerter) Stop(ctx context.Context) error {
	if a.cancel == nil {
		return nil
	}
	a.cancel()
	a.cancel = nil
	select {
	case err := <-a.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("alerter drain: %w", ctx.Err())
	}
}

// Ready reports whether the bus connection is up.
func (a *Alerter) Ready(ctx context.Context) error { return a.set.Bus.Ready(ctx) }

// handle notifies a batch of verdicts. It returns nil once every
// notification was delivered or dead-lettered; an error (the state bucket
// unreachable, shutdown during a delivery) hands the batch back, and the
// state bucket keeps what was already sent from being sent again.
func (a *Alerter) handle(ctx context.Context, batch []bus.Delivery) error {
	now := a.set.Now()
	latest := map[string]Alert{}
	var order []string
	for _, d := range batch {
		al, ok := alertOf(d.Event)
		if !ok {
			a.set.Logger.Warn("event on the verdicts stream holds no verdict", "event_id", d.Event.GetEnvelope().GetEventId(), "subject", d.Subject)
			a.metrics.verdict("invalid")
			continue
		}
		if now.Sub(al.ObservedAt) > a.cfg.MaxAge {
			a.metrics.verdict("stale")
			continue
		}
		prev, seen := latest[al.Fingerprint]
		if !seen {
			order = append(order, al.Fingerprint)
		} else {
			a.metrics.verdict("suppressed")
		}
		if !seen || !al.ObservedAt.Before(prev.ObservedAt) {
			latest[al.Fingerprint] = al
		}
	}
	var notify []Alert
	for _, fp := range order {
		al := latest[fp]
		send, err := a.shouldNotify(ctx, &al)
		if err != nil {
			return err
		}
		if !send {
			a.metrics.verdict("suppressed")
			continue
		}
		notify = append(notify, al)
	}
	groups := groupAlerts(a.set.Policy, notify)
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Go(func() { errs[i] = a.deliverGroup(ctx, g, now) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// shouldNotify decides from the state bucket: a failing verdict is notified
// unless the same state was within RepeatInterval; a passing one only
// resolves an alert that was notified.
func (a *Alerter) shouldNotify(ctx context.Context, al *Alert) (bool, error) {
	e, err := a.bucket.Get(ctx, al.Fingerprint)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return !al.passing(), nil
	case err != nil:
		return false, fmt.Errorf("alerter state: %w", err)
	}
	last := string(e.Value())
	if al.passing() {
		al.Resolved = true
		return last != "", nil
	}
	return last != al.state(), nil
}

// deliverGroup sends a group to each receiver of its team, then records the
// alerts' state. Only a shutdown mid-delivery fails it.
func (a *Alerter) deliverGroup(ctx context.Context, g *group, now time.Time) error {
	receivers := receiversOf(a.set.Policy, g.tenant, g.team, a.cfg.DefaultWebhook)
	if len(receivers) == 0 {
		a.set.Logger.Warn("no receiver for verdicts", "team", g.team, "tenant", g.tenant, "alerts", len(g.alerts))
		for range g.alerts {
			a.metrics.verdict("unrouted")
		}
		return a.record(ctx, g)
	}
	for _, r := range receivers {
		n := g.notification(r, a.cfg.DashboardURL)
		if err := a.deliver(ctx, r, &n, now); err != nil {
			return err
		}
	}
	for range g.alerts {
		a.metrics.verdict("notified")
	}
	return a.record(ctx, g)
}

// record remembers the alerts' state; a resolved alert is forgotten.
func (a *Alerter) record(ctx context.Context, g *group) error {
	for _, al := range g.alerts {
		var err error
		if al.Resolved {
			err = a.bucket.Purge(ctx, al.Fingerprint)
		} else {
			_, err = a.bucket.PutString(ctx, al.Fingerprint, al.state())
		}
		if err != nil {
			return fmt.Errorf("alerter state of %s: %w", al.Fingerprint, err)
		}
	}
	return nil
}

// deliver posts n to r, retrying passing failures with exponential backoff;
// when the attempts run out or r refuses it, n is dead-lettered. It fails
// only when ctx ends first.
func (a *Alerter) deliver(ctx context.Context, r Receiver, n *Notification, now time.Time) error {
	target, body, err := payload(r, n, now)
	if err != nil {
		return a.deadLetter(ctx, r, n, body, 0, err)
	}
	backoff := a.cfg.RetryInitial
	for attempt := 1; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
		err := post(rctx, a.set.HTTPClient, target, n.ID, body)
		cancel()
		if err == nil {
			a.metrics.attempt(r.Kind, "ok")
			a.metrics.sent(r.Kind, "sent")
			return nil
		}
		a.metrics.attempt(r.Kind, "error")
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var de *deliveryError
		if !errors.As(err, &de) || !de.retry || attempt >= a.cfg.Attempts {
			return a.deadLetter(ctx, r, n, body, attempt, err)
		}
		a.set.Logger.Warn("notification failed; retrying", "receiver", r.Kind, "team", n.Team, "attempt", attempt, "backoff", backoff, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, a.cfg.RetryMax)
	}
}

// deadLetter stores a notification that could not be delivered in the
// dead-letter stream, with the reason and the receiver (its host only:
// webhook paths are secrets), for an operator to replay.
func (a *Alerter) deadLetter(ctx context.Context, r Receiver, n *Notification, body []byte, attempts int, cause error) error {
	if body == nil {
		body, _ = json.Marshal(n)
	}
	m := nats.NewMsg(bus.DeadLetterSubject(a.cfg.Durable))
	m.Data = body
	m.Header.Set(jetstream.MsgIDHeader, "alerter."+n.ID)
	m.Header.Set(bus.HeaderDeadReason, cause.Error())
	m.Header.Set(HeaderReceiver, r.Kind+" "+redact(r.URL))
	m.Header.Set(HeaderAttempts, strconv.Itoa(attempts))
	if _, err := a.set.Bus.JetStream().PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("dead letter of notification %s: %w", n.ID, err)
	}
	a.set.Logger.Error("notification dead-lettered", "receiver", r.Kind, "host", redact(r.URL), "team", n.Team, "alerts", len(n.Alerts), "attempts", attempts, "err", cause)
	a.metrics.sent(r.Kind, "dead_lettered")
	return nil
}
