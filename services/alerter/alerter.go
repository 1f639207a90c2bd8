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
	var claims []claim
	for _, fp := range order {
		al := latest[fp]
		c, send, err := a.claim(ctx, &al)
		if err != nil {
			return errors.Join(err, a.release(claims))
		}
		if !send {
			a.metrics.verdict("suppressed")
			continue
		}
		notify, claims = append(notify, al), append(claims, c)
	}
	groups := groupAlerts(a.set.Policy, notify)
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Go(func() { errs[i] = a.deliverGroup(ctx, g, now) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return errors.Join(err, a.release(claims))
	}
	return nil
}

// claim is a fingerprint's state this replica wrote before notifying, and
// what it replaced, so a notification that never went out can be undone.
type claim struct {
	key      string
	rev      uint64 // revision of the claim
	prev     []byte // state before the claim; nil when there was none
	resolved bool
}

// claim decides from the state bucket and, when the alert is to be
// notified, records its new state first with a compare-and-set on the
// revision it read. Alerter replicas share the consumer, yet the same
// fingerprint can reach two of them at once (two verdicts on one KPI, a
// batch redelivered while the first holder still works on it): only the
// replica whose write lands notifies; the other finds the state already
// there and suppresses. A failing verdict is notified unless the same state
// was within RepeatInterval; a passing one only resolves a notified alert.
func (a *Alerter) claim(ctx context.Context, al *Alert) (claim, bool, error) {
	for {
		c, send, err := a.tryClaim(ctx, al)
		if conflict(err) {
			continue // another replica wrote between our read and write: decide again
		}
		if err != nil {
			return claim{}, false, fmt.Errorf("alerter state of %s: %w", al.Fingerprint, err)
		}
		return c, send, nil
	}
}

func (a *Alerter) tryClaim(ctx context.Context, al *Alert) (claim, bool, error) {
	c := claim{key: al.Fingerprint}
	var last uint64
	e, err := a.bucket.Get(ctx, al.Fingerprint)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return c, false, err
	default:
		c.prev, last = e.Value(), e.Revision()
	}
	if al.passing() {
		al.Resolved = true
		if len(c.prev) == 0 {
			return c, false, nil
		}
		c.resolved = true
		return c, true, a.bucket.Delete(ctx, al.Fingerprint, jetstream.LastRevision(last))
	}
	if string(c.prev) == al.state() {
		return c, false, nil
	}
	if last == 0 {
		c.rev, err = a.bucket.Create(ctx, al.Fingerprint, []byte(al.state()))
	} else {
		c.rev, err = a.bucket.Update(ctx, al.Fingerprint, []byte(al.state()), last)
	}
	return c, true, err
}

// release undoes the claims of a batch whose notifications did not all go
// out (shutdown mid-delivery), so the redelivered batch notifies them. A
// claim another replica has since overwritten is left alone. A replica that
// dies between claim and delivery loses that notification: the price of
// never sending one twice.
func (a *Alerter) release(claims []claim) error {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Timeout)
	defer cancel()
	var errs []error
	for _, c := range claims {
		var err error
		switch {
		case c.resolved:
			_, err = a.bucket.Put(ctx, c.key, c.prev)
		case c.prev == nil:
			err = a.bucket.Delete(ctx, c.key, jetstream.LastRevision(c.rev))
		default:
			_, err = a.bucket.Update(ctx, c.key, c.prev, c.rev)
		}
		if err != nil && !conflict(err) {
			errs = append(errs, fmt.Errorf("release alerter state of %s: %w", c.key, err))
		}
	}
	return errors.Join(errs...)
}

// conflict tells a compare-and-set that lost to another writer.
func conflict(err error) bool {
	var api *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) ||
		(errors.As(err, &api) && (api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant))
}

// deliverGroup sends a group to each receiver of its team (its alerts'
// state is claimed already). Only a shutdown mid-delivery fails it.
func (a *Alerter) deliverGroup(ctx context.Context, g *group, now time.Time) error {
	receivers := receiversOf(a.set.Policy, g.tenant, g.team, a.cfg.DefaultWebhook)
	if len(receivers) == 0 {
		a.set.Logger.Warn("no receiver for verdicts", "team", g.team, "tenant", g.tenant, "alerts", len(g.alerts))
		for range g.alerts {
			a.metrics.verdict("unrouted")
		}
		return nil
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
