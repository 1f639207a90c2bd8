// Package trace is the performance lens's trace side: it scores journey
// windows against the policy's latency, error and hop budgets, and answers
// the queries the scorecard asks of traces (detections, requests per
// journey, error sums over SLO windows).
package trace

import (
	"context"

	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	tracev1 "github.com/trilens/trilens/proto/trilens/trace/v1"
	"github.com/trilens/trilens/services/scorer/evidence"
)

// Trace KPIs: what the performance lens scores for every journey window.
const (
	KPIJourneyP95       = "journey_p95_ms"
	KPIJourneyP99       = "journey_p99_ms"
	KPIJourneyErrorRate = "journey_error_rate"
	// KPIHopP95 is scored per hop class; its scope is "<journey>/<hop>".
	KPIHopP95 = "hop_p95_ms"
)

// The lens and statuses trace KPI points carry.
const (
	traceLens       = "performance"
	traceStatusPass = "pass"
	traceStatusFail = "fail"
)

// KPIs turns trace windows into KPI points: for each journey with
// budgets in the policy, p95 and p99 against their budgets, the error rate
// against its budget, and each hop's p95 against its share of the p95
// budget (hops: { cdn: 30, edge: 40, api: 120, db: 80, margin: 30 }).
// Points are keyed by the window event's id, so a replayed batch writes the
// same rows and ClickHouse keeps one of each.
type KPIs struct {
	store  *store.Store
	policy *policy.Policy
}

// New scores trace windows against set's policy's journey budgets.
func New(set evidence.Settings) *KPIs {
	return &KPIs{store: set.Store, policy: set.Policy}
}

func (p *KPIs) Name() string { return "trace_kpis" }

func (p *KPIs) Process(ctx context.Context, evs []*eventv1.Event) error {
	var rows store.KPIPointRows
	for _, ev := range evs {
		for _, w := range ev.GetTraceWindows().GetWindows() {
			p.points(&rows, ev.GetEnvelope(), w)
		}
	}
	if rows.Len() == 0 {
		return nil
	}
	return p.store.Insert(ctx, &rows)
}

// points appends the KPI points of one window.
func (p *KPIs) points(rows *store.KPIPointRows, env *eventv1.Envelope, w *tracev1.Window) {
	j, ok := p.policy.Journey(w.GetJourney())
	if !ok || w.GetCount() <= 0 {
		return
	}
	sub := env.GetSubject()
	scope := store.Scope{
		Tenant:      env.GetTenant(),
		EventID:     env.GetEventId(),
		Repository:  sub.GetRepository(),
		Commit:      sub.GetCommit(),
		Branch:      sub.GetBranch(),
		Environment: evidence.EnumName(sub.GetEnvironment(), "ENVIRONMENT_"),
		Service:     w.GetService(),
		Journey:     w.GetJourney(),
		ObservedAt:  evidence.ClampTime(evidence.UnixNano(w.GetStartUnixNano() + w.GetDurationNanos())),
	}
	owner := p.policy.OwnerOfJourney(j.Name)
	add := func(kpi, kpiScope string, value, budget float64) {
		status := traceStatusPass
		if value > budget {
			status = traceStatusFail
		}
		rows.Append(store.KPIPoint{
			Scope: scope, Lens: traceLens, KPI: kpi, KPIScope: kpiScope,
			Value: value, Budget: budget, Status: status, Owner: owner,
			EvidenceIDs: []string{env.GetEventId()},
		})
	}
	if j.P95Ms > 0 {
		add(KPIJourneyP95, j.Name, w.GetP95Ms(), j.P95Ms)
	}
	if j.P99Ms > 0 {
		add(KPIJourneyP99, j.Name, w.GetP99Ms(), j.P99Ms)
	}
	if j.ErrorRate > 0 {
		add(KPIJourneyErrorRate, j.Name, w.GetErrors()/w.GetCount(), j.ErrorRate)
	}
	for _, h := range w.GetHops() {
		hop := evidence.EnumName(h.GetHop(), "HOP_CLASS_")
		if budget, ok := j.Hops.Budget(hop); ok {
			add(KPIHopP95, j.Name+"/"+hop, h.GetP95Ms(), budget)
		}
	}
}
