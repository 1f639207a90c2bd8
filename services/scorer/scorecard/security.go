package scorecard

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/owners"
	"github.com/trilens/trilens/services/scorer/scan"
)

// Security gate KPIs, per repository, service and branch, after each
// scored scan report. Scope: the service (else the repository).
const (
	KPISecNewCritical      = "security_new_critical"
	KPISecCriticalOverAge  = "security_critical_over_age"
	KPISecHighOverAge      = "security_high_over_age"
	KPISecSecrets          = "security_secrets"
	KPISecOpenFindings     = "security_open_findings"
	securityKPIPrefix      = "security_"
	securityKPIEventPrefix = "security-kpis"
)

// SecurityKPIs turns the security gates of the policy into KPI points each
// time a scan report has been scored (its lifecycle applied): how many open
// findings break each gate, against what the gate allows. The findings
// themselves are the scorecard's blocking items (a waiver names one
// finding), so these points are for trends, dashboards and regressions.
// Ages are counted at the report's time, so a replay writes the same points.
type SecurityKPIs struct {
	st  *store.Store
	pol *policy.Policy
}

// NewSecurityKPIs scores set's policy's security gates.
func NewSecurityKPIs(set evidence.Settings) *SecurityKPIs {
	return &SecurityKPIs{st: set.Store, pol: set.Policy}
}

func (p *SecurityKPIs) Name() string { return "security_kpis" }

func (p *SecurityKPIs) Process(ctx context.Context, evs []*eventv1.Event) error {
	reports := map[reportKey]*eventv1.Envelope{}
	byTenant := map[string][]string{}
	for _, ev := range evs {
		env := ev.GetEnvelope()
		id := env.GetPart().GetReportId()
		if ev.GetScan() == nil || id == "" {
			continue
		}
		k := reportKey{env.GetTenant(), id}
		if _, ok := reports[k]; !ok {
			byTenant[k.tenant] = append(byTenant[k.tenant], id)
		}
		reports[k] = env
	}
	var rows store.KPIPointRows
	for tenant, ids := range byTenant {
		scored, err := scan.Scored(ctx, p.st, tenant, ids)
		if err != nil {
			return err
		}
		for _, id := range scored {
			if err := p.points(ctx, &rows, id, reports[reportKey{tenant, id}]); err != nil {
				return err
			}
		}
	}
	if rows.Len() == 0 {
		return nil
	}
	return p.st.Insert(ctx, &rows)
}

// reportKey names a scan report.
type reportKey struct{ tenant, id string }

func (p *SecurityKPIs) points(ctx context.Context, rows *store.KPIPointRows, reportID string, env *eventv1.Envelope) error {
	sub, sec := env.GetSubject(), p.pol.Security
	at := evidence.ObservedAt(env)
	before := func(d time.Duration) time.Time {
		if d <= 0 {
			return evidence.MinDateTime
		}
		return evidence.ClampTime(at.Add(-d))
	}
	c, err := scan.GateCounts(ctx, p.st, env.GetTenant(), sub.GetRepository(), sub.GetService(), sub.GetBranch(),
		before(sec.CriticalMaxAge), before(sec.HighMaxAge))
	if err != nil {
		return fmt.Errorf("security kpis of %s: %w", reportID, err)
	}
	scope := evidence.ScopeOf(env)
	scope.EventID = events.ID(env.GetTenant(), securityKPIEventPrefix, reportID)
	kpiScope := sub.GetService()
	if kpiScope == "" {
		kpiScope = sub.GetRepository()
	}
	owner := owners.Of(p.pol, "", "", sub.GetJourney(), sub.GetService())
	add := func(kpi string, value uint64, budget float64, on bool) {
		if !on {
			return
		}
		rows.Append(store.KPIPoint{Scope: scope, Lens: evidence.LensSecurity, KPI: kpi, KPIScope: kpiScope, Value: float64(value),
			Budget: budget, Status: evidence.StatusOf(float64(value) <= budget), Owner: owner, EvidenceIDs: []string{reportID}})
	}
	add(KPISecNewCritical, c.NewCritical, 0, sec.NoNewCritical)
	add(KPISecCriticalOverAge, c.CriticalOld, 0, sec.CriticalMaxAge > 0)
	add(KPISecHighOverAge, c.HighOld, 0, sec.HighMaxAge > 0)
	add(KPISecSecrets, c.Secrets, float64(sec.SecretsAllowed), true)
	rows.Append(store.KPIPoint{Scope: scope, Lens: evidence.LensSecurity, KPI: KPISecOpenFindings, KPIScope: kpiScope, Value: float64(c.Open),
		Status: "pass", Owner: owner, EvidenceIDs: []string{reportID}})
	return nil
}

// itemisedElsewhere reports KPIs whose gaps the scorecard lists one by one
// (as findings), so the KPI itself informs and does not block twice.
func itemisedElsewhere(kpi string) bool { return strings.HasPrefix(kpi, securityKPIPrefix) }
