package scorer

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// findingItems reads the findings open in the filter's scope from the scan
// lens's lifecycle, with their KEV and EPSS standing, and marks those that
// break a security budget of the policy (the same rules as `trilens gate`'s
// security check: no new critical, critical/high/KEV max age, secrets).
func (b *builder) findingItems(ctx context.Context, f Filter, now time.Time) ([]Item, error) {
	where, args := f.where(false)
	q := `SELECT service, tool, fingerprint, state, first_seen, severity, category, rule_id, title, cvss_score,
		aliases, package_name, installed_version, path, start_line, last_report_id
		FROM ` + b.st.Database() + `.finding_lifecycle FINAL WHERE ` + where + ` AND state != '` + StateFixed + `'`
	rows, err := b.st.Conn().Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("finding items: %w", err)
	}
	type found struct {
		it       Item
		cvss     float64
		aliases  []string
		category string
		path     string
	}
	var list []found
	var cves []string
	for rows.Next() {
		var x found
		var tool, rule, pkg, installed, report string
		var line uint32
		if err := rows.Scan(&x.it.Service, &tool, &x.it.Key, &x.it.Status, &x.it.FirstSeen, &x.it.Severity, &x.category,
			&rule, &x.it.Title, &x.cvss, &x.aliases, &pkg, &installed, &x.path, &line, &report); err != nil {
			rows.Close()
			return nil, err
		}
		x.it.Kind, x.it.Lens, x.it.EvidenceIDs = ItemFinding, LensSecurity, []string{report}
		where := x.path
		if pkg != "" {
			where = pkg + "@" + installed
		} else if line > 0 {
			where = fmt.Sprintf("%s:%d", x.path, line)
		}
		id := rule
		if len(x.aliases) > 0 {
			id = x.aliases[0]
		}
		x.it.Title = strings.TrimSpace(fmt.Sprintf("%s %s in %s (%s)", id, x.it.Title, where, tool))
		for _, a := range x.aliases {
			if strings.HasPrefix(a, "CVE-") && !slices.Contains(cves, a) {
				cves = append(cves, a)
			}
		}
		list = append(list, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	kev, epss, err := b.exploits(ctx, cves)
	if err != nil {
		return nil, err
	}
	sec := b.pol.Security
	items := make([]Item, 0, len(list))
	secrets := 0
	for _, x := range list {
		it := x.it
		in := RiskInput{CVSS: x.cvss, DaysOpen: daysSince(it.FirstSeen, now)}
		kevSince := time.Time{}
		for _, a := range x.aliases {
			if added, ok := kev[a]; ok {
				in.KEV = true
				kevSince = added
			}
			in.EPSS = max(in.EPSS, epss[a])
		}
		in.Tier, in.Exposure, in.RevenuePerHour = blastOf(b.pol, "", it.Service)
		it.Risk = Assess(b.pol.Severity, in)
		it.Owner = ownerOf(b.pol, "", x.path, "", it.Service)
		it.Unowned = it.Owner == Unowned
		age := now.Sub(it.FirstSeen)
		switch {
		case sec.NoNewCritical && it.Severity == "critical" && (it.Status == StateNew || it.Status == StateReopened):
			it.Breaks = "no_new_critical"
		case sec.CriticalMaxAge > 0 && it.Severity == "critical" && age > sec.CriticalMaxAge:
			it.Breaks = "critical_max_age"
		case sec.HighMaxAge > 0 && it.Severity == "high" && age > sec.HighMaxAge:
			it.Breaks = "high_max_age"
		case sec.KEVMaxAge > 0 && in.KEV && now.Sub(later(it.FirstSeen, kevSince)) > sec.KEVMaxAge:
			it.Breaks = "kev_max_age"
		case x.category == "secret":
			secrets++
			if secrets > sec.SecretsAllowed {
				it.Breaks = "secrets_allowed"
			}
		}
		items = append(items, it)
	}
	return items, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// exploits looks CVEs up in the loaded KEV and EPSS catalogues.
func (b *builder) exploits(ctx context.Context, cves []string) (map[string]time.Time, map[string]float64, error) {
	kev, epss := map[string]time.Time{}, map[string]float64{}
	if len(cves) == 0 {
		return kev, epss, nil
	}
	conn, db := b.st.Conn(), b.st.Database()
	rows, err := conn.Query(ctx, `SELECT cve, date_added FROM `+db+`.scan_kev FINAL WHERE has(?, cve)`, cves)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var cve string
		var added time.Time
		if err := rows.Scan(&cve, &added); err != nil {
			rows.Close()
			return nil, nil, err
		}
		kev[cve] = added
	}
	rows.Close()
	rows, err = conn.Query(ctx, `SELECT cve, epss FROM `+db+`.scan_epss FINAL WHERE has(?, cve)`, cves)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var cve string
		var v float64
		if err := rows.Scan(&cve, &v); err != nil {
			return nil, nil, err
		}
		epss[cve] = v
	}
	return kev, epss, rows.Err()
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
		FROM ` + b.st.Database() + `.verdicts FINAL WHERE ` + where + ` AND reason != '` + ReasonWaiverExpired + `'
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
		it.Owner = ownerOf(b.pol, it.Owner, "", it.Journey, it.Service)
		it.Unowned = it.Owner == Unowned
		tier, exposure, revenue := blastOf(b.pol, it.Journey, it.Service)
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
	conds, args := "tenant = ? AND last_seen >= ?", []any{f.Tenant, since}
	if f.Service != "" {
		conds, args = conds+" AND service = ?", append(args, f.Service)
	}
	db := b.st.Database()
	rows, err := b.st.Conn().Query(ctx, `SELECT service, journey, type, fingerprint, operation, first_seen, traces_affected, savings_total_ms
		FROM `+db+`.trace_findings WHERE `+conds, args...)
	if err != nil {
		return nil, fmt.Errorf("detection items: %w", err)
	}
	type detection struct {
		it               Item
		affected, saving float64
	}
	var list []detection
	for rows.Next() {
		var d detection
		var kind, op string
		if err := rows.Scan(&d.it.Service, &d.it.Journey, &kind, &d.it.Key, &op, &d.it.FirstSeen, &d.affected, &d.saving); err != nil {
			rows.Close()
			return nil, err
		}
		d.it.Kind, d.it.Lens, d.it.Status, d.it.Scope = ItemFinding, LensPerformance, StateOpen, d.it.Journey
		d.it.Title = fmt.Sprintf("%s in %s (%s/%s)", strings.ReplaceAll(kind, "_", " "), op, d.it.Service, d.it.Journey)
		list = append(list, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(list) == 0 {
		return nil, err
	}
	requests := map[string]float64{}
	rows, err = b.st.Conn().Query(ctx, `SELECT service, journey, sum(count) FROM `+db+`.journey_latency
		WHERE `+strings.Replace(conds, "last_seen", "window_start", 1)+` GROUP BY service, journey`, args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var svc, j string
		var n float64
		if err := rows.Scan(&svc, &j, &n); err != nil {
			rows.Close()
			return nil, err
		}
		requests[svc+"\x00"+j] = n
	}
	rows.Close()
	items := make([]Item, 0, len(list))
	for _, d := range list {
		it := d.it
		share := 0.0
		if n := requests[it.Service+"\x00"+it.Journey]; n > 0 {
			share = clamp01(d.affected / n)
		}
		budget := 1000.0
		if j, ok := b.pol.Journey(it.Journey); ok && j.P95Ms > 0 {
			budget = j.P95Ms
		}
		degradation := 0.0
		if d.affected > 0 {
			degradation = clamp01(d.saving / d.affected / budget)
		}
		tier, exposure, revenue := blastOf(b.pol, it.Journey, it.Service)
		it.Risk = Assess(b.pol.Severity, RiskInput{TrafficShare: share, Degradation: degradation, Tier: tier, Exposure: exposure,
			RevenuePerHour: revenue, DaysOpen: daysSince(it.FirstSeen, now)})
		it.Owner = ownerOf(b.pol, "", "", it.Journey, it.Service)
		it.Unowned = it.Owner == Unowned
		items = append(items, it)
	}
	return items, nil
}
