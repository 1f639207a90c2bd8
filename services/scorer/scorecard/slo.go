package scorecard

import (
	"context"
	"fmt"
	"time"

	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/trace"
)

// Error-budget KPIs of journeys with an SLO. Scope: the journey.
const (
	// KPISLOBudgetRemaining is the share of the SLO window's error budget
	// left: 1 − (errors / requests) / (1 − objective). Below 0 the SLO is missed.
	KPISLOBudgetRemaining = "slo_error_budget_remaining"
	// KPISLOBurnRatePrefix + the long window ("slo_burn_rate_1h") is the
	// error rate over that window divided by the rate the SLO allows; it
	// fails when both the long and the short window burn faster than the
	// policy's factor (the SRE workbook's multiwindow alert).
	KPISLOBurnRatePrefix = "slo_burn_rate_"
)

// SLOKPIs scores the error budgets of journeys with an SLO whenever trace
// windows of them arrive, from journey_latency (the windows stored so far),
// per environment. Points are dated at the newest window's end and keyed by
// the event, so a replay rewrites the same rows.
type SLOKPIs struct {
	st  *store.Store
	pol *policy.Policy
}

// NewSLOKPIs scores the error budgets of set's policy's journeys.
func NewSLOKPIs(set evidence.Settings) *SLOKPIs { return &SLOKPIs{st: set.Store, pol: set.Policy} }

func (p *SLOKPIs) Name() string { return "slo_kpis" }

// sloKey is one error budget: a journey as its entry service serves it in
// one environment (the service leads journey_latency's key, so the sums
// read only the journey's range).
type sloKey struct{ tenant, environment, service, journey string }

type sloSeen struct {
	env *eventv1.Envelope
	end time.Time
}

func (p *SLOKPIs) Process(ctx context.Context, evs []*eventv1.Event) error {
	latest := map[sloKey]sloSeen{}
	for _, ev := range evs {
		env := ev.GetEnvelope()
		for _, w := range ev.GetTraceWindows().GetWindows() {
			j, ok := p.pol.Journey(w.GetJourney())
			if !ok || j.SLO == nil || j.SLO.Objective <= 0 || j.SLO.Objective >= 100 {
				continue
			}
			k := sloKey{env.GetTenant(), evidence.EnumName(env.GetSubject().GetEnvironment(), "ENVIRONMENT_"), w.GetService(), j.Name}
			end := evidence.UnixNano(w.GetStartUnixNano() + w.GetDurationNanos())
			if s, ok := latest[k]; !ok || end.After(s.end) {
				latest[k] = sloSeen{env: env, end: end}
			}
		}
	}
	var rows store.KPIPointRows
	for k, s := range latest {
		if err := p.points(ctx, &rows, k, s); err != nil {
			return err
		}
	}
	if rows.Len() == 0 {
		return nil
	}
	return p.st.Insert(ctx, &rows)
}

func (p *SLOKPIs) points(ctx context.Context, rows *store.KPIPointRows, k sloKey, s sloSeen) error {
	j, _ := p.pol.Journey(k.journey)
	slo := j.SLO
	windows := []time.Duration{slo.Window}
	for _, br := range slo.BurnRates {
		windows = append(windows, br.Window, br.ShortWindow)
	}
	sums, err := trace.ErrorSums(ctx, p.st, trace.JourneyKey{Tenant: k.tenant, Environment: k.environment, Service: k.service, Journey: k.journey},
		s.end, slo.Window, windows)
	if err != nil {
		return fmt.Errorf("slo %s: %w", k.journey, err)
	}
	allowed := 1 - slo.Objective/100
	rate := func(i int) float64 { // error rate over windows[i] as a multiple of the allowed rate
		if sums[2*i] <= 0 {
			return 0
		}
		return sums[2*i+1] / sums[2*i] / allowed
	}
	scope := evidence.ScopeOf(s.env)
	scope.Service, scope.Journey, scope.ObservedAt = k.service, k.journey, s.end
	owner := p.pol.OwnerOfJourney(k.journey)
	add := func(kpi string, value, budget float64, status string) {
		rows.Append(store.KPIPoint{Scope: scope, Lens: evidence.LensPerformance, KPI: kpi, KPIScope: k.journey, Value: round(value, 6),
			Budget: budget, Status: status, Owner: owner, EvidenceIDs: []string{s.env.GetEventId()}})
	}
	remaining := 1 - rate(0)
	status := "pass"
	switch {
	case remaining < 0:
		status = "fail"
	case remaining < 0.25: // three quarters spent: time to slow down releases
		status = "warn"
	}
	add(KPISLOBudgetRemaining, remaining, 0, status)
	for i, br := range slo.BurnRates {
		long, short := rate(1+2*i), rate(2+2*i)
		status := "pass"
		if long > br.Factor && short > br.Factor {
			status = "fail"
		}
		add(KPISLOBurnRatePrefix+durationName(br.Window), long, br.Factor, status)
	}
	return nil
}

// durationName prints a window the way people write it: 1h, 6h, 30m, 3d.
func durationName(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
