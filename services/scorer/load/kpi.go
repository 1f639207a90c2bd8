// Package load is the scalability lens and the lab side of the performance
// lens: it scores load runs (capacity against the scalability targets, KPI
// points, regressions of a run against recent runs of the same test by a
// median-MAD band) and web vitals against the page budgets.
package load

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	loadtestv1 "github.com/trilens/trilens/proto/trilens/loadtest/v1"
	scorev1 "github.com/trilens/trilens/proto/trilens/score/v1"
	"github.com/trilens/trilens/services/scorer/evidence"
	"google.golang.org/protobuf/proto"
)

// Load and web-vitals KPIs. Load KPIs are scoped by test name, web vitals by URL.
const (
	KPILoadP95AtPeak         = "load_p95_at_peak_ms"
	KPILoadMaxSustainableRPS = "load_max_sustainable_rps"
	KPILoadHeadroom          = "load_headroom"
	KPILoadUtilisationAtPeak = "load_utilisation_at_peak"
	KPILoadErrorRate         = "load_error_rate"
	KPILoadThresholdsFailed  = "load_thresholds_failed"
	KPILoadGeneratorSat      = "load_generator_saturated"

	KPIWebLCP   = "web_lcp_ms"
	KPIWebINP   = "web_inp_ms"
	KPIWebTBT   = "web_tbt_ms"
	KPIWebCLS   = "web_cls"
	KPIWebTTFB  = "web_ttfb_ms"
	KPIWebScore = "web_performance_score"
)

const (
	loadLens = "scalability"
	webLens  = "performance"
)

// KPIs scores load runs and web vitals: KPI points against the
// policy's scalability targets and page budgets, the capacity envelope
// against the target's peak, and regression verdicts against recent
// successful runs of the same test on the base branch. Every row is keyed
// by the evidence event (points) or a verdict id derived from it, so a
// replayed batch rewrites the same rows.
type KPIs struct {
	store  *store.Store
	policy *policy.Policy
	bus    *bus.Bus
}

// New scores load runs and web vitals against set's policy.
func New(set evidence.Settings) *KPIs {
	return &KPIs{store: set.Store, policy: set.Policy, bus: set.Bus}
}

func (p *KPIs) Name() string { return "load_kpis" }

func (p *KPIs) Process(ctx context.Context, evs []*eventv1.Event) error {
	var points store.KPIPointRows
	var runs evidence.Rows
	var verdicts []*eventv1.Event
	for _, ev := range evs {
		env := ev.GetEnvelope()
		switch pl := ev.GetPayload().(type) {
		case *eventv1.Event_LoadRun:
			c := p.loadPoints(&points, env, pl.LoadRun)
			p.withCapacity(&runs, env, pl.LoadRun, c)
			vs, err := p.regressions(ctx, env, pl.LoadRun)
			if err != nil {
				return err
			}
			verdicts = append(verdicts, vs...)
		case *eventv1.Event_WebVitals:
			p.webPoints(&points, env, pl.WebVitals)
		}
	}
	// Verdicts first: once an event's points are stored, its processing is
	// complete (what a waiting gate or test can rely on).
	if len(verdicts) > 0 {
		var rows store.VerdictRows
		for _, v := range verdicts {
			rows.Append(verdictRow(v))
		}
		if err := p.store.Insert(ctx, &rows); err != nil {
			return err
		}
		if p.bus != nil {
			if err := p.bus.Publish(ctx, verdicts...); err != nil {
				return err
			}
		}
	}
	if runs.LoadRuns.Len() > 0 {
		if err := p.store.Insert(ctx, &runs.LoadRuns); err != nil {
			return err
		}
	}
	if points.Len() == 0 {
		return nil
	}
	return p.store.Insert(ctx, &points)
}

// withCapacity rewrites a run's load_runs rows with the capacity judged
// against its target: the collector cannot know the budgets, so the rows the
// scorer stored first carry no max sustainable RPS or headroom. Same key,
// same partition, inserted later: ReplacingMergeTree keeps these.
func (p *KPIs) withCapacity(rows *evidence.Rows, env *eventv1.Envelope, run *loadtestv1.LoadRun, c Capacity) {
	if c.MaxSustainableRPS == 0 && c.Headroom == 0 {
		return
	}
	run = proto.Clone(run).(*loadtestv1.LoadRun)
	if run.Capacity == nil {
		run.Capacity = &loadtestv1.Capacity{}
	}
	run.Capacity.MaxSustainableRps, run.Capacity.Headroom = c.MaxSustainableRPS, c.Headroom
	rows.AddLoadRun(evidence.ScopeOf(env), &eventv1.Event_LoadRun{LoadRun: run})
}

// Capacity is a run's envelope judged against a scalability target.
type Capacity struct {
	// MaxSustainableRPS is the highest load level whose p95 and error rate
	// stay within the target's budgets (the whole run when it has no steps).
	MaxSustainableRPS float64
	// P95AtPeak is the p95 of the first level at or above the peak (the
	// whole run's p95 without steps); PeakReached is false when no level got there.
	P95AtPeak   float64
	PeakReached bool
	// Headroom is MaxSustainableRPS / PeakRPS - 1; Utilisation its inverse
	// share: PeakRPS / MaxSustainableRPS, to be at most the utilisation ceiling.
	Headroom, Utilisation float64
}

// capacityOf applies a target to a run's steps.
func capacityOf(run *loadtestv1.LoadRun, t policy.ScalabilityTarget) Capacity {
	var c Capacity
	within := func(p95, errRate float64) bool {
		return (t.P95AtPeakMs <= 0 || p95 <= t.P95AtPeakMs) && (t.ErrorRate <= 0 || errRate <= t.ErrorRate)
	}
	if steps := run.GetSteps(); len(steps) > 0 {
		// p95 at peak: the least-loaded level that reached the peak, else the top level.
		var at, top *loadtestv1.Step
		for _, s := range steps {
			if within(s.GetP95Ms(), s.GetErrorRate()) {
				c.MaxSustainableRPS = max(c.MaxSustainableRPS, s.GetRps())
			}
			if top == nil || s.GetRps() >= top.GetRps() { // ties: the more loaded, later level
				top = s
			}
			if t.PeakRPS > 0 && s.GetRps() >= t.PeakRPS && (at == nil || s.GetRps() < at.GetRps()) {
				at = s
			}
		}
		c.PeakReached = at != nil
		if at == nil {
			at = top
		}
		c.P95AtPeak = at.GetP95Ms()
	} else {
		all := wholeRun(run)
		c.P95AtPeak, c.PeakReached = all.GetP95Ms(), true
		if within(all.GetP95Ms(), all.GetFailedRate()) {
			c.MaxSustainableRPS = all.GetRps()
		}
	}
	if t.PeakRPS > 0 && c.MaxSustainableRPS > 0 {
		c.Headroom = c.MaxSustainableRPS/t.PeakRPS - 1
		c.Utilisation = t.PeakRPS / c.MaxSustainableRPS
	}
	return c
}

func wholeRun(run *loadtestv1.LoadRun) *loadtestv1.ScenarioStats {
	for _, s := range run.GetScenarios() {
		if s.GetScenario() == "" {
			return s
		}
	}
	return nil
}

// loadPoints appends a run's KPI points and returns its judged capacity.
func (p *KPIs) loadPoints(rows *store.KPIPointRows, env *eventv1.Envelope, run *loadtestv1.LoadRun) Capacity {
	sub := env.GetSubject()
	t, _ := p.policy.ScalabilityFor(run.GetTestName(), sub.GetService(), sub.GetJourney())
	scope, test := evidence.ScopeOf(env), run.GetTestName()
	owner := p.owner(sub)
	add := func(kpi string, value, budget float64, pass, known bool) {
		status := evidence.StatusUnknown
		if known {
			status = evidence.StatusOf(pass)
		}
		rows.Append(store.KPIPoint{Scope: scope, Lens: loadLens, KPI: kpi, KPIScope: test, Value: value, Budget: budget,
			Status: status, Owner: owner, EvidenceIDs: []string{env.GetEventId()}})
	}
	all := wholeRun(run)
	c := capacityOf(run, t)
	// Without steps the whole run's p95 and error rate judge the capacity:
	// when the report did not give one the budget checks, capacity is unknown.
	p95Known, errKnown := true, all != nil && !slices.Contains(all.GetAbsent(), "failed_rate")
	if len(run.GetSteps()) == 0 && all != nil {
		p95Known = !slices.Contains(all.GetAbsent(), "p95_ms")
	}
	capKnown := (p95Known || t.P95AtPeakMs <= 0) && (errKnown || t.ErrorRate <= 0 || len(run.GetSteps()) > 0)
	if t.P95AtPeakMs > 0 {
		add(KPILoadP95AtPeak, c.P95AtPeak, t.P95AtPeakMs, c.PeakReached && c.P95AtPeak <= t.P95AtPeakMs, p95Known)
	}
	if t.PeakRPS > 0 {
		need := t.PeakRPS * (1 + t.MinHeadroom)
		add(KPILoadMaxSustainableRPS, c.MaxSustainableRPS, need, c.MaxSustainableRPS >= need, capKnown)
		add(KPILoadHeadroom, c.Headroom, t.MinHeadroom, c.MaxSustainableRPS > 0 && c.Headroom >= t.MinHeadroom, capKnown)
		if c.MaxSustainableRPS > 0 && t.UtilisationCeiling > 0 {
			add(KPILoadUtilisationAtPeak, c.Utilisation, t.UtilisationCeiling, c.Utilisation <= t.UtilisationCeiling, capKnown)
		}
	}
	if t.ErrorRate > 0 && all != nil {
		add(KPILoadErrorRate, all.GetFailedRate(), t.ErrorRate, all.GetFailedRate() <= t.ErrorRate, errKnown)
	}
	failed := 0.0
	for _, th := range run.GetThresholds() {
		if !th.GetPassed() {
			failed++
		}
	}
	add(KPILoadThresholdsFailed, failed, 0, failed == 0, true)
	sat := 0.0
	if run.GetCapacity().GetGeneratorSaturated() {
		sat = 1
	}
	add(KPILoadGeneratorSat, sat, 0, sat == 0, true)
	return c
}

func (p *KPIs) webPoints(rows *store.KPIPointRows, env *eventv1.Envelope, w *loadtestv1.WebVitals) {
	b, _ := p.policy.WebVitalsFor(w.GetUrl())
	scope, owner := evidence.ScopeOf(env), p.owner(env.GetSubject())
	add := func(kpi, field string, value, budget float64, pass bool) {
		status := evidence.StatusOf(pass)
		if slices.Contains(w.GetAbsent(), field) {
			status = evidence.StatusUnknown
		}
		rows.Append(store.KPIPoint{Scope: scope, Lens: webLens, KPI: kpi, KPIScope: w.GetUrl(), Value: value, Budget: budget,
			Status: status, Owner: owner, EvidenceIDs: []string{env.GetEventId()}})
	}
	upTo := func(kpi, field string, value, budget float64) {
		if budget > 0 {
			add(kpi, field, value, budget, value <= budget)
		}
	}
	upTo(KPIWebLCP, "lcp_ms", w.GetLcpMs(), b.LCPMs)
	// Only a user-flow timespan measures INP: a navigation report lacking it
	// is not a gap, so it has no point rather than an unknown one.
	if w.GetInpMs() > 0 && !slices.Contains(w.GetAbsent(), "inp_ms") {
		upTo(KPIWebINP, "inp_ms", w.GetInpMs(), b.INPMs)
	}
	upTo(KPIWebTBT, "tbt_ms", w.GetTbtMs(), b.TBTMs)
	upTo(KPIWebCLS, "cls", w.GetCls(), b.CLS)
	upTo(KPIWebTTFB, "ttfb_ms", w.GetTtfbMs(), b.TTFBMs)
	if b.MinPerformanceScore > 0 {
		// Lighthouse scores 0-1; the policy, like its report UI, 0-100.
		score := 100 * w.GetPerformanceScore()
		add(KPIWebScore, "performance_score", score, b.MinPerformanceScore, score >= b.MinPerformanceScore)
	}
}

func (p *KPIs) owner(sub *eventv1.Subject) string {
	if j := sub.GetJourney(); j != "" {
		if o := p.policy.OwnerOfJourney(j); o != "" {
			return o
		}
	}
	return p.policy.OwnerOfService(sub.GetService())
}

// regressionKPIs are the run figures compared with the baseline: column,
// whether higher is worse, and the smallest band (in the KPI's unit).
var regressionKPIs = []struct {
	column        string
	higherIsWorse bool
	floor         float64
}{
	{"p50_ms", true, 0},
	{"p95_ms", true, 0},
	{"p99_ms", true, 0},
	{"failed_rate", true, 0.005},
	{"rps", false, 0},
}

// regressions compares the run's whole-run figures with the same test's
// recent runs on the base branch. Failed runs (thresholds not passed, or no
// requests) never enter a baseline.
func (p *KPIs) regressions(ctx context.Context, env *eventv1.Envelope, run *loadtestv1.LoadRun) ([]*eventv1.Event, error) {
	all := wholeRun(run)
	if all == nil || all.GetRequests() == 0 {
		return nil, nil
	}
	reg := p.policy.Regression
	sub := env.GetSubject()
	base := sub.GetBaseBranch()
	if base == "" {
		base = reg.BaseBranch
	}
	limit := max(reg.BaselineRuns, reg.MinSamples, 2)
	cols := make([]string, len(regressionKPIs))
	for i, k := range regressionKPIs {
		cols[i] = k.column
	}
	q := `SELECT ` + strings.Join(cols, ", ") + ` FROM ` + p.store.Database() + `.load_runs FINAL
		WHERE tenant = ? AND repository = ? AND test_name = ? AND branch = ? AND scenario = ''
		  AND thresholds_passed = 1 AND requests > 0 AND event_id != ? AND observed_at < ?
		ORDER BY observed_at DESC LIMIT ` + fmt.Sprint(limit)
	rows, err := p.store.Conn().Query(ctx, q, env.GetTenant(), sub.GetRepository(), run.GetTestName(), base, env.GetEventId(), evidence.ObservedAt(env))
	if err != nil {
		return nil, fmt.Errorf("load baseline: %w", err)
	}
	defer rows.Close()
	baseline := make([][]float64, len(regressionKPIs))
	for rows.Next() {
		vals := make([]float64, len(regressionKPIs))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			baseline[i] = append(baseline[i], v)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	current := []float64{all.GetP50Ms(), all.GetP95Ms(), all.GetP99Ms(), all.GetFailedRate(), all.GetRps()}
	rule := regressionRule{MinSamples: reg.MinSamples, Threshold: reg.Threshold, Confidence: reg.Confidence}
	var out []*eventv1.Event
	for i, k := range regressionKPIs {
		if slices.Contains(all.GetAbsent(), k.column) {
			continue // a figure the report did not give is no regression
		}
		if current[i] == 0 && k.column != "failed_rate" {
			continue // a figure the format did not carry (p99 without summaryTrendStats)
		}
		b, ok := rule.judge(current[i], baseline[i], k.higherIsWorse, k.floor)
		if !ok || !b.Regressed {
			continue
		}
		out = append(out, p.verdict(env, run, "load_"+k.column, current[i], b))
	}
	return out, nil
}

func (p *KPIs) verdict(env *eventv1.Envelope, run *loadtestv1.LoadRun, kpi string, value float64, b band) *eventv1.Event {
	id := events.ID(env.GetTenant(), "verdict", env.GetEventId(), "regression", kpi)
	v := &scorev1.Verdict{
		VerdictId:   id,
		Lens:        scorev1.Lens_LENS_SCALABILITY,
		Kpi:         kpi,
		Scope:       run.GetTestName(),
		Status:      scorev1.Status_STATUS_FAIL,
		Reason:      "regression",
		Value:       value,
		Baseline:    b.Median,
		Budget:      b.Limit,
		Test:        RegressionTest,
		Owner:       p.owner(env.GetSubject()),
		Summary:     fmt.Sprintf("%s %s: %.4g, %s", run.GetTestName(), kpi, value, b),
		EvidenceIds: []string{env.GetEventId()},
	}
	venv := events.NewEnvelope(id, env.GetTenant(), eventv1.Kind_KIND_VERDICT, &eventv1.Producer{Collector: "scorer", Tool: "load_kpis"}, env.GetSubject(), evidence.ObservedAt(env))
	return &eventv1.Event{Envelope: venv, Payload: &eventv1.Event_Verdict{Verdict: v}}
}

// verdictRow is the verdicts-table row of a verdict event.
func verdictRow(ev *eventv1.Event) store.Verdict {
	v := ev.GetVerdict()
	scope := evidence.ScopeOf(ev.GetEnvelope())
	return store.Verdict{
		Scope: scope, VerdictID: v.GetVerdictId(), Lens: loadLens, KPI: v.GetKpi(), KPIScope: v.GetScope(),
		Status: "fail", Reason: v.GetReason(), Value: v.GetValue(), Baseline: v.GetBaseline(), Budget: v.GetBudget(),
		Test: v.GetTest(), Owner: v.GetOwner(), Summary: v.GetSummary(), EvidenceIDs: v.GetEvidenceIds(),
	}
}
