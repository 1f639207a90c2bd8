package scorer

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/server"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	loadtestv1 "github.com/trilens/trilens/proto/trilens/loadtest/v1"
	sbomv1 "github.com/trilens/trilens/proto/trilens/sbom/v1"
	scanv1 "github.com/trilens/trilens/proto/trilens/scan/v1"
	tracev1 "github.com/trilens/trilens/proto/trilens/trace/v1"
	"github.com/trilens/trilens/services/scorer/api"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/internal/scorertest"
	"github.com/trilens/trilens/services/scorer/ledger"
	"github.com/trilens/trilens/services/scorer/load"
	"github.com/trilens/trilens/services/scorer/owners"
	"github.com/trilens/trilens/services/scorer/sbom"
	"github.com/trilens/trilens/services/scorer/scorecard"
	"github.com/trilens/trilens/services/scorer/trace"
	"google.golang.org/protobuf/proto"
)

const scorecardPolicy = `
version: 1
tenant: acme
currency: EUR
services:
  - { name: checkout, repository: acme/shop, owner: team-payments, tier: 1, exposure: internet, revenue_per_hour: 20000 }
journeys:
  - name: pay
    service: checkout
    match: [{ http_route: /pay }]
    p95_ms: 300
    error_rate: 0.01
security:
  deny_licences: [AGPL-3.0-only]
scalability:
  default: { error_rate: 0.01, min_headroom: 0.2 }
  targets:
    - { name: checkout-load, peak_rps: 100, p95_at_peak_ms: 200 }
`

// scorecardRig runs the lens processors and the scorecard over real NATS
// and ClickHouse, feeding them the events the collectors publish.
type scorecardRig struct {
	t     *testing.T
	procs []evidence.Processor
	st    *store.Store
	srv   *httptest.Server
	nc    *nats.Conn
}

func newScorecardRig(t *testing.T, pol *policy.Policy, now func() time.Time) *scorecardRig {
	ns := natstest.Start(t)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	log := slog.New(slog.DiscardHandler)
	b, err := bus.New(nc, bus.DefaultConfig(), log)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Provision(context.Background()); err != nil {
		t.Fatal(err)
	}
	set := Settings{Logger: log, Bus: b, Store: chtest.Store(t), Policy: pol, Now: now}
	r := &scorecardRig{t: t, nc: nc, procs: newProcessors(set), st: set.Store}
	mux := server.NewRoutes()
	for _, p := range r.procs {
		if reg, ok := p.(interface{ Register(server.Router) }); ok {
			reg.Register(mux)
		}
	}
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *scorecardRig) feed(evs ...*eventv1.Event) {
	r.t.Helper()
	scorertest.StoreRaw(r.t, r.st, evs...)
	for _, p := range r.procs {
		if err := p.Process(context.Background(), evs); err != nil {
			r.t.Fatalf("%s: %v", p.Name(), err)
		}
	}
}

func (r *scorecardRig) get(path string, out any) {
	r.t.Helper()
	resp, err := http.Get(r.srv.URL + path)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		r.t.Fatal(err)
	}
}

func (r *scorecardRig) post(path string, body any) int {
	r.t.Helper()
	data, _ := json.Marshal(body)
	resp, err := http.Post(r.srv.URL+path, "application/json", bytes.NewReader(data))
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// release builds the evidence of one release of checkout: a trace window
// of the pay journey, a trivy report, a k6 run and, when components are
// given, an SBOM of the checkout image.
func release(commit string, at time.Time, p95, errRate, loadP95 float64, findings []*scanv1.Finding, components ...*sbomv1.Component) []*eventv1.Event {
	sub := func() *eventv1.Subject {
		return &eventv1.Subject{Repository: "acme/shop", Branch: "main", Commit: commit, Service: "checkout",
			Environment: eventv1.Environment_ENVIRONMENT_STAGING, Release: "v-" + commit}
	}
	prod := &eventv1.Producer{Collector: "test"}
	trace := events.NewEnvelope(events.ID("acme", commit, "trace"), "acme", eventv1.Kind_KIND_TRACE_WINDOW, prod, sub(), at)
	scan := events.NewEnvelope(events.ID("acme", commit, "scan"), "acme", eventv1.Kind_KIND_SCAN, prod, sub(), at)
	scan.Part = &eventv1.Part{ReportId: "report-" + commit, Index: 0, Count: 1}
	load := events.NewEnvelope(events.ID("acme", commit, "load"), "acme", eventv1.Kind_KIND_LOAD_RUN, prod, sub(), at)
	sbom := events.NewEnvelope(events.ID("acme", commit, "sbom"), "acme", eventv1.Kind_KIND_SBOM, prod, sub(), at)
	sbom.Part = &eventv1.Part{ReportId: "sbom-" + commit, Index: 0, Count: 1}
	evs := []*eventv1.Event{
		{Envelope: trace, Payload: &eventv1.Event_TraceWindows{TraceWindows: &tracev1.WindowBatch{Windows: []*tracev1.Window{{
			StartUnixNano: at.Add(-time.Minute).UnixNano(), DurationNanos: int64(time.Minute), Service: "checkout", Journey: "pay",
			Count: 1000, Errors: 1000 * errRate, P95Ms: p95, P99Ms: p95 * 2}}}}},
		{Envelope: scan, Payload: &eventv1.Event_Scan{Scan: &scanv1.FindingBatch{Tool: "trivy", Format: "trivy", Findings: findings}}},
		{Envelope: load, Payload: &eventv1.Event_LoadRun{LoadRun: &loadtestv1.LoadRun{TestName: "checkout-load", RunId: commit,
			Format: "k6-summary", ThresholdsPassed: true,
			Scenarios: []*loadtestv1.ScenarioStats{{Requests: 9000, Rps: 150, P50Ms: loadP95 / 2, P95Ms: loadP95, P99Ms: loadP95 * 1.5, FailedRate: 0.001}}}}},
	}
	if len(components) > 0 {
		evs = append(evs, &eventv1.Event{Envelope: sbom, Payload: &eventv1.Event_Sbom{Sbom: &sbomv1.ComponentBatch{
			ArtifactName: "checkout-image", ArtifactDigest: "sha256:" + commit, Format: "cyclonedx", LockfilePresent: true, Components: components}}})
	}
	return evs
}

// TestScorecardTwoReleases is acceptance 1 of the scorecard issue: the
// first release keeps its budgets, the second breaks the pay journey's p95
// and error rate, the load test's p95 at peak (so its capacity too), ships
// a component under a denied licence in its SBOM and brings a new critical
// KEV-listed CVE. The gate fails on the second release, with its gaps
// ordered by money and owned; waivers make it pass; their expiry re-opens
// every gap by itself and says so on the verdicts stream.
func TestScorecardTwoReleases(t *testing.T) {
	pol, err := policy.Parse([]byte(scorecardPolicy), "trilens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	clk := &scorertest.Clock{T: t0}
	r := newScorecardRig(t, pol, clk.Now)
	verdicts := make(chan *nats.Msg, 16)
	if _, err := r.nc.ChanSubscribe(events.VerdictSubject("acme"), verdicts); err != nil {
		t.Fatal(err)
	}
	st := r.st
	kev := &evidence.RowTable{Table: "scan_kev", Cols: []string{"cve", "name", "date_added", "loaded_at"},
		Rows: [][]any{{"CVE-2023-45288", "x/net", time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC), t0}}}
	if err := st.Insert(context.Background(), kev); err != nil {
		t.Fatal(err)
	}

	medium := &scanv1.Finding{Fingerprint: "fp-medium", RuleId: "G104", Title: "Errors unhandled", Severity: scanv1.Severity_SEVERITY_MEDIUM,
		Category: scanv1.Category_CATEGORY_CODE, Path: "internal/pay/pay.go", StartLine: 12}
	critical := &scanv1.Finding{Fingerprint: "fp-critical", RuleId: "CVE-2023-45288", Title: "HTTP/2 CONTINUATION flood",
		Severity: scanv1.Severity_SEVERITY_CRITICAL, Category: scanv1.Category_CATEGORY_VULNERABILITY, CvssScore: 7.5,
		Aliases: []string{"CVE-2023-45288"}, PackageName: "golang.org/x/net", InstalledVersion: "0.22.0", FixedVersion: "0.23.0"}

	xnet := &sbomv1.Component{Purl: "pkg:golang/golang.org/x/net@0.22.0", Name: "golang.org/x/net", Version: "0.22.0", Licenses: []string{"BSD-3-Clause"}, Pinned: true}
	agpl := &sbomv1.Component{Purl: "pkg:npm/pdf-kit@2.0.0", Name: "pdf-kit", Version: "2.0.0", Licenses: []string{"AGPL-3.0-only"}, Pinned: true}
	r.feed(release("r1", t0, 250, 0.002, 150, []*scanv1.Finding{medium}, xnet)...)
	gate := func(commit string) *scorecard.Scorecard {
		var card scorecard.Scorecard
		r.get("/v1/gate?tenant=acme&repo=acme/shop&service=checkout&branch=main&commit="+commit, &card)
		return &card
	}
	if c := gate("r1"); !c.Pass {
		t.Fatalf("release r1 keeps its budgets but the gate fails: %+v", c.Items)
	}

	clk.Set(t0.Add(24 * time.Hour))
	r.feed(release("r2", t0.Add(24*time.Hour), 420, 0.03, 260, []*scanv1.Finding{medium, critical}, xnet, agpl)...)
	c := gate("r2")
	if c.Pass {
		t.Fatalf("release r2 broke budgets but the gate passes: %+v", c.Items)
	}
	var byRelease scorecard.Scorecard
	r.get("/v1/gate?tenant=acme&service=checkout&branch=main&release=v-r2", &byRelease)
	if byRelease.Pass || len(byRelease.Items) != len(c.Items) || byRelease.Filter.Release != "v-r2" {
		t.Errorf("the gate by release v-r2 differs from the gate by its commit: %d items, pass %v", len(byRelease.Items), byRelease.Pass)
	}
	resp, err := http.Get(r.srv.URL + "/v1/gate?tenant=acme&release=v-none")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown release: %s, want 404", resp.Status)
	}
	blocking := map[string]scorecard.Item{}
	for i, it := range c.Items {
		if i > 0 && it.Blocking() == c.Items[i-1].Blocking() && it.Risk.Money > c.Items[i-1].Risk.Money {
			t.Errorf("item %d (%s, %.2f) costs more than item %d (%.2f): not ordered by money", i, it.Key, it.Risk.Money, i-1, c.Items[i-1].Risk.Money)
		}
		if it.Owner != "team-payments" {
			t.Errorf("%s owned by %q, want team-payments", it.Key, it.Owner)
		}
		if it.Blocking() {
			blocking[it.Key] = it
		}
	}
	for _, k := range []string{trace.KPIJourneyP95, trace.KPIJourneyErrorRate, load.KPILoadP95AtPeak, load.KPILoadMaxSustainableRPS, load.KPILoadHeadroom, sbom.KPISBOMDeniedLicences, "fp-critical"} {
		if _, ok := blocking[k]; !ok {
			t.Errorf("%s does not block release r2; blocking: %v", k, keys(blocking))
		}
	}
	if b := blocking["fp-critical"]; b.Breaks != "no_new_critical" || b.Risk.Likelihood != 1 || b.Risk.Money <= 0 {
		t.Errorf("the KEV-listed critical: %+v", b)
	}
	// 420 ms against 300: 40 % over budget, on 5 % of requests, of a tier-1
	// internet journey earning 20 000/h, open for a day:
	// 0.05 × 1 × 20 000 × 24 × 0.4 × 1 = 9600.
	if got := blocking[trace.KPIJourneyP95].Risk.Money; got != 9600 {
		t.Errorf("p95 gap costs %v, want 9600", got)
	}
	if c.Currency != "EUR" || c.Money <= 0 {
		t.Errorf("card currency %q money %v", c.Currency, c.Money)
	}

	var found struct{ Items []scorecard.Item }
	r.get("/v1/findings?tenant=acme&service=checkout&kind=finding&lens=security", &found)
	if len(found.Items) != 2 || found.Items[0].Key != "fp-critical" || found.Items[1].Key != "fp-medium" {
		t.Errorf("security findings, blocking first: %+v", found.Items)
	}
	r.get("/v1/findings?tenant=acme&blocking=true&min_score=50", &found)
	for _, it := range found.Items {
		if !it.Blocking() || it.Risk.Score < 50 {
			t.Errorf("filtered findings hold %+v", it)
		}
	}

	var hist struct{ Points []scorecard.KPIPointOut }
	r.get("/v1/kpis?tenant=acme&kpi="+scorecard.KPISecNewCritical+"&since=30d", &hist)
	if len(hist.Points) != 2 || hist.Points[0].Value != 0 || hist.Points[0].Status != "pass" ||
		hist.Points[1].Value != 1 || hist.Points[1].Status != "fail" || hist.Points[1].Commit != "r2" {
		t.Errorf("%s history: %+v, want 0 (pass) at r1 and 1 (fail) at r2", scorecard.KPISecNewCritical, hist.Points)
	}

	expires := t0.Add(72 * time.Hour)
	for _, w := range []api.WaiverRequest{
		{Target: trace.KPIJourneyP95, Scope: "pay", Owner: "team-payments", Reason: "CDN migration in progress", CompensatingControl: "autoscaling raised", ExpiresAt: expires, By: "alice"},
		{Target: trace.KPIJourneyErrorRate, Scope: "pay", Owner: "team-payments", Reason: "retry storm fixed next sprint", ExpiresAt: expires, By: "alice"},
		{Target: load.KPILoadP95AtPeak, Owner: "team-payments", Reason: "peak is seasonal", ExpiresAt: expires, By: "alice"},
		{Target: load.KPILoadMaxSustainableRPS, Scope: "checkout-load", Owner: "team-payments", Reason: "peak is seasonal", ExpiresAt: expires, By: "alice"},
		{Target: load.KPILoadHeadroom, Scope: "checkout", Owner: "team-payments", Reason: "peak is seasonal", ExpiresAt: expires, By: "alice"},
		{Target: sbom.KPISBOMDeniedLicences, Scope: "checkout-image", Owner: "team-payments", Reason: "licence bought", ExpiresAt: expires, By: "carol"},
		{Target: "fp-critical", Owner: "team-payments", Reason: "not reachable: HTTP/2 disabled", CompensatingControl: "h2 off at the edge", ExpiresAt: expires, By: "bob"},
	} {
		if code := r.post("/v1/waivers?tenant=acme", w); code != http.StatusOK {
			t.Fatalf("waive %s: status %d", w.Target, code)
		}
	}
	if code := r.post("/v1/waivers?tenant=acme", api.WaiverRequest{Target: "x", Owner: "o", Reason: "r", ExpiresAt: t0}); code != http.StatusBadRequest {
		t.Errorf("a waiver expiring in the past: status %d, want 400", code)
	}
	if c := gate("r2"); !c.Pass {
		t.Fatalf("every gap of r2 is waived but the gate fails: %+v", c.Items)
	}

	clk.Set(expires.Add(time.Hour))
	// A read never writes: the scorer's timer records the expiry.
	for _, p := range r.procs {
		if sw, ok := p.(interface{ SweepAll(context.Context) error }); ok {
			if err := sw.SweepAll(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	c = gate("r2")
	if c.Pass {
		t.Fatalf("the waivers expired but the gate passes")
	}
	for _, it := range c.Items {
		if it.Blocking() && !strings.Contains(it.Reopened, "expired at "+expires.Format(time.RFC3339)) {
			t.Errorf("%s blocks again but does not say its waiver expired: %q", it.Key, it.Reopened)
		}
	}
	var book struct{ Waivers []ledger.Waiver }
	r.get("/v1/waivers?tenant=acme", &book)
	for _, w := range book.Waivers {
		if w.State != ledger.WaiverExpired || w.LastChange != ledger.WaiverExpired {
			t.Errorf("waiver %s: state %s, last change %s", w.ID, w.State, w.LastChange)
		}
	}
	got := map[string]bool{}
	deadline := time.After(10 * time.Second)
	for len(got) < 7 {
		select {
		case m := <-verdicts:
			var ev eventv1.Event
			if err := proto.Unmarshal(m.Data, &ev); err != nil {
				t.Fatal(err)
			}
			if v := ev.GetVerdict(); v.GetReason() == ledger.ReasonWaiverExpired {
				got[v.GetKpi()] = true
			}
		case <-deadline:
			t.Fatalf("expiry verdicts on the stream: %v, want 7", got)
		}
	}
	var vs struct{ Verdicts []scorecard.VerdictOut }
	r.get("/v1/verdicts?tenant=acme&reason=waiver_expired&since=30d", &vs)
	if len(vs.Verdicts) != 7 {
		t.Errorf("%d expiry verdicts stored, want 7 (once each despite repeated sweeps)", len(vs.Verdicts))
	}
}

func keys(m map[string]scorecard.Item) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestScorecardFlagsUnowned(t *testing.T) {
	pol, err := policy.Parse([]byte(scorecardPolicy), "trilens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	r := newScorecardRig(t, pol, func() time.Time { return now })
	evs := release("r1", now, 250, 0, 150, []*scanv1.Finding{{Fingerprint: "fp-legacy", RuleId: "G101", Title: "Hard-coded credential",
		Severity: scanv1.Severity_SEVERITY_HIGH, Category: scanv1.Category_CATEGORY_CODE, Path: "legacy/x.go"}})
	evs[1].Envelope.Subject.Service = "legacy"
	r.feed(evs[1])
	var card scorecard.Scorecard
	r.get("/v1/scorecard?tenant=acme", &card)
	if len(card.Items) != 1 || card.Items[0].Owner != owners.Unowned || !card.Items[0].Unowned {
		t.Fatalf("a finding of a service no rule owns: %+v", card.Items)
	}
}

// TestScorecardTraceDetections: an N+1 query that touched 200 of the pay
// journey's 1000 requests and would save 60 ms each (a fifth of the 300 ms
// budget) is listed, owned and costed, without blocking: 0.2 × 1 × 20 000
// × 24 × 0.2 × 1 day = 19 200.
func TestScorecardTraceDetections(t *testing.T) {
	pol, err := policy.Parse([]byte(scorecardPolicy), "trilens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	r := newScorecardRig(t, pol, func() time.Time { return now })
	evs := release("r1", now, 250, 0, 150, nil)
	det := events.NewEnvelope("det-1", "acme", eventv1.Kind_KIND_TRACE_DETECTION, &eventv1.Producer{Collector: "test"},
		&eventv1.Subject{Service: "checkout"}, now)
	r.feed(evs[0], &eventv1.Event{Envelope: det, Payload: &eventv1.Event_TraceDetections{TraceDetections: &tracev1.DetectionBatch{
		Detections: []*tracev1.Detection{{Type: tracev1.DetectionType_DETECTION_TYPE_N_PLUS_ONE, Fingerprint: "np1", Service: "checkout",
			Journey: "pay", Operation: "SELECT * FROM items WHERE order_id = ?", Occurrences: 4000, AffectedTraces: 200,
			TotalMs: 20000, SavingsMs: 60, WindowStartUnixNano: now.Add(-time.Minute).UnixNano()}}}}})
	var card scorecard.Scorecard
	r.get("/v1/scorecard?tenant=acme&service=checkout", &card)
	var found *scorecard.Item
	for i := range card.Items {
		if card.Items[i].Key == "np1" {
			found = &card.Items[i]
		}
	}
	if found == nil || found.Lens != evidence.LensPerformance || found.Blocking() || found.Owner != "team-payments" ||
		found.Risk.Money != 19200 || !strings.Contains(found.Title, "n plus one in SELECT") {
		t.Fatalf("N+1 detection on the scorecard: %+v\nall: %+v", found, card.Items)
	}
	if !card.Pass {
		t.Errorf("a detection alone fails the gate: %+v", card.Items)
	}
}
