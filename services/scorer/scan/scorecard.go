package scan

import (
	"context"
	"slices"
	"strings"
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
	head, tools, err := p.headFindings(ctx, tenant, ids, card.Reports)
	if err != nil {
		return nil, err
	}
	compareBase := base != "" && base != sc.branch
	headState, baseState, err := p.states(ctx, tenant, sc, base, compareBase, tools)
	if err != nil {
		return nil, err
	}
	card.Findings = append(card.Findings, compare(head, headState, baseState, ids, compareBase)...)
	if err := p.exploitInfo(ctx, card.Findings); err != nil {
		return nil, err
	}
	slices.SortFunc(card.Findings, func(a, b Finding) int {
		return strings.Compare(a.Status+a.Tool+a.Fingerprint, b.Status+b.Tool+b.Fingerprint)
	})
	return card, nil
}

// scope is where a commit's reports are scored: repository, service, branch.
type scope struct{ repo, service, branch string }

// latestReports are the newest report of each tool for a commit.
func (p *Lifecycle) latestReports(ctx context.Context, tenant, repo, service, commit string) ([]string, error) {
	rows, err := p.st.Conn().Query(ctx, `SELECT tool, argMax(report_id, observed_at) FROM `+p.st.Database()+`.scan_report_parts FINAL
		WHERE tenant = ? AND repository = ? AND service = ? AND commit = ? GROUP BY tool`, tenant, repo, service, commit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var tool, id string
		if err := rows.Scan(&tool, &id); err != nil {
			return nil, err
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
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
		rep := Report{ReportID: id, Tools: m.tools, Parts: m.seen, PartCount: m.count, Scored: n > 0}
		if rep.Tools == nil {
			rep.Tools = []string{}
		}
		card.Reports = append(card.Reports, rep)
		card.Scored = card.Scored && rep.Scored
		if m.count > 0 {
			sc = scope{m.repository, m.service, m.branch}
		}
	}
	return sc, nil
}

// headFindings is every finding of the reports, by tool and fingerprint,
// and the tools that found them.
func (p *Lifecycle) headFindings(ctx context.Context, tenant string, ids []string, reports []Report) (map[string]*lifecycleRow, []string, error) {
	head := map[string]*lifecycleRow{}
	var tools []string
	for _, id := range ids {
		fs, err := p.reportFindings(ctx, reportKey{tenant, id})
		if err != nil {
			return nil, nil, err
		}
		for tool, list := range fs {
			for i := range list {
				head[tool+"\x00"+list[i].Fingerprint] = &list[i]
			}
		}
		for _, rep := range reports {
			if rep.ReportID == id {
				for _, t := range rep.Tools {
					if !slices.Contains(tools, t) {
						tools = append(tools, t)
					}
				}
			}
		}
	}
	return head, tools, nil
}

// states reads the lifecycle of the tools' findings on the head branch and,
// when compared, those not fixed on the base branch.
func (p *Lifecycle) states(ctx context.Context, tenant string, sc scope, base string, compareBase bool, tools []string) (head, open map[string]*lifecycleRow, err error) {
	head, open = map[string]*lifecycleRow{}, map[string]*lifecycleRow{}
	for _, tool := range tools {
		hs, err := p.lifecycle(ctx, tenant, sc.repo, sc.service, sc.branch, tool)
		if err != nil {
			return nil, nil, err
		}
		for fp, r := range hs {
			head[tool+"\x00"+fp] = r
		}
		if !compareBase {
			continue
		}
		bs, err := p.lifecycle(ctx, tenant, sc.repo, sc.service, base, tool)
		if err != nil {
			return nil, nil, err
		}
		for fp, r := range bs {
			if r.State != StateFixed {
				open[tool+"\x00"+fp] = r
			}
		}
	}
	return head, open, nil
}

// compare gives each head finding its status against the base (new or
// open), or against the head branch's lifecycle without a base, and adds
// the fixed ones: open on the base and absent from the head, or fixed by
// these reports.
func compare(head, headState, baseState map[string]*lifecycleRow, ids []string, compareBase bool) []Finding {
	var out []Finding
	for key, f := range head {
		sf := scanFinding(f)
		hs := headState[key]
		if hs != nil {
			sf.FirstSeen = hs.FirstSeen
		}
		if compareBase {
			sf.Status = StateNew
			if bs, ok := baseState[key]; ok {
				sf.Status = StateOpen
				if sf.FirstSeen.IsZero() || bs.FirstSeen.Before(sf.FirstSeen) {
					sf.FirstSeen = bs.FirstSeen
				}
			}
		} else {
			sf.Status = StateOpen
			if hs != nil && (hs.State == StateNew || hs.State == StateReopened) && slices.Contains(ids, hs.LastReportID) {
				sf.Status = StateNew
			}
		}
		out = append(out, sf)
	}
	if compareBase {
		for key, bs := range baseState {
			if _, ok := head[key]; !ok {
				sf := scanFinding(bs)
				sf.Status, sf.FirstSeen = StateFixed, bs.FirstSeen
				out = append(out, sf)
			}
		}
		return out
	}
	for _, hs := range headState {
		if hs.State == StateFixed && slices.Contains(ids, hs.LastReportID) {
			sf := scanFinding(hs)
			sf.Status, sf.FirstSeen = StateFixed, hs.FirstSeen
			out = append(out, sf)
		}
	}
	return out
}

func scanFinding(r *lifecycleRow) Finding {
	return Finding{Fingerprint: r.Fingerprint, Tool: r.Tool, Severity: r.Severity, Category: r.Category,
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
