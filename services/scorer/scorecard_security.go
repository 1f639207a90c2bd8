package scorer

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
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

// securityKPIs turns the security gates of the policy into KPI points each
// time a scan report has been scored (its lifecycle applied): how many open
// findings break each gate, against what the gate allows. The findings
// themselves are the scorecard's blocking items (a waiver names one
// finding), so these points are for trends, dashboards and regressions.
// Ages are counted at the report's time, so a replay writes the same points.
type securityKPIs struct {
	st  *store.Store
	pol *policy.Policy
}

func newSecurityKPIs(set Settings) *securityKPIs {
	return &securityKPIs{st: set.Store, pol: set.Policy}
}

func (p *securityKPIs) Name() string { return "security_kpis" }

func (p *securityKPIs) Process(ctx context.Context, evs []*eventv1.Event) error {
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
		scored, err := p.scored(ctx, tenant, ids)
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

func (p *securityKPIs) scored(ctx context.Context, tenant string, ids []string) ([]string, error) {
	rows, err := p.st.Conn().Query(ctx, `SELECT DISTINCT report_id FROM `+p.st.Database()+`.scan_reports_scored FINAL
		WHERE tenant = ? AND has(?, report_id)`, tenant, ids)
	if err != nil {
		return nil, fmt.Errorf("scored reports: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func (p *securityKPIs) points(ctx context.Context, rows *store.KPIPointRows, reportID string, env *eventv1.Envelope) error {
	sub, sec := env.GetSubject(), p.pol.Security
	at := observedAt(env)
	before := func(d time.Duration) time.Time {
		if d <= 0 {
			return minDateTime
		}
		return clampTime(at.Add(-d))
	}
	var newCrit, critOld, highOld, secrets, open uint64
	err := p.st.Conn().QueryRow(ctx, `SELECT
		countIf(severity = 'critical' AND state IN ('`+StateNew+`', '`+StateReopened+`')),
		countIf(severity = 'critical' AND first_seen < ?), countIf(severity = 'high' AND first_seen < ?),
		countIf(category = 'secret'), count()
		FROM `+p.st.Database()+`.finding_lifecycle FINAL
		WHERE tenant = ? AND repository = ? AND service = ? AND branch = ? AND state != '`+StateFixed+`'`,
		before(sec.CriticalMaxAge), before(sec.HighMaxAge), env.GetTenant(), sub.GetRepository(), sub.GetService(), sub.GetBranch(),
	).Scan(&newCrit, &critOld, &highOld, &secrets, &open)
	if err != nil {
		return fmt.Errorf("security kpis of %s: %w", reportID, err)
	}
	scope := scopeOf(env)
	scope.EventID = events.ID(env.GetTenant(), securityKPIEventPrefix, reportID)
	kpiScope := sub.GetService()
	if kpiScope == "" {
		kpiScope = sub.GetRepository()
	}
	owner := ownerOf(p.pol, "", "", sub.GetJourney(), sub.GetService())
	add := func(kpi string, value uint64, budget float64, on bool) {
		if !on {
			return
		}
		rows.Append(store.KPIPoint{Scope: scope, Lens: LensSecurity, KPI: kpi, KPIScope: kpiScope, Value: float64(value),
			Budget: budget, Status: statusOf(float64(value) <= budget), Owner: owner, EvidenceIDs: []string{reportID}})
	}
	add(KPISecNewCritical, newCrit, 0, sec.NoNewCritical)
	add(KPISecCriticalOverAge, critOld, 0, sec.CriticalMaxAge > 0)
	add(KPISecHighOverAge, highOld, 0, sec.HighMaxAge > 0)
	add(KPISecSecrets, secrets, float64(sec.SecretsAllowed), true)
	rows.Append(store.KPIPoint{Scope: scope, Lens: LensSecurity, KPI: KPISecOpenFindings, KPIScope: kpiScope, Value: float64(open),
		Status: "pass", Owner: owner, EvidenceIDs: []string{reportID}})
	return nil
}

// itemisedElsewhere reports KPIs whose gaps the scorecard lists one by one
// (as findings), so the KPI itself informs and does not block twice.
func itemisedElsewhere(kpi string) bool { return strings.HasPrefix(kpi, securityKPIPrefix) }
