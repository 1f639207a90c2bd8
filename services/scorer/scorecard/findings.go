package scorecard

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/ledger"
	"github.com/trilens/trilens/services/scorer/owners"
	"github.com/trilens/trilens/services/scorer/scan"
	"github.com/trilens/trilens/services/scorer/trace"
)

// findingItems reads the findings open in the filter's scope from the scan
// lens's lifecycle, with their KEV and EPSS standing, and marks those that
// break a security budget of the policy (the same rules as `trilens gate`'s
// security check: no new critical, critical/high/KEV max age, secrets).
func (b *builder) findingItems(ctx context.Context, f Filter, now time.Time) ([]Item, error) {
	open, err := scan.OpenFindings(ctx, b.st, f.selector())
	if err != nil {
		return nil, err
	}
	var cves []string
	for _, x := range open {
		for _, a := range x.Aliases {
			if strings.HasPrefix(a, "CVE-") && !slices.Contains(cves, a) {
				cves = append(cves, a)
			}
		}
	}
	kev, epss, err := scan.Exploits(ctx, b.st, cves)
	if err != nil {
		return nil, err
	}
	items := make([]Item, 0, len(open))
	secrets := 0
	for _, x := range open {
		it, in, kevSince := findingItem(x, kev, epss, now)
		in.Tier, in.Exposure, in.RevenuePerHour = owners.Blast(b.pol, "", it.Service)
		it.Risk = Assess(b.pol.Severity, in)
		it.Owner = owners.Of(b.pol, "", x.Path, "", it.Service)
		it.Unowned = it.Owner == owners.Unowned
		it.Breaks = b.securityBreak(it, x.Category, in.KEV, kevSince, now, &secrets)
		items = append(items, it)
	}
	return items, nil
}

// findingItem is the item of an open finding, with what its exploit
// standing adds to its risk and since when it is KEV-listed.
func findingItem(x scan.OpenFinding, kev map[string]time.Time, epss map[string]float64, now time.Time) (Item, RiskInput, time.Time) {
	it := Item{Kind: ItemFinding, Lens: evidence.LensSecurity, Key: x.Fingerprint, Service: x.Service, Status: x.State,
		FirstSeen: x.FirstSeen, Severity: x.Severity, EvidenceIDs: x.ReportIDs,
		Sources: x.Sources, Reachability: x.Reachability}
	where := x.Path
	if x.Package != "" {
		where = x.Package + "@" + x.Installed
	} else if x.Line > 0 {
		where = fmt.Sprintf("%s:%d", x.Path, x.Line)
	}
	id := x.RuleID
	if len(x.Aliases) > 0 {
		id = x.Aliases[0]
	}
	it.Title = strings.TrimSpace(fmt.Sprintf("%s %s in %s (%s)", id, x.Title, where, strings.Join(x.Sources, ", ")))
	// govulncheck found the import or the requirement but no call.
	unreachable := x.Reachability == "imported" || x.Reachability == "required"
	in := RiskInput{CVSS: x.CVSS, DaysOpen: daysSince(it.FirstSeen, now), Unreachable: unreachable}
	kevSince := time.Time{}
	for _, a := range x.Aliases {
		if added, ok := kev[a]; ok {
			in.KEV = true
			kevSince = added
		}
		in.EPSS = max(in.EPSS, epss[a])
	}
	return it, in, kevSince
}

// securityBreak names the security budget of the policy an open finding
// breaks, "" when none; secrets counts the secrets seen so far.
func (b *builder) securityBreak(it Item, category string, kev bool, kevSince, now time.Time, secrets *int) string {
	sec := b.pol.Security
	age := now.Sub(it.FirstSeen)
	switch {
	case sec.NoNewCritical && it.Severity == "critical" && (it.Status == scan.StateNew || it.Status == scan.StateReopened):
		return "no_new_critical"
	case sec.CriticalMaxAge > 0 && it.Severity == "critical" && age > sec.CriticalMaxAge:
		return "critical_max_age"
	case sec.HighMaxAge > 0 && it.Severity == "high" && age > sec.HighMaxAge:
		return "high_max_age"
	case sec.KEVMaxAge > 0 && kev && now.Sub(later(it.FirstSeen, kevSince)) > sec.KEVMaxAge:
		return "kev_max_age"
	case category == "secret":
		*secrets++
		if *secrets > sec.SecretsAllowed {
			return "secrets_allowed"
		}
	}
	return ""
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// verdictItems reads the failing verdicts about the filter's release (its
// commit), or those of the last seven days without a commit; the newest
// verdict per lens, KPI and scope stands. Expiry notices inform and block
// nothing themselves: the item they re-open does.
func (b *builder) verdictItems(ctx context.Context, f Filter, now time.Time) ([]Item, error) {
	where, args := f.where(true)
	if f.Commit == "" {
		where += " AND observed_at >= ?"
		args = append(args, now.Add(-7*24*time.Hour))
	}
	q := `SELECT lens, kpi, scope, argMax(service, observed_at), argMax(journey, observed_at),
		argMax(status, observed_at), argMax(reason, observed_at), argMax(value, observed_at),
		argMax(baseline, observed_at), argMax(budget, observed_at), argMax(owner, observed_at),
		argMax(summary, observed_at), argMax(evidence_ids, observed_at), max(observed_at)
		FROM ` + b.st.Database() + `.verdicts FINAL WHERE ` + where + ` AND reason != '` + ledger.ReasonWaiverExpired + `'
		GROUP BY lens, kpi, scope`
	rows, err := b.st.Conn().Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("verdict items: %w", err)
	}
	defer rows.Close()
	var items []Item
	for rows.Next() {
		var it Item
		var reason string
		var baseline float64
		if err := rows.Scan(&it.Lens, &it.Key, &it.Scope, &it.Service, &it.Journey, &it.Status, &reason, &it.Value,
			&baseline, &it.Budget, &it.Owner, &it.Title, &it.EvidenceIDs, &it.FirstSeen); err != nil {
			return nil, err
		}
		if it.Status != "fail" {
			continue
		}
		it.Kind, it.Breaks = ItemVerdict, reason
		it.Owner = owners.Of(b.pol, it.Owner, "", it.Journey, it.Service)
		it.Unowned = it.Owner == owners.Unowned
		tier, exposure, revenue := owners.Blast(b.pol, it.Journey, it.Service)
		share, _ := gapShare(it.Lens, it.Key, it.Value, baseline)
		degradation := 1.0
		if baseline != 0 {
			degradation = clamp01((it.Value - baseline) / baseline)
			if degradation <= 0 {
				degradation = clamp01((baseline - it.Value) / baseline)
			}
		}
		it.Risk = Assess(b.pol.Severity, RiskInput{TrafficShare: max(share, 0.05), Degradation: degradation, Tier: tier,
			Exposure: exposure, RevenuePerHour: revenue, DaysOpen: daysSince(it.FirstSeen, now)})
		items = append(items, it)
	}
	return items, rows.Err()
}

// detectionItems reads the trace lens's detections (N+1 queries, serial
// calls, synchronous third-party calls, slow statements) seen in the last
// week in the filter's service. They inform and block nothing themselves:
// the journey budgets they slow down do. Their likelihood is the share of
// the journey's requests they touched; their degradation the time a fix
// saves per affected request against the journey's p95 budget (1 s without one).
func (b *builder) detectionItems(ctx context.Context, f Filter, now time.Time) ([]Item, error) {
	since := now.Add(-7 * 24 * time.Hour)
	list, err := trace.Detections(ctx, b.st, f.Tenant, f.Service, since)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	requests, err := trace.Requests(ctx, b.st, f.Tenant, f.Service, since)
	if err != nil {
		return nil, err
	}
	items := make([]Item, 0, len(list))
	for _, d := range list {
		it := Item{Kind: ItemFinding, Lens: evidence.LensPerformance, Status: scan.StateOpen, Key: d.Fingerprint,
			Service: d.Service, Journey: d.Journey, Scope: d.Journey, FirstSeen: d.FirstSeen,
			Title: fmt.Sprintf("%s in %s (%s/%s)", strings.ReplaceAll(d.Type, "_", " "), d.Operation, d.Service, d.Journey)}
		share := 0.0
		if n := requests[it.Service+"\x00"+it.Journey]; n > 0 {
			share = clamp01(d.Affected / n)
		}
		budget := 1000.0
		if j, ok := b.pol.Journey(it.Journey); ok && j.P95Ms > 0 {
			budget = j.P95Ms
		}
		degradation := 0.0
		if d.Affected > 0 {
			degradation = clamp01(d.Savings / d.Affected / budget)
		}
		tier, exposure, revenue := owners.Blast(b.pol, it.Journey, it.Service)
		it.Risk = Assess(b.pol.Severity, RiskInput{TrafficShare: share, Degradation: degradation, Tier: tier, Exposure: exposure,
			RevenuePerHour: revenue, DaysOpen: daysSince(it.FirstSeen, now)})
		it.Owner = owners.Of(b.pol, "", "", it.Journey, it.Service)
		it.Unowned = it.Owner == owners.Unowned
		items = append(items, it)
	}
	return items, nil
}
