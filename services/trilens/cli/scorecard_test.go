package cli

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/collect/collecttest"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store/chtest"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	scanv1 "github.com/trilens/trilens/proto/trilens/scan/v1"
	tracev1 "github.com/trilens/trilens/proto/trilens/trace/v1"
)

const scorecardCLIPolicy = `
version: 1
services:
  - { name: checkout, owner: team-payments, tier: 1, exposure: internet, revenue_per_hour: 10000 }
journeys:
  - { name: pay, service: checkout, match: [{ http_route: /pay }], p95_ms: 300 }
  - { name: search, match: [{ http_route: /search }], p95_ms: 200 }
`

// TestScorecardWaiveGate drives the CLI against a scorer on real NATS and
// ClickHouse: the scorecard lists both journeys' p95 gaps most expensive
// first and flags the one nobody owns; the gate fails until both are
// waived, and fails again once a waiver is revoked.
func TestScorecardWaiveGate(t *testing.T) {
	ctx := context.Background()
	srv, b := newScorerStack(t, scorecardCLIPolicy)
	now := time.Now().Truncate(time.Minute)
	var ws []*tracev1.Window
	for _, w := range []struct {
		service, journey string
		p95              float64
	}{{"checkout", "pay", 450}, {"search", "search", 260}} {
		ws = append(ws, &tracev1.Window{StartUnixNano: now.Add(-time.Minute).UnixNano(), DurationNanos: int64(time.Minute),
			Service: w.service, Journey: w.journey, Count: 500, P95Ms: w.p95, P99Ms: w.p95})
	}
	env := events.NewEnvelope(events.ID("acme", "windows"), "acme", eventv1.Kind_KIND_TRACE_WINDOW, &eventv1.Producer{Collector: "test"},
		&eventv1.Subject{Environment: eventv1.Environment_ENVIRONMENT_PRODUCTION}, now)
	if err := b.Publish(ctx, &eventv1.Event{Envelope: env, Payload: &eventv1.Event_TraceWindows{TraceWindows: &tracev1.WindowBatch{Windows: ws}}}); err != nil {
		t.Fatal(err)
	}
	flags := []string{"--scorer-url", srv.URL, "--tenant", "acme"}
	deadline := time.Now().Add(time.Minute)
	var code int
	var out string
	for {
		code, out = runCLI(append([]string{"scorecard", "--gate", "--format", "markdown"}, flags...)...)
		if strings.Contains(out, "2 gaps") || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code != ExitBroken || !strings.Contains(out, ":x: Scorecard: FAIL. 2 gaps, 2 blocking, 0 waived, 1 unowned") {
		t.Fatalf("scorecard --gate: exit %d\n%s", code, out)
	}
	pay, search := strings.Index(out, "pay journey_p95_ms"), strings.Index(out, "search journey_p95_ms")
	if pay < 0 || search < 0 || pay > search || !strings.Contains(out, "**unowned**") {
		t.Errorf("want the pay gap (tier 1, revenue) above the unowned search gap:\n%s", out)
	}

	for _, args := range [][]string{
		{"waive", "journey_p95_ms", "--scope", "pay", "--owner", "team-payments", "--reason", "CDN migration", "--control", "more replicas", "--for", "7d", "--id", "w-pay"},
		{"waive", "journey_p95_ms", "--scope", "search", "--owner", "team-search", "--reason", "index rebuild", "--expires", now.Add(48 * time.Hour).Format(time.RFC3339), "--id", "w-search"},
	} {
		if code, out := runCLI(append(args, flags...)...); code != 0 || !strings.Contains(out, "created") {
			t.Fatalf("%v: exit %d\n%s", args, code, out)
		}
	}
	if code, out := runCLI(append([]string{"waive", "x", "--owner", "o", "--reason", "r"}, flags...)...); code != ExitUsage || !strings.Contains(out, "expiry") {
		t.Errorf("waive without an expiry: exit %d\n%s", code, out)
	}
	if code, out := runCLI(append([]string{"scorecard", "--gate"}, flags...)...); code != 0 || !strings.Contains(out, "waived: w-pay") {
		t.Fatalf("every gap waived: exit %d\n%s", code, out)
	}
	if code, out := runCLI(append([]string{"waivers", "--revoke", "w-search", "--by", "carol"}, flags...)...); code != 0 {
		t.Fatalf("revoke: exit %d\n%s", code, out)
	}
	code, out = runCLI(append([]string{"waivers"}, flags...)...)
	if code != 0 || !strings.Contains(out, "w-pay") || !strings.Contains(out, "more replicas") ||
		!strings.Contains(out, "revoked") {
		t.Errorf("waivers: exit %d\n%s", code, out)
	}
	if code, out := runCLI(append([]string{"scorecard", "--gate", "--format", "json"}, flags...)...); code != ExitBroken || !strings.Contains(out, `"pass": false`) {
		t.Errorf("a revoked waiver counts no more: exit %d\n%s", code, out)
	}

	for _, format := range []string{"markdown", "html"} {
		code, out := runCLI(append([]string{"report", "--since", "7d", "--format", format}, flags...)...)
		if code != 0 || !strings.Contains(out, "journey_p95_ms") || !strings.Contains(out, "Top risks by money") ||
			!strings.Contains(out, "w-pay") || !strings.Contains(out, "450") {
			t.Errorf("report --format %s: exit %d\n%s", format, code, out)
		}
	}
}

// newScorerStack runs a scorer with the given policy on real NATS and
// ClickHouse behind an HTTP server.
func newScorerStack(t *testing.T, policyYAML string) (*httptest.Server, *bus.Bus) {
	t.Helper()
	pol, err := policy.Parse([]byte(policyYAML), "trilens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := chtest.Store(t)
	b := natstest.Bus(t)
	srv := collecttest.Serve(t, startScorer(t, b, st, pol))

	return srv, b
}

// TestGateAllLenses: `trilens gate --all-lenses` fails a commit on its scan
// finding and on its journey's p95, and passes once both are waived in the
// risk ledger.
func TestGateAllLenses(t *testing.T) {
	ctx := context.Background()
	srv, b := newScorerStack(t, scorecardCLIPolicy)
	now := time.Now().Truncate(time.Second)
	sub := func() *eventv1.Subject {
		return &eventv1.Subject{Repository: "acme/shop", Branch: "main", Commit: "c1", Service: "checkout"}
	}
	scan := events.NewEnvelope(events.ID("acme", "c1", "scan"), "acme", eventv1.Kind_KIND_SCAN, &eventv1.Producer{Collector: "test", Tool: "trivy"}, sub(), now)
	scan.Part = &eventv1.Part{ReportId: "report-c1", Index: 0, Count: 1}
	trace := events.NewEnvelope(events.ID("acme", "c1", "trace"), "acme", eventv1.Kind_KIND_TRACE_WINDOW, &eventv1.Producer{Collector: "test"}, sub(), now)
	if err := b.Publish(ctx,
		&eventv1.Event{Envelope: scan, Payload: &eventv1.Event_Scan{Scan: &scanv1.FindingBatch{Tool: "trivy", Format: "trivy", Findings: []*scanv1.Finding{{
			Fingerprint: "fp-crit", RuleId: "CVE-2023-45288", Title: "HTTP/2 CONTINUATION flood", Severity: scanv1.Severity_SEVERITY_CRITICAL,
			Category: scanv1.Category_CATEGORY_VULNERABILITY, PackageName: "golang.org/x/net", InstalledVersion: "0.22.0"}}}}},
		&eventv1.Event{Envelope: trace, Payload: &eventv1.Event_TraceWindows{TraceWindows: &tracev1.WindowBatch{Windows: []*tracev1.Window{{
			StartUnixNano: now.Add(-time.Minute).UnixNano(), DurationNanos: int64(time.Minute), Service: "checkout", Journey: "pay", Count: 500, P95Ms: 450, P99Ms: 450}}}}},
	); err != nil {
		t.Fatal(err)
	}
	gate := []string{"gate", "--all-lenses", "--url", srv.URL, "--tenant", "acme", "--repo", "acme/shop", "--service", "checkout",
		"--branch", "main", "--commit", "c1", "--wait", "30s", "--policy", writePolicy(t, gatePolicy)}
	var code int
	var out string
	deadline := time.Now().Add(time.Minute)
	for {
		code, out = runCLI(gate...)
		if strings.Contains(out, "journey_p95_ms") || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code != ExitBroken || !strings.Contains(out, "no_new_critical") || !strings.Contains(out, "journey_p95_ms: performance: pay journey_p95_ms: 450") {
		t.Fatalf("gate --all-lenses: exit %d\n%s", code, out)
	}
	flags := []string{"--scorer-url", srv.URL, "--tenant", "acme", "--owner", "team-payments", "--for", "2d"}
	for _, args := range [][]string{
		{"waive", "fp-crit", "--reason", "HTTP/2 off at the edge"},
		{"waive", "journey_p95_ms", "--scope", "pay", "--reason", "CDN migration"},
	} {
		if code, out := runCLI(append(args, flags...)...); code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, out)
		}
	}
	if code, out := runCLI(gate...); code != 0 || !strings.Contains(out, "PASS") {
		t.Fatalf("gate --all-lenses after ledger waivers: exit %d\n%s", code, out)
	}
}
