package scorecard_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store/chtest"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	loadtestv1 "github.com/trilens/trilens/proto/trilens/loadtest/v1"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/internal/scorertest"
	"github.com/trilens/trilens/services/scorer/load"
	"github.com/trilens/trilens/services/scorer/scorecard"
)

const budgetsPolicy = `
version: 1
owners: { default_team: team-web }
scalability:
  targets:
    - name: checkout
      p95_at_peak_ms: 300
      error_rate: 0.01
web_vitals:
  default: { lcp_ms: 2500, ttfb_ms: 800, cls: 0.1, tbt_ms: 200, min_performance_score: 50 }
`

// TestMissingMetricIsUnknownNotPass scores the figures the load collector
// reads from two real reports that lack a budgeted metric: Lighthouse 5.0.0
// (testdata/real/lighthouse/lhr-5.0.0.json: no LCP, CLS nor TBT) and a k6
// summary exported without p(95). Their zeros used to pass the budgets.
func TestMissingMetricIsUnknownNotPass(t *testing.T) {
	pol, err := policy.Parse([]byte(budgetsPolicy), "trilens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := chtest.Store(t)
	at := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	set := evidence.Settings{Store: st, Policy: pol, Now: func() time.Time { return at.Add(time.Hour) }}
	run := scorertest.LoadEvent("k6-no-p95", "checkout", "main", at, &loadtestv1.LoadRun{ThresholdsPassed: true,
		Scenarios: []*loadtestv1.ScenarioStats{{Requests: 1200, Rps: 40, P50Ms: 80, P90Ms: 120, FailedRate: 0, Absent: []string{"p95_ms", "p99_ms"}}}})
	wv := &eventv1.Event{
		Envelope: events.NewEnvelope("lh-5", "shop", eventv1.Kind_KIND_WEB_VITALS, &eventv1.Producer{Collector: "loadcollector", Tool: "lighthouse"},
			&eventv1.Subject{Repository: "acme/shop", Branch: "main"}, at),
		Payload: &eventv1.Event_WebVitals{WebVitals: &loadtestv1.WebVitals{Url: "http://localhost:10200/dobetterweb/dbw_tester.html",
			TtfbMs: 570.563, FcpMs: 3969.135, SpeedIndexMs: 4417, PerformanceScore: 0.69, LighthouseVersion: "5.0.0",
			Absent: []string{"lcp_ms", "cls", "tbt_ms", "inp_ms"}}},
	}
	ctx := context.Background()
	var rows evidence.Rows
	rows.Add(run, "", 0)
	rows.Add(wv, "", 0)
	if err := st.Insert(ctx, rows.Tables()...); err != nil {
		t.Fatal(err)
	}
	if err := load.New(set).Process(ctx, []*eventv1.Event{run, wv}); err != nil {
		t.Fatal(err)
	}
	// The facts keep what was not measured: absent, not a measured zero.
	var webAbsent, runAbsent []string
	if err := st.Conn().QueryRow(ctx, "SELECT absent FROM "+st.Database()+".web_vitals FINAL").Scan(&webAbsent); err != nil {
		t.Fatal(err)
	}
	if err := st.Conn().QueryRow(ctx, "SELECT absent FROM "+st.Database()+".load_runs FINAL WHERE scenario = ''").Scan(&runAbsent); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(webAbsent, "lcp_ms") || !slices.Contains(runAbsent, "p95_ms") {
		t.Errorf("stored absent flags: web_vitals %v, load_runs %v; want lcp_ms and p95_ms", webAbsent, runAbsent)
	}
	svc := scorecard.New(set)
	f := scorecard.Filter{Tenant: "shop", Repository: "acme/shop"}
	card, err := svc.Scorecard(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, it := range card.Items {
		status[it.Key] = it.Status
		if it.Status == evidence.StatusUnknown && it.Blocking() {
			t.Errorf("%s is unknown and blocks the gate by default", it.Key)
		}
	}
	want := []string{load.KPIWebLCP, load.KPIWebCLS, load.KPIWebTBT, load.KPILoadP95AtPeak}
	for _, kpi := range want {
		if status[kpi] != evidence.StatusUnknown {
			t.Errorf("%s: status %q on the scorecard, want unknown", kpi, status[kpi])
		}
	}
	if len(card.Items) != len(want) || !card.Pass {
		t.Errorf("default gate: items %v, pass %v; want only the unknown KPIs, warned, passing", status, card.Pass)
	}
	// The measured metrics still pass: ttfb, score, error rate, thresholds, generator.
	var passing int
	for _, l := range card.Lenses {
		passing += l.Passing
	}
	if passing != 5 {
		t.Errorf("%d passing KPIs, want 5", passing)
	}
	f.OnUnknown = scorecard.OnUnknownFail
	strict, err := svc.Scorecard(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if strict.Pass {
		t.Fatal("with on_unknown=fail the gate must fail on an unknown budget")
	}
	for _, it := range strict.Items {
		if !it.Blocking() {
			t.Errorf("%s does not block with on_unknown=fail", it.Key)
		}
	}
}
