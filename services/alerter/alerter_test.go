package alerter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/policy"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	scorev1 "github.com/trilens/trilens/proto/trilens/score/v1"
	"github.com/trilens/trilens/services/alerter"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).logRejectedTLSConns"),
		// httptest servers' idle keep-alive connections close after the test.
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
	)
}

// receiver is a webhook endpoint that refuses the first failFirst requests
// (or every request when failFirst < 0) and records the bodies it accepts.
type receiver struct {
	*httptest.Server
	mu        sync.Mutex
	failFirst int
	requests  int
	accepted  []request
}

type request struct {
	path, idempotencyKey string
	body                 []byte
}

func newReceiver(t *testing.T, failFirst int) *receiver {
	r := &receiver{failFirst: failFirst}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.requests++
		if r.failFirst < 0 || r.requests <= r.failFirst {
			http.Error(w, "receiver restarting", http.StatusServiceUnavailable)
			return
		}
		r.accepted = append(r.accepted, request{req.URL.Path, req.Header.Get("Idempotency-Key"), body})
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) counts() (requests, accepted int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests, len(r.accepted)
}

func (r *receiver) bodies() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.accepted...)
}

type env struct {
	bus *bus.Bus
	cfg alerter.Config
}

func newEnv(t *testing.T) *env {
	t.Helper()
	b := natstest.Bus(t)
	cfg := alerter.DefaultConfig()
	cfg.GroupWait = 500 * time.Millisecond
	cfg.RetryInitial = 20 * time.Millisecond
	cfg.RetryMax = 100 * time.Millisecond
	cfg.Attempts = 4
	cfg.Timeout = 5 * time.Second
	// Test receivers are httptest servers on loopback, internal by design.
	cfg.EgressAllow = []string{"127.0.0.1"}
	return &env{bus: b, cfg: cfg}
}

// start runs an alerter until the test ends.
func (e *env) start(t *testing.T, p *policy.Policy) *alerter.Alerter {
	t.Helper()
	a, err := alerter.New(e.cfg, alerter.Settings{Logger: slog.New(slog.DiscardHandler), Bus: e.bus, Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	return a
}

func teams(ts ...policy.Team) *policy.Policy {
	return &policy.Policy{Owners: policy.Owners{DefaultTeam: "team-platform", Teams: ts}}
}

type verdict struct {
	id, kpi, scope, owner string
	lens                  scorev1.Lens
	status                scorev1.Status
	observed              time.Time
}

func (v verdict) event() *eventv1.Event {
	if v.observed.IsZero() {
		v.observed = time.Now()
	}
	if v.status == scorev1.Status_STATUS_UNSPECIFIED {
		v.status = scorev1.Status_STATUS_FAIL
	}
	env := events.NewEnvelope(events.ID("verdict", v.id), "acme", eventv1.Kind_KIND_VERDICT,
		&eventv1.Producer{Collector: "scorer"}, &eventv1.Subject{Service: v.scope}, v.observed)
	return &eventv1.Event{Envelope: env, Payload: &eventv1.Event_Verdict{Verdict: &scorev1.Verdict{
		VerdictId: v.id, Lens: v.lens, Kpi: v.kpi, Scope: v.scope, Status: v.status, Reason: "regression",
		Value: 420, Baseline: 250, Budget: 300, Test: "mann-whitney", PValue: 0.001, Owner: v.owner,
		Summary: "p95 of " + v.scope + " regressed",
	}}}
}

func (e *env) publish(t *testing.T, vs ...verdict) {
	t.Helper()
	evs := make([]*eventv1.Event, len(vs))
	for i, v := range vs {
		evs[i] = v.event()
	}
	if err := e.bus.Publish(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
}

// settled waits until the alerter has acknowledged every verdict.
func (e *env) settled(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c, err := e.bus.JetStream().Consumer(ctx, bus.StreamVerdicts, e.cfg.Durable)
		if err == nil {
			info, err := c.Info(ctx)
			if err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Stream > 0 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the alerter did not acknowledge every verdict within 30s")
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func TestRegressionReachesAFlakyReceiverExactlyOnce(t *testing.T) {
	e := newEnv(t)
	hook := newReceiver(t, 2)
	e.start(t, teams(policy.Team{Name: "team-checkout", Webhook: hook.URL + "/hooks/checkout"}))

	v := verdict{id: "v1", kpi: "journey.p95_ms", scope: "checkout", owner: "team-checkout", lens: scorev1.Lens_LENS_PERFORMANCE}
	e.publish(t, v)
	waitFor(t, "the notification", func() bool { _, n := hook.counts(); return n > 0 })
	e.settled(t)
	// The same verdict again (a scorer replay, a new run with the same
	// outcome) is within the repeat interval: no second notification.
	v.id = "v1-again"
	e.publish(t, v)
	e.settled(t)
	time.Sleep(2 * e.cfg.GroupWait)

	requests, accepted := hook.counts()
	if requests != 3 || accepted != 1 {
		t.Fatalf("receiver saw %d requests and accepted %d, want 3 and exactly 1", requests, accepted)
	}
	got := hook.bodies()[0]
	n := decode[alerter.Notification](t, got.body)
	if got.path != "/hooks/checkout" || got.idempotencyKey != n.ID || n.Version != alerter.NotificationVersion {
		t.Fatalf("request path %q, idempotency key %q, notification %+v", got.path, got.idempotencyKey, n)
	}
	if n.Team != "team-checkout" || n.Status != "firing" || len(n.Alerts) != 1 {
		t.Fatalf("notification %+v", n)
	}
	if a := n.Alerts[0]; a.KPI != "journey.p95_ms" || a.Scope != "checkout" || a.Status != "fail" || a.Value != 420 || a.Lens != "performance" {
		t.Fatalf("alert %+v", a)
	}
}

func TestBurstIsGroupedIntoOneNotificationPerGroup(t *testing.T) {
	e := newEnv(t)
	hook := newReceiver(t, 0)
	am := newReceiver(t, 0)
	e.start(t, teams(
		policy.Team{Name: "team-a", Webhook: hook.URL},
		policy.Team{Name: "team-b", Alertmanager: am.URL},
	))
	// 50 verdicts in three groups: team-a performance (20), team-a
	// security (20), team-b scalability (10).
	var vs []verdict
	for i := range 50 {
		v := verdict{id: fmt.Sprint("burst-", i), kpi: "kpi", scope: fmt.Sprint("svc-", i)}
		switch {
		case i < 20:
			v.owner, v.lens = "team-a", scorev1.Lens_LENS_PERFORMANCE
		case i < 40:
			v.owner, v.lens = "team-a", scorev1.Lens_LENS_SECURITY
		default:
			v.owner, v.lens = "team-b", scorev1.Lens_LENS_SCALABILITY
		}
		vs = append(vs, v)
	}
	e.publish(t, vs...)
	e.settled(t)
	time.Sleep(2 * e.cfg.GroupWait)

	sizes := map[string]int{}
	for _, r := range hook.bodies() {
		n := decode[alerter.Notification](t, r.body)
		sizes[n.Lens] += len(n.Alerts)
	}
	if _, accepted := hook.counts(); accepted != 2 || sizes["performance"] != 20 || sizes["security"] != 20 {
		t.Fatalf("team-a got %d notifications with %v alerts by lens, want 2 with 20 each", accepted, sizes)
	}
	if _, accepted := am.counts(); accepted != 1 {
		t.Fatalf("team-b's Alertmanager got %d posts, want 1", accepted)
	}
	post := am.bodies()[0]
	alerts := decode[[]struct {
		Labels   map[string]string `json:"labels"`
		StartsAt time.Time         `json:"startsAt"`
		EndsAt   *time.Time        `json:"endsAt"`
	}](t, post.body)
	if post.path != "/api/v2/alerts" || len(alerts) != 10 {
		t.Fatalf("alertmanager post to %q with %d alerts, want /api/v2/alerts with 10", post.path, len(alerts))
	}
	if l := alerts[0].Labels; l["alertname"] != "TrilensVerdict" || l["team"] != "team-b" || l["lens"] != "scalability" || l["severity"] != "critical" || alerts[0].EndsAt != nil || alerts[0].StartsAt.IsZero() {
		t.Fatalf("alertmanager alert %+v", alerts[0])
	}
}

func TestReceiverThatStaysDownIsDeadLettered(t *testing.T) {
	e := newEnv(t)
	down := newReceiver(t, -1)
	e.start(t, teams(policy.Team{Name: "team-checkout", SlackWebhook: down.URL + "/services/T0/B0/secret"}))
	e.publish(t, verdict{id: "v1", kpi: "journey.p95_ms", scope: "checkout", owner: "team-checkout", lens: scorev1.Lens_LENS_PERFORMANCE})
	e.settled(t)

	if requests, _ := down.counts(); requests != e.cfg.Attempts {
		t.Fatalf("receiver saw %d requests, want %d attempts", requests, e.cfg.Attempts)
	}
	ctx := context.Background()
	cons, err := e.bus.JetStream().OrderedConsumer(ctx, bus.StreamDeadLetter, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	h := msg.Headers()
	if !strings.Contains(h.Get(bus.HeaderDeadReason), "503") || h.Get(alerter.HeaderReceiver) != "slack "+down.URL || h.Get(alerter.HeaderAttempts) != fmt.Sprint(e.cfg.Attempts) {
		t.Fatalf("dead letter headers %v", h)
	}
	if strings.Contains(fmt.Sprint(h), "secret") {
		t.Fatal("the dead letter must not carry the webhook path")
	}
	body := decode[map[string]string](t, msg.Data())
	if !strings.Contains(body["text"], "journey.p95_ms") || !strings.Contains(body["text"], "checkout") {
		t.Fatalf("dead letter keeps the Slack message, got %s", msg.Data())
	}
}

func TestPassingVerdictResolvesOnlyANotifiedAlert(t *testing.T) {
	e := newEnv(t)
	am := newReceiver(t, 0)
	e.start(t, teams(policy.Team{Name: "team-payments", Alertmanager: am.URL + "/"}))
	firing := verdict{id: "f", kpi: "security.kev_open", scope: "payments", owner: "team-payments", lens: scorev1.Lens_LENS_SECURITY}
	neverFired := verdict{id: "p0", kpi: "security.critical_open", scope: "payments", owner: "team-payments", lens: scorev1.Lens_LENS_SECURITY, status: scorev1.Status_STATUS_PASS}
	e.publish(t, firing, neverFired)
	waitFor(t, "the firing alert", func() bool { _, n := am.counts(); return n == 1 })
	e.settled(t)
	resolved := firing
	resolved.id, resolved.status = "r", scorev1.Status_STATUS_PASS
	e.publish(t, resolved)
	waitFor(t, "the resolution", func() bool { _, n := am.counts(); return n == 2 })
	e.settled(t)
	time.Sleep(2 * e.cfg.GroupWait)

	if _, n := am.counts(); n != 2 {
		t.Fatalf("alertmanager got %d posts, want 2 (firing, resolved)", n)
	}
	type amAlert struct {
		Labels map[string]string `json:"labels"`
		EndsAt *time.Time        `json:"endsAt"`
	}
	first := decode[[]amAlert](t, am.bodies()[0].body)
	last := decode[[]amAlert](t, am.bodies()[1].body)
	if len(first) != 1 || first[0].Labels["kpi"] != "security.kev_open" || first[0].EndsAt != nil {
		t.Fatalf("firing post %+v", first)
	}
	if len(last) != 1 || last[0].Labels["kpi"] != "security.kev_open" || last[0].EndsAt == nil {
		t.Fatalf("resolving post %+v", last)
	}
}

func TestStaleVerdictsAndOwnersFromPolicy(t *testing.T) {
	e := newEnv(t)
	hook := newReceiver(t, 0)
	p := teams(policy.Team{Name: "team-catalog", Webhook: hook.URL})
	p.Services = []policy.Service{{Name: "catalog", Owner: "team-catalog"}}
	p.Journeys = []policy.Journey{{Name: "browse", Service: "catalog"}}
	e.start(t, p)
	e.publish(t,
		// No owner in the verdict: the journey's service owner gets it.
		verdict{id: "fresh", kpi: "journey.p95_ms", scope: "browse", lens: scorev1.Lens_LENS_PERFORMANCE},
		// A month-old verdict (a new consumer reading history) is not paged.
		verdict{id: "old", kpi: "journey.p99_ms", scope: "browse", lens: scorev1.Lens_LENS_PERFORMANCE, observed: time.Now().Add(-30 * 24 * time.Hour)},
	)
	e.settled(t)
	time.Sleep(2 * e.cfg.GroupWait)
	if _, n := hook.counts(); n != 1 {
		t.Fatalf("team-catalog got %d notifications, want 1", n)
	}
	n := decode[alerter.Notification](t, hook.bodies()[0].body)
	if n.Team != "team-catalog" || len(n.Alerts) != 1 || n.Alerts[0].KPI != "journey.p95_ms" {
		t.Fatalf("notification %+v", n)
	}
}

// Two replicas that both hold the same verdicts (a batch redelivered to a
// second replica while the first still works on it, here two consumers that
// each see every verdict) notify each alert once: the state write before
// the notification is a compare-and-set only one of them wins.
func TestReplicasHoldingTheSameVerdictsNotifyOnce(t *testing.T) {
	e := newEnv(t)
	hook := newReceiver(t, 0)
	p := teams(policy.Team{Name: "team-a", Webhook: hook.URL})
	first := e.cfg
	e.start(t, p)
	e.cfg.Durable = "alerter-twin"
	e.start(t, p)
	var vs []verdict
	for i := range 40 {
		vs = append(vs, verdict{id: fmt.Sprint("twin-", i), kpi: "kpi", scope: fmt.Sprint("svc-", i), owner: "team-a", lens: scorev1.Lens_LENS_PERFORMANCE})
	}
	for i := 0; i < len(vs); i += 4 {
		e.publish(t, vs[i:i+4]...)
	}
	e.settled(t)
	e.cfg = first
	e.settled(t)
	time.Sleep(2 * e.cfg.GroupWait)

	seen := map[string]int{}
	for _, r := range hook.bodies() {
		for _, a := range decode[alerter.Notification](t, r.body).Alerts {
			seen[a.VerdictID]++
		}
	}
	for _, v := range vs {
		if seen[v.id] != 1 {
			t.Errorf("verdict %s notified %d times, want once", v.id, seen[v.id])
		}
	}
}
