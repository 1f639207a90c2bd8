package alerter_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/policy"
	scorev1 "github.com/trilens/trilens/proto/trilens/score/v1"
	"github.com/trilens/trilens/services/alerter"
)

// deadLetter is the first dead letter of the alerter, or fails the test.
func deadLetter(t *testing.T, e *env) jetstream.Msg {
	t.Helper()
	cons, err := e.bus.JetStream().OrderedConsumer(context.Background(), bus.StreamDeadLetter, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	return msg
}

// A policy edit (a pull request can make one) points a team's webhook at the
// machine's own network: the alerter must not make that request, must not
// retry it, and must not print the webhook's secret path anywhere.
func TestAttackSSRFThroughWebhooksIsRefused(t *testing.T) {
	e := newEnv(t)
	e.cfg.EgressAllow = nil // the default: public addresses only
	internal := newReceiver(t, 0)
	var logs bytes.Buffer
	a, err := alerter.New(e.cfg, alerter.Settings{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Bus: e.bus,
		Policy: teams(policy.Team{Name: "team-checkout", SlackWebhook: internal.URL + "/services/T0/B0/s3cret-path"})})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	e.publish(t, verdict{id: "v1", kpi: "journey.p95_ms", scope: "checkout", owner: "team-checkout", lens: scorev1.Lens_LENS_PERFORMANCE})
	e.settled(t)

	if requests, _ := internal.counts(); requests != 0 {
		t.Fatalf("the internal receiver got %d requests, want none", requests)
	}
	h := deadLetter(t, e).Headers()
	if reason := h.Get(bus.HeaderDeadReason); !strings.Contains(reason, "internal") || h.Get(alerter.HeaderAttempts) != "1" {
		t.Fatalf("want one attempt, dead-lettered as internal; headers %v", h)
	}
	for what, text := range map[string]string{"logs": logs.String(), "dead-letter headers": strings.Join(h["Trilens-Dead-Reason"], " ") + strings.Join(h[alerter.HeaderReceiver], " ")} {
		if strings.Contains(text, "s3cret-path") {
			t.Errorf("the webhook's secret path appears in the %s: %s", what, text)
		}
	}
}

// An allowed receiver that redirects to another host is not followed.
func TestAttackRedirectToAnotherHostIsNotFollowed(t *testing.T) {
	e := newEnv(t)
	target := newReceiver(t, 0)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, strings.Replace(target.URL, "127.0.0.1", "localhost", 1)+"/stolen", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirector.Close)
	e.start(t, teams(policy.Team{Name: "team-checkout", SlackWebhook: redirector.URL + "/hook"}))
	e.publish(t, verdict{id: "v1", kpi: "journey.p95_ms", scope: "checkout", owner: "team-checkout", lens: scorev1.Lens_LENS_PERFORMANCE})
	e.settled(t)
	if requests, _ := target.counts(); requests != 0 {
		t.Fatalf("the redirect to another host was followed (%d requests)", requests)
	}
	if reason := deadLetter(t, e).Headers().Get(bus.HeaderDeadReason); !strings.Contains(reason, "redirect to another host") {
		t.Fatalf("dead-letter reason %q, want the refused redirect", reason)
	}
}

// Tenant globex has a service with the same name as acme's: its verdicts
// must not page acme's team, whose receivers serve acme only.
func TestAttackAnotherTenantsVerdictDoesNotPageTheTeam(t *testing.T) {
	e := newEnv(t)
	acmeHook, fallback := newReceiver(t, 0), newReceiver(t, 0)
	e.cfg.DefaultWebhook = fallback.URL + "/unrouted"
	e.start(t, teams(policy.Team{Name: "team-checkout", Webhook: acmeHook.URL + "/acme", Tenants: []string{"acme"}}))
	ev := verdict{id: "v-globex", kpi: "journey.p95_ms", scope: "checkout-api", owner: "team-checkout", lens: scorev1.Lens_LENS_PERFORMANCE}.event()
	ev.Envelope.Tenant = "globex"
	if err := e.bus.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	e.publish(t, verdict{id: "v-acme", kpi: "journey.p95_ms", scope: "checkout-api", owner: "team-checkout", lens: scorev1.Lens_LENS_PERFORMANCE})
	e.settled(t)
	waitFor(t, "both notifications", func() bool {
		_, a := acmeHook.counts()
		_, f := fallback.counts()
		return a+f >= 2
	})
	for _, req := range acmeHook.bodies() {
		if strings.Contains(string(req.body), "globex") {
			t.Fatalf("acme's team was paged for globex: %s", req.body)
		}
	}
	if _, n := acmeHook.counts(); n != 1 {
		t.Fatalf("acme's team got %d notifications, want its own 1", n)
	}
	if _, n := fallback.counts(); n != 1 {
		t.Fatalf("globex's verdict should reach the default receiver once, got %d", n)
	}
}
