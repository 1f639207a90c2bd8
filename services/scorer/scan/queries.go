package scan

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/services/scorer/evidence"
)

// The queries other parts of the scorer ask of the scan lens's tables.

// OpenFinding is a finding not fixed in its scope, as the scorecard lists it.
type OpenFinding struct {
	Service, Tool, Fingerprint, State string
	FirstSeen                         time.Time
	Severity, Category, RuleID, Title string
	CVSS                              float64
	Aliases                           []string
	Package, Installed, Path          string
	Line                              uint32
	LastReportID                      string
	// Sources are the tools that report the finding now; Reachability is
	// what govulncheck says of it (called, imported, required, "").
	Sources      []string
	Reachability string
	// ReportIDs are the latest reports of each open source: the finding's evidence.
	ReportIDs []string
}

// OpenFindings reads the findings of the selector's scope (its commit aside)
// that are not fixed, with the reports their open sources last came from.
func OpenFindings(ctx context.Context, st *store.Store, sel evidence.Selector) ([]OpenFinding, error) {
	where, args := sel.Where(false)
	evidenceOf, err := sourceReports(ctx, st, where, args)
	if err != nil {
		return nil, err
	}
	q := `SELECT repository, service, branch, finding_key, tool, fingerprint, state, first_seen, severity, category, rule_id,
		title, cvss_score, aliases, package_name, installed_version, path, start_line, last_report_id, sources, reachability
		FROM ` + st.Database() + `.finding_lifecycle FINAL WHERE ` + where + ` AND state != '` + StateFixed + `'`
	rows, err := st.Conn().Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("finding items: %w", err)
	}
	defer rows.Close()
	var out []OpenFinding
	for rows.Next() {
		var f OpenFinding
		var repo, branch, key string
		if err := rows.Scan(&repo, &f.Service, &branch, &key, &f.Tool, &f.Fingerprint, &f.State, &f.FirstSeen, &f.Severity,
			&f.Category, &f.RuleID, &f.Title, &f.CVSS, &f.Aliases, &f.Package, &f.Installed, &f.Path, &f.Line, &f.LastReportID,
			&f.Sources, &f.Reachability); err != nil {
			return nil, err
		}
		if len(f.Sources) == 0 { // stored before findings had sources
			f.Sources = []string{f.Tool}
		}
		f.ReportIDs = union([]string{f.LastReportID}, evidenceOf[repo+"\x00"+f.Service+"\x00"+branch+"\x00"+key])
		out = append(out, f)
	}
	return out, rows.Err()
}

// sourceReports are the last reports of the open sources of each finding
// matching where, by repository, service, branch and key.
func sourceReports(ctx context.Context, st *store.Store, where string, args []any) (map[string][]string, error) {
	rows, err := st.Conn().Query(ctx, `SELECT repository, service, branch, finding_key, groupUniqArray(last_report_id)
		FROM `+st.Database()+`.finding_sources FINAL WHERE `+where+` AND state != '`+StateFixed+`'
		GROUP BY repository, service, branch, finding_key`, args...)
	if err != nil {
		return nil, fmt.Errorf("finding sources: %w", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var repo, service, branch, key string
		var ids []string
		if err := rows.Scan(&repo, &service, &branch, &key, &ids); err != nil {
			return nil, err
		}
		slices.Sort(ids)
		out[repo+"\x00"+service+"\x00"+branch+"\x00"+key] = ids
	}
	return out, rows.Err()
}

// Exploits looks CVEs up in the loaded KEV (date added) and EPSS catalogues.
func Exploits(ctx context.Context, st *store.Store, cves []string) (map[string]time.Time, map[string]float64, error) {
	kev, epss := map[string]time.Time{}, map[string]float64{}
	if len(cves) == 0 {
		return kev, epss, nil
	}
	conn, db := st.Conn(), st.Database()
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

// Scored are the reports among ids whose lifecycle has been applied.
func Scored(ctx context.Context, st *store.Store, tenant string, ids []string) ([]string, error) {
	rows, err := st.Conn().Query(ctx, `SELECT DISTINCT report_id FROM `+st.Database()+`.scan_reports_scored FINAL
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

// Counts are the open findings of a scope the security gates count.
type Counts struct {
	// NewCritical are critical and new or reopened; CriticalOld and HighOld
	// first seen before the ages the gates allow.
	NewCritical, CriticalOld, HighOld, Secrets, Open uint64
}

// GateCounts counts the open findings of one scope (tenant, repository,
// service, branch) against the security gates: critical ones first seen
// before criticalBefore, high ones before highBefore.
func GateCounts(ctx context.Context, st *store.Store, tenant, repo, service, branch string, criticalBefore, highBefore time.Time) (Counts, error) {
	var c Counts
	err := st.Conn().QueryRow(ctx, `SELECT
		countIf(severity = 'critical' AND state IN ('`+StateNew+`', '`+StateReopened+`')),
		countIf(severity = 'critical' AND first_seen < ?), countIf(severity = 'high' AND first_seen < ?),
		countIf(category = 'secret'), count()
		FROM `+st.Database()+`.finding_lifecycle FINAL
		WHERE tenant = ? AND repository = ? AND service = ? AND branch = ? AND state != '`+StateFixed+`'`,
		criticalBefore, highBefore, tenant, repo, service, branch,
	).Scan(&c.NewCritical, &c.CriticalOld, &c.HighOld, &c.Secrets, &c.Open)
	return c, err
}

// FixedVulnerability is a vulnerability finding fixed wherever it was found
// in a service: every branch that had it has it fixed.
type FixedVulnerability struct {
	Service string
	// Key is the finding key, vuln|<id>|<package>|<version>|<location>.
	Key          string
	FixedVersion string
	// FixedAt is when the last branch that had it fixed it.
	FixedAt time.Time
}

// FixedVulnerabilities reads the tenant's vulnerability findings that no
// branch of any repository of their service still has open, by service and key.
func FixedVulnerabilities(ctx context.Context, st *store.Store, tenant string) ([]FixedVulnerability, error) {
	rows, err := st.Conn().Query(ctx, `SELECT service, finding_key, max(fixed_at), max(fixed_version)
		FROM `+st.Database()+`.finding_lifecycle FINAL
		WHERE tenant = ? AND category = 'vulnerability' AND finding_key LIKE 'vuln|%'
		GROUP BY service, finding_key
		HAVING countIf(state != '`+StateFixed+`') = 0
		ORDER BY service, finding_key`, tenant)
	if err != nil {
		return nil, fmt.Errorf("fixed vulnerabilities of %s: %w", tenant, err)
	}
	defer rows.Close()
	var out []FixedVulnerability
	for rows.Next() {
		var f FixedVulnerability
		if err := rows.Scan(&f.Service, &f.Key, &f.FixedAt, &f.FixedVersion); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}
