package scan

import (
	"context"
	"slices"
	"strings"

	"github.com/trilens/trilens/services/scorer/evidence"
)

// scorecard compares the findings of reports ids (else the latest report of
// each tool for commit) with the open findings of base.
func (p *Lifecycle) scorecard(ctx context.Context, tenant string, ids []string, repo, service, commit, base string) (*Scorecard, error) {
	if len(ids) == 0 {
		var err error
		if ids, err = p.latestReports(ctx, tenant, repo, service, commit); err != nil {
			return nil, err
		}
	}
	card := &Scorecard{Scored: len(ids) > 0, Reports: []Report{}, Findings: []Finding{}}
	sc, err := p.reportStates(ctx, card, tenant, ids, scope{repo: repo, service: service})
	if err != nil {
		return nil, err
	}
	if !card.Scored {
		return card, nil
	}
	head, err := p.headFindings(ctx, tenant, ids)
	if err != nil {
		return nil, err
	}
	headState, err := p.branchState(ctx, tenant, sc.repo, sc.service, sc.branch)
	if err != nil {
		return nil, err
	}
	var baseState *branchState
	if base != "" && base != sc.branch {
		if baseState, err = p.branchState(ctx, tenant, sc.repo, sc.service, base); err != nil {
			return nil, err
		}
	}
	card.Findings = append(card.Findings, compare(head, headState, baseState, ids, card.Reports)...)
	if err := p.exploitInfo(ctx, card.Findings); err != nil {
		return nil, err
	}
	slices.SortFunc(card.Findings, func(a, b Finding) int {
		return strings.Compare(a.Status+a.Tool+a.Key, b.Status+b.Tool+b.Key)
	})
	return card, nil
}

// scope is where a commit's reports are scored: repository, service, branch.
type scope struct{ repo, service, branch string }

// latestReports are the newest report of each tool and scope for a commit.
func (p *Lifecycle) latestReports(ctx context.Context, tenant, repo, service, commit string) ([]string, error) {
	rows, err := p.st.Conn().Query(ctx, `SELECT tool, scope, argMax(report_id, observed_at) FROM `+p.st.Database()+`.scan_report_parts FINAL
		WHERE tenant = ? AND repository = ? AND service = ? AND commit = ? GROUP BY tool, scope`, tenant, repo, service, commit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var tool, sc, id string
		if err := rows.Scan(&tool, &sc, &id); err != nil {
			return nil, err
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, rows.Err()
}

// reportStates adds each report's scoring state to the card; the scope is
// that of the reports (sc until one with parts says otherwise).
func (p *Lifecycle) reportStates(ctx context.Context, card *Scorecard, tenant string, ids []string, sc scope) (scope, error) {
	conn, db := p.st.Conn(), p.st.Database()
	for _, id := range ids {
		m, err := p.meta(ctx, reportKey{tenant, id})
		if err != nil {
			return sc, err
		}
		var n uint64
		if err := conn.QueryRow(ctx, `SELECT count() FROM `+db+`.scan_reports_scored FINAL WHERE tenant = ? AND report_id = ?`, tenant, id).Scan(&n); err != nil {
			return sc, err
		}
		rep := Report{ReportID: id, Tools: m.tools, Parts: m.seen, PartCount: m.count, Scored: n > 0, Runs: []Run{}}
		if rep.Tools == nil {
			rep.Tools = []string{}
		}
		for _, r := range m.runs {
			rep.Runs = append(rep.Runs, Run{Tool: r.tool, Scope: r.scope, Failed: r.failed})
		}
		card.Reports = append(card.Reports, rep)
		card.Scored = card.Scored && rep.Scored
		if m.count > 0 {
			sc = scope{m.repository, m.service, m.branch}
		}
	}
	return sc, nil
}

// headFindings is every finding of the reports by key, the tools that
// report it as its sources.
func (p *Lifecycle) headFindings(ctx context.Context, tenant string, ids []string) (map[string]*lifecycleRow, error) {
	head := map[string]*lifecycleRow{}
	for _, id := range ids {
		fs, err := p.reportFindings(ctx, reportKey{tenant, id})
		if err != nil {
			return nil, err
		}
		for i := range fs {
			f := &fs[i]
			if h, ok := head[f.Key]; ok {
				h.Sources, h.Aliases = union(h.Sources, []string{f.Tool}), union(h.Aliases, f.Aliases)
				continue
			}
			f.Sources = []string{f.Tool}
			head[f.Key] = f
		}
	}
	return head, nil
}

// compare gives each head finding its status against the base (new or
// open), or against the head branch's lifecycle without a base, and adds
// the fixed ones: open on the base, absent from the head and reported there
// only by runs (tool and scope) these reports repeat without failing; or
// fixed by these reports.
func compare(head map[string]*lifecycleRow, headState, baseState *branchState, ids []string, reports []Report) []Finding {
	var out []Finding
	for key, f := range head {
		sf := scanFinding(f)
		hs := headState.findings[key]
		if hs != nil {
			sf.FirstSeen, sf.Tool = hs.FirstSeen, hs.Tool
		}
		switch {
		case baseState != nil:
			sf.Status = StateNew
			if bs, ok := baseState.findings[key]; ok && bs.State != StateFixed {
				sf.Status = StateOpen
				if sf.FirstSeen.IsZero() || bs.FirstSeen.Before(sf.FirstSeen) {
					sf.FirstSeen = bs.FirstSeen
				}
			}
		case hs != nil && (hs.State == StateNew || hs.State == StateReopened) && slices.Contains(ids, hs.LastReportID):
			sf.Status = StateNew
		default:
			sf.Status = StateOpen
		}
		out = append(out, sf)
	}
	if baseState != nil {
		return append(out, fixedOnBase(head, baseState, reports)...)
	}
	for _, hs := range headState.findings {
		if hs.State == StateFixed && slices.Contains(ids, hs.LastReportID) {
			sf := scanFinding(hs)
			sf.Status, sf.FirstSeen = StateFixed, hs.FirstSeen
			out = append(out, sf)
		}
	}
	return out
}

// fixedOnBase are the base's open findings the head reports no longer have,
// when every open source of each is a run the reports repeat without failing.
func fixedOnBase(head map[string]*lifecycleRow, base *branchState, reports []Report) []Finding {
	var runs []run
	for _, rep := range reports {
		for _, r := range rep.Runs {
			if !r.Failed {
				runs = append(runs, run{tool: r.Tool, scope: r.Scope})
			}
		}
	}
	unsure := map[string]bool{}
	for _, s := range base.sources {
		if s.State != StateFixed && !slices.ContainsFunc(runs, func(r run) bool { return r.covers(s.Tool, s.Scope) }) {
			unsure[s.Key] = true
		}
	}
	var out []Finding
	for key, bs := range base.findings {
		if _, ok := head[key]; !ok && bs.State != StateFixed && !unsure[key] {
			sf := scanFinding(bs)
			sf.Status, sf.FirstSeen = StateFixed, bs.FirstSeen
			out = append(out, sf)
		}
	}
	return out
}

func scanFinding(r *lifecycleRow) Finding {
	return Finding{Fingerprint: r.Fingerprint, Key: r.Key, Tool: r.Tool, Sources: evidence.NonNil(r.Sources),
		Reachability: r.Reachability, Severity: r.Severity, Category: r.Category,
		RuleID: r.RuleID, Title: r.Title, Aliases: r.Aliases, Package: r.Package, InstalledVersion: r.Installed,
		FixedVersion: r.Fixed, Path: r.Path, Line: r.Line}
}

// exploitInfo marks findings whose CVE aliases are in the loaded KEV and EPSS catalogues.
func (p *Lifecycle) exploitInfo(ctx context.Context, fs []Finding) error {
	var cves []string
	for _, f := range fs {
		for _, a := range f.Aliases {
			if strings.HasPrefix(a, "CVE-") && !slices.Contains(cves, a) {
				cves = append(cves, a)
			}
		}
	}
	kev, epss, err := Exploits(ctx, p.st, cves)
	if err != nil {
		return err
	}
	for i := range fs {
		for _, a := range fs[i].Aliases {
			if added, ok := kev[a]; ok {
				fs[i].KEV, fs[i].KEVAdded = true, added
			}
			fs[i].EPSS = max(fs[i].EPSS, epss[a])
		}
	}
	return nil
}
