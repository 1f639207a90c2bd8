package regression

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store/chtest"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	loadtestv1 "github.com/trilens/trilens/proto/trilens/loadtest/v1"
	tracev1 "github.com/trilens/trilens/proto/trilens/trace/v1"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/internal/scorertest"
	"github.com/trilens/trilens/services/scorer/load"
	"github.com/trilens/trilens/services/scorer/trace"
)

// noise is ten draws with mean 0 and standard deviation 0.971.
var noise = []float64{-1.2, 0.4, 1.1, -0.3, 0.9, -1.5, 0.2, 1.4, -0.6, -0.4}

// baselineP95 is a noisy ten-run baseline: mean 200 ms, sd 9.71 ms (4.9 %).
func baselineP95() []float64 {
	b := make([]float64, len(noise))
	for i, z := range noise {
		b[i] = 200 + 10*z
	}
	return b
}

func TestStudentCDF(t *testing.T) {
	// Table values of Student's t: the 95th percentile at 9 degrees of
	// freedom is 1.833, the 97.5th at 30 is 2.042.
	for _, tc := range []struct{ t, df, want float64 }{{1.833, 9, 0.95}, {2.042, 30, 0.975}, {0, 5, 0.5}, {-1.833, 9, 0.05}} {
		if got := studentCDF(tc.t, tc.df); math.Abs(got-tc.want) > 5e-4 {
			t.Errorf("studentCDF(%v, %v) = %.5f, want %.3f", tc.t, tc.df, got, tc.want)
		}
	}
}

// TestJudgeKPI is acceptance 2 of the scorecard issue, on the statistics
// alone: over a ten-run baseline with mean 200 ms and sd 9.71 ms, a 20 %
// slowdown (240 ms) is a regression (t = 3.93, p ≈ 0.002); noise of the
// baseline's own spread is not: one sd (209.7 ms, t = 0.95, p ≈ 0.18), the
// baseline's own slowest run (214 ms) and two sd (219.4 ms: p ≈ 0.04 but
// 9.7 % slower, under the 10 % threshold).
func TestJudgeKPI(t *testing.T) {
	b := baselineP95()
	m, sd := meanSD(b)
	if math.Abs(m-200) > 1e-9 || math.Abs(sd-9.707) > 1e-3 {
		t.Fatalf("baseline mean %v sd %v", m, sd)
	}
	judge := func(x float64) kpiJudgement {
		j, ok := judgeKPI(x, b, true, 5, 0.1, 0.95)
		if !ok {
			t.Fatalf("no judgement of %v over %d samples", x, len(b))
		}
		return j
	}
	if j := judge(240); !j.Regressed || math.Abs(j.T-3.93) > 0.01 || j.P > 0.005 {
		t.Errorf("240 ms (+20 %%): %+v, want a regression", j)
	}
	for _, x := range []float64{200 + sd, 214, 200 + 2*sd, 190} {
		if j := judge(x); j.Regressed {
			t.Errorf("%.1f ms is within the baseline's noise but judged a regression: %+v", x, j)
		}
	}
	// Lower is worse for throughput: 20 % less is a regression, 20 % more is not.
	rps := []float64{100, 104, 97, 101, 99, 102, 98}
	if j, _ := judgeKPI(80, rps, false, 5, 0.1, 0.95); !j.Regressed {
		t.Errorf("throughput down 20 %%: %+v", j)
	}
	if j, _ := judgeKPI(120, rps, false, 5, 0.1, 0.95); j.Regressed {
		t.Errorf("throughput up 20 %% judged a regression: %+v", j)
	}
	// Too few samples: no judgement.
	if _, ok := judgeKPI(240, b[:4], true, 5, 0.1, 0.95); ok {
		t.Error("judged over 4 samples with min_samples 5")
	}
}

func TestChangePoint(t *testing.T) {
	series := append(baselineP95(), 251, 262, 248, 255)
	at, before, after, p, ok := changePoint(series, 3)
	if !ok || at != 10 || math.Abs(before-200) > 1e-9 || math.Abs(after-254) > 1e-9 || p > 0.001 {
		t.Errorf("change point at %d (%v -> %v, p %v), want at 10, 200 -> 254", at, before, after, p)
	}
	_, _, _, p, _ = changePoint(baselineP95(), 3)
	if p < 0.01 {
		t.Errorf("noise alone gives a change point with p = %v", p)
	}
}

const regressionPolicy = `
version: 1
owners: { default_team: team-perf }
scalability:
  targets:
    - { name: checkout-load, p95_at_peak_ms: 1000 }
regression: { min_samples: 5, baseline_runs: 10, threshold: 0.1, confidence: 0.95, base_branch: main }
`

// TestRegressionVerdicts is acceptance 2 end to end: ten successful load
// runs on main with a noisy p95 at peak (mean 200 ms, sd 9.7 ms) and one
// failed run (thresholds failed, p95 1000 ms) that must stay out of the
// baseline; then runs of a feature branch. 240 ms (+20 %) gives a verdict,
// 209.7 ms (+1 sd) does not.
func TestRegressionVerdicts(t *testing.T) {
	pol, err := policy.Parse([]byte(regressionPolicy), "trilens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := chtest.Store(t)
	set := evidence.Settings{Store: st, Policy: pol}
	procs := []evidence.Processor{load.New(set), New(set)}
	ctx := context.Background()
	feed := func(ev *eventv1.Event) {
		t.Helper()
		scorertest.StoreRaw(t, st, ev)
		for _, p := range procs {
			if err := p.Process(ctx, []*eventv1.Event{ev}); err != nil {
				t.Fatalf("%s: %v", p.Name(), err)
			}
		}
	}
	run := func(p95 float64, passed bool) *loadtestv1.LoadRun {
		return &loadtestv1.LoadRun{Format: "k6-summary", ThresholdsPassed: passed,
			Scenarios: []*loadtestv1.ScenarioStats{{Requests: 5000, Rps: 100, P50Ms: p95 / 2, P95Ms: p95, FailedRate: 0.001}}}
	}
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for i, v := range baselineP95() {
		feed(scorertest.LoadEvent(fmt.Sprint("base-", i), "checkout-load", "main", t0.Add(time.Duration(i)*time.Hour), run(v, true)))
		if i == 4 {
			feed(scorertest.LoadEvent("failed", "checkout-load", "main", t0.Add(4*time.Hour+time.Minute), run(1000, false)))
		}
	}
	ours := func(event string) []string {
		rows, err := st.Conn().Query(ctx, `SELECT reason FROM `+st.Database()+`.verdicts FINAL
			WHERE test = ? AND has(evidence_ids, ?) AND kpi = ?`, KPITest, event, load.KPILoadP95AtPeak)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var r string
			if err := rows.Scan(&r); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}
	later := t0.Add(24 * time.Hour)
	slow := scorertest.LoadEvent("slow", "checkout-load", "feature", later, run(240, true))
	feed(slow)
	if got := ours(slow.GetEnvelope().GetEventId()); len(got) != 1 || got[0] != ReasonRegression {
		t.Errorf("240 ms over a 200 ms baseline: verdicts %v, want one regression", got)
	}
	noisy := scorertest.LoadEvent("noisy", "checkout-load", "feature", later.Add(time.Hour), run(209.7, true))
	feed(noisy)
	if got := ours(noisy.GetEnvelope().GetEventId()); len(got) != 0 {
		t.Errorf("209.7 ms (+1 sd) judged %v, want nothing", got)
	}
	// Replaying the slow run adds nothing.
	feed(slow)
	if got := ours(slow.GetEnvelope().GetEventId()); len(got) != 1 {
		t.Errorf("verdicts of the slow run after a replay: %v, want one", got)
	}
	// The failed run was judged (it is slow) but never joined a baseline:
	// with it the baseline's sd would be 250 ms and 240 ms would pass.
}

// TestRegressionProductionSeries: production trace windows carry no branch,
// so each journey window is compared with the journey's own recent windows.
// Ten windows around 200 ms, then a step to about 250 ms: the first slow
// window is a regression; by the third (248 ms) the baseline holds two slow
// windows and its spread hides it from the t-test, but the change point
// (three values on each side) says the series shifted three points ago.
func TestRegressionProductionSeries(t *testing.T) {
	pol, err := policy.Parse([]byte(`
version: 1
journeys:
  - { name: pay, match: [{ http_route: /pay }], p95_ms: 1000 }
regression: { min_samples: 5, baseline_runs: 10, threshold: 0.1, confidence: 0.95, base_branch: main }
`), "trilens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := chtest.Store(t)
	set := evidence.Settings{Store: st, Policy: pol}
	procs := []evidence.Processor{trace.New(set), New(set)}
	ctx := context.Background()
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	values := append(baselineP95(), 251, 262, 248)
	for i, v := range values {
		start := t0.Add(time.Duration(i) * time.Minute)
		env := events.NewEnvelope(fmt.Sprint("w-", i), "shop", eventv1.Kind_KIND_TRACE_WINDOW, &eventv1.Producer{Collector: "test"},
			&eventv1.Subject{Environment: eventv1.Environment_ENVIRONMENT_PRODUCTION}, start.Add(time.Minute))
		ev := &eventv1.Event{Envelope: env, Payload: &eventv1.Event_TraceWindows{TraceWindows: &tracev1.WindowBatch{Windows: []*tracev1.Window{{
			StartUnixNano: start.UnixNano(), DurationNanos: int64(time.Minute), Service: "checkout", Journey: "pay", Count: 100, P95Ms: v, P99Ms: 900}}}}}
		scorertest.StoreRaw(t, st, ev)
		for _, p := range procs {
			if err := p.Process(ctx, []*eventv1.Event{ev}); err != nil {
				t.Fatal(err)
			}
		}
	}
	rows, err := st.Conn().Query(ctx, `SELECT reason, value, summary, observed_at FROM `+st.Database()+`.verdicts FINAL
		WHERE kpi = ? ORDER BY reason = 'change_point', observed_at`, trace.KPIJourneyP95)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var reason, summary string
		var v float64
		var at time.Time
		if err := rows.Scan(&reason, &v, &summary, &at); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %.0f: %s", reason, v, summary))
		// A shift is dated by its first slow window, not the window that revealed it.
		if firstSlow := t0.Add(11 * time.Minute); reason == ReasonChangePoint && !at.Equal(firstSlow) {
			t.Errorf("change point verdict at %s, want %s (the first point of the new regime)", at, firstSlow)
		}
	}
	if len(got) < 2 || !strings.HasPrefix(got[0], "regression 251") {
		t.Fatalf("verdicts %q: want the first slow window (251 ms) a regression", got)
	}
	found := false
	for _, g := range got {
		if strings.HasPrefix(g, ReasonChangePoint+" 248") && strings.Contains(g, "3 points ago") {
			found = true
		}
	}
	if !found {
		t.Errorf("verdicts %q: want a change point at the third slow window, three points back", got)
	}
}
