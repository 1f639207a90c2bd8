package load

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	loadtestv1 "github.com/trilens/trilens/proto/trilens/loadtest/v1"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/internal/scorertest"
)

const loadPolicy = `
version: 1
owners: { default_team: team-web }
scalability:
  default: { error_rate: 0.01, utilisation_ceiling: 0.7, min_headroom: 0.2 }
  targets:
    - name: steps
      peak_rps: 60
      p95_at_peak_ms: 80
web_vitals:
  default: { lcp_ms: 2500, inp_ms: 200, tbt_ms: 200, cls: 0.1, ttfb_ms: 800, min_performance_score: 90 }
regression: { min_samples: 5, baseline_runs: 10, threshold: 0.1, confidence: 0.95, base_branch: main }
`

// steppedRun is the shape of the stepped fixture: flat at 100 req/s past four VUs.
func steppedRun() *loadtestv1.LoadRun {
	steps := []*loadtestv1.Step{
		{Vus: 1, Rps: 24, P95Ms: 45}, {Vus: 2, Rps: 49, P95Ms: 46}, {Vus: 3, Rps: 73, P95Ms: 48},
		{Vus: 4, Rps: 96, P95Ms: 60}, {Vus: 5, Rps: 99, P95Ms: 85}, {Vus: 8, Rps: 99, P95Ms: 130},
	}
	return &loadtestv1.LoadRun{Format: "k6-ndjson", ThresholdsPassed: true, Steps: steps,
		Scenarios: []*loadtestv1.ScenarioStats{{Requests: 3000, Rps: 80, P50Ms: 42, P95Ms: 90, P99Ms: 120, FailedRate: 0.002}},
		Capacity:  &loadtestv1.Capacity{KneeRps: 96, LittlesLawRatio: 1}}
}

func TestCapacityAgainstTarget(t *testing.T) {
	c := capacityOf(steppedRun(), policy.ScalabilityTarget{PeakRPS: 60, P95AtPeakMs: 80, ErrorRate: 0.01})
	// Levels within 80 ms: up to 96 req/s. The first level at 60 req/s or more is 73 req/s (p95 48 ms).
	if c.MaxSustainableRPS != 96 || c.P95AtPeak != 48 || !c.PeakReached {
		t.Errorf("capacity %+v: want max sustainable 96, p95 at peak 48", c)
	}
	if want := 96.0/60 - 1; math.Abs(c.Headroom-want) > 1e-9 || math.Abs(c.Utilisation-60.0/96) > 1e-9 {
		t.Errorf("headroom %v utilisation %v, want %v and %v", c.Headroom, c.Utilisation, want, 60.0/96)
	}
	c = capacityOf(steppedRun(), policy.ScalabilityTarget{PeakRPS: 150, P95AtPeakMs: 80})
	if c.PeakReached || c.P95AtPeak != 130 {
		t.Errorf("peak above every level: %+v, want not reached and the top level's p95", c)
	}
}

func TestLoadAndWebVitalsKPIPoints(t *testing.T) {
	pol, err := policy.Parse([]byte(loadPolicy), "trilens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := chtest.Store(t)
	p := New(evidence.Settings{Store: st, Policy: pol})
	at := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	run := scorertest.LoadEvent("stepped", "steps", "feature", at, steppedRun())
	wv := &eventv1.Event{
		Envelope: events.NewEnvelope("wv-1", "shop", eventv1.Kind_KIND_WEB_VITALS, &eventv1.Producer{Collector: "loadcollector", Tool: "lighthouse"}, &eventv1.Subject{Repository: "acme/shop"}, at),
		Payload:  &eventv1.Event_WebVitals{WebVitals: &loadtestv1.WebVitals{Url: "http://127.0.0.1/page", LcpMs: 2600, Cls: 0.01, TbtMs: 950, TtfbMs: 5, PerformanceScore: 0.79}},
	}
	ctx := context.Background()
	for range 2 { // a replayed batch adds nothing: rows first, as the scorer does, then the processor
		var rows evidence.Rows
		rows.Add(run, "", 0)
		rows.Add(wv, "", 0)
		if err := st.Insert(ctx, rows.Tables()...); err != nil {
			t.Fatal(err)
		}
		if err := p.Process(ctx, []*eventv1.Event{run, wv}); err != nil {
			t.Fatal(err)
		}
	}
	// The stored run now carries its capacity against the target.
	var n uint64
	var maxRPS, headroom float64
	if err := st.Conn().QueryRow(ctx, "SELECT count(), any(max_sustainable_rps), any(headroom) FROM "+st.Database()+".load_runs FINAL").Scan(&n, &maxRPS, &headroom); err != nil {
		t.Fatal(err)
	}
	if n != 1 || maxRPS != 96 || math.Abs(headroom-0.6) > 1e-9 {
		t.Errorf("load_runs: %d rows, max sustainable %v, headroom %v; want 1 row, 96, 0.6", n, maxRPS, headroom)
	}
	got := kpis(t, st)
	want := map[string]string{
		"load_p95_at_peak_ms steps":                   "48/80 pass",
		"load_max_sustainable_rps steps":              "96/72 pass",
		"load_headroom steps":                         "0.6/0.2 pass",
		"load_utilisation_at_peak steps":              "0.625/0.7 pass",
		"load_error_rate steps":                       "0.002/0.01 pass",
		"load_thresholds_failed steps":                "0/0 pass",
		"load_generator_saturated steps":              "0/0 pass",
		"web_lcp_ms http://127.0.0.1/page":            "2600/2500 fail",
		"web_tbt_ms http://127.0.0.1/page":            "950/200 fail",
		"web_cls http://127.0.0.1/page":               "0.01/0.1 pass",
		"web_ttfb_ms http://127.0.0.1/page":           "5/800 pass",
		"web_performance_score http://127.0.0.1/page": "79/90 fail",
	}
	if len(got) != len(want) {
		t.Errorf("%d points %v, want %d", len(got), got, len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func kpis(t *testing.T, st *store.Store) map[string]string {
	t.Helper()
	rows, err := st.Conn().Query(context.Background(), "SELECT kpi, scope, value, budget, status FROM "+st.Database()+".kpi_points FINAL")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var kpi, scope, status string
		var v, b float64
		if err := rows.Scan(&kpi, &scope, &v, &b, &status); err != nil {
			t.Fatal(err)
		}
		if _, dup := out[kpi+" "+scope]; dup {
			t.Errorf("two points for %s %s", kpi, scope)
		}
		out[kpi+" "+scope] = fmt.Sprintf("%.4g/%.4g %s", v, b, status)
	}
	return out
}

func TestRegressionRuleSeesThroughNoise(t *testing.T) {
	r := regressionRule{MinSamples: 5, Threshold: 0.1, Confidence: 0.95}
	// The p95s of five real baseline runs on a loaded machine, and their medians.
	p95 := []float64{25.5, 32.4, 44.1, 44.3, 59.1}
	p50 := []float64{21.02, 21.11, 21.06, 21.08, 21.20}
	for _, c := range []struct {
		name     string
		value    float64
		baseline []float64
		worse    bool
		floor    float64
		judged   bool
		regress  bool
	}{
		{"slower median", 31.1, p50, true, 0, true, true},
		{"same median", 21.03, p50, true, 0, true, false},
		{"slower p95 inside its noise", 42.8, p95, true, 0, true, false},
		{"p95 far outside", 120, p95, true, 0, true, true},
		{"throughput drop", 200, []float64{343, 336, 319, 310, 298}, false, 0, true, true},
		{"throughput within", 300, []float64{343, 336, 319, 310, 298}, false, 0, true, false},
		// The p99s of the same runs: one run's tail of ~300 requests is noise.
		{"p99 within its noise", 87.8, []float64{69.31, 69.27, 64.24, 93.19, 81.13}, true, 0, true, false},
		{"errors from zero, under the floor", 0.004, []float64{0, 0, 0, 0, 0}, true, 0.005, true, false},
		{"errors from zero, over the floor", 0.05, []float64{0, 0, 0, 0, 0}, true, 0.005, true, true},
		{"too few runs", 100, p50[:4], true, 0, false, false},
	} {
		b, judged := r.judge(c.value, c.baseline, c.worse, c.floor)
		if judged != c.judged || b.Regressed != c.regress {
			t.Errorf("%s: judged %v regressed %v (%s), want %v %v", c.name, judged, b.Regressed, b, c.judged, c.regress)
		}
	}
}

// Regression verdicts come from stored runs: failed runs and other branches
// stay out of the baseline.
func TestLoadRegressionVerdicts(t *testing.T) {
	pol, err := policy.Parse([]byte(loadPolicy), "trilens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := chtest.Store(t)
	ctx := context.Background()
	p := New(evidence.Settings{Store: st, Policy: pol})
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	steady := func(p50 float64, passed bool) *loadtestv1.LoadRun {
		return &loadtestv1.LoadRun{ThresholdsPassed: passed, Scenarios: []*loadtestv1.ScenarioStats{{Requests: 300, Rps: 75, P50Ms: p50, P95Ms: 40, P99Ms: 50}}}
	}
	var rows evidence.Rows
	for i, p50 := range []float64{21.02, 21.11, 21.06, 21.08, 21.20} {
		rows.Add(scorertest.LoadEvent(fmt.Sprint("base-", i), "steady", "main", start.Add(time.Duration(i)*time.Minute), steady(p50, true)), "", 0)
	}
	// Newer slow runs that failed their thresholds, or ran on another branch or
	// another test: were any of them a baseline, its median would be 90 ms
	// and the slower run would pass.
	for i := range 6 {
		at := start.Add(time.Duration(10+i) * time.Minute)
		rows.Add(scorertest.LoadEvent(fmt.Sprint("failed-", i), "steady", "main", at, steady(90, false)), "", 0)
		rows.Add(scorertest.LoadEvent(fmt.Sprint("branch-", i), "steady", "feature", at, steady(90, true)), "", 0)
		rows.Add(scorertest.LoadEvent(fmt.Sprint("other-", i), "other", "main", at, steady(90, true)), "", 0)
	}
	if err := st.Insert(ctx, rows.Tables()...); err != nil {
		t.Fatal(err)
	}
	same := scorertest.LoadEvent("same", "steady", "feature", start.Add(time.Hour), steady(21.03, true))
	slower := scorertest.LoadEvent("slower", "steady", "feature", start.Add(time.Hour), steady(31.1, true))
	for range 2 {
		if err := p.Process(ctx, []*eventv1.Event{same, slower}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := st.Conn().Query(ctx, "SELECT kpi, scope, status, reason, value, baseline, test, evidence_ids FROM "+st.Database()+".verdicts FINAL")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []string
	for r.Next() {
		var kpi, scope, status, reason, test string
		var value, baseline float64
		var ids []string
		if err := r.Scan(&kpi, &scope, &status, &reason, &value, &baseline, &test, &ids); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %s %s %s %.4g vs %.4g %s %v", kpi, scope, status, reason, value, baseline, test, ids[0] == slower.Envelope.EventId))
	}
	want := "load_p50_ms steady fail regression 31.1 vs 21.08 median-mad-band true"
	if len(got) != 1 || got[0] != want {
		t.Errorf("verdicts %q, want exactly [%q]", got, want)
	}
}
