// Package scan is the scan lens: it stores each scan report's parts and
// findings, moves findings through their lifecycle (new, open, fixed,
// reopened) once a report is complete, loads the KEV and EPSS catalogues,
// serves the scan scorecard, and answers the queries the scorecard asks of
// findings (open findings, exploit standing, gate counts).
package scan

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/trilens/trilens/pkg/store"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	scanv1 "github.com/trilens/trilens/proto/trilens/scan/v1"
	"github.com/trilens/trilens/services/scorer/evidence"
)

// Lifecycle states of a finding in a scope (tenant, repository, service, branch, tool).
const (
	StateNew      = "new"      // first seen in the latest complete report
	StateOpen     = "open"     // seen before and still present
	StateFixed    = "fixed"    // absent from a later complete report of the same tool and scope
	StateReopened = "reopened" // fixed before, present again in the latest report
)

// Lifecycle stores each scan report's parts and findings and, once a
// report has all its parts, moves the findings of its scope through their
// lifecycle. Applying the same report twice gives the same rows, and a
// report older than the state it would change is ignored, so replays and
// late deliveries change nothing.
type Lifecycle struct {
	st  *store.Store
	log *slog.Logger
	now func() time.Time
}

// New moves the findings of set's store through their lifecycle.
func New(set evidence.Settings) *Lifecycle {
	return &Lifecycle{st: set.Store, log: set.Logger, now: set.Now}
}

func (p *Lifecycle) Name() string { return "scan_lifecycle" }

// never stands for "not yet" in DateTime columns, which cannot hold Go's zero time.
var never = time.Unix(0, 0).UTC()

type reportKey struct{ tenant, id string }

func (p *Lifecycle) Process(ctx context.Context, evs []*eventv1.Event) error {
	var parts scanPartRows
	var fs scanFindingRows
	var touched []reportKey
	for _, ev := range evs {
		batch := ev.GetScan()
		env := ev.GetEnvelope()
		if batch == nil || env.GetPart().GetReportId() == "" {
			continue
		}
		sub, part := env.GetSubject(), env.GetPart()
		observed := env.GetObservedAt().AsTime().UTC()
		k := reportKey{env.GetTenant(), part.GetReportId()}
		if !slices.Contains(touched, k) {
			touched = append(touched, k)
		}
		parts.tenant = append(parts.tenant, k.tenant)
		parts.reportID = append(parts.reportID, k.id)
		parts.partIndex = append(parts.partIndex, part.GetIndex())
		parts.partCount = append(parts.partCount, part.GetCount())
		parts.tool = append(parts.tool, batch.GetTool())
		parts.toolVersion = append(parts.toolVersion, batch.GetToolVersion())
		parts.format = append(parts.format, batch.GetFormat())
		parts.repository = append(parts.repository, sub.GetRepository())
		parts.service = append(parts.service, sub.GetService())
		parts.branch = append(parts.branch, sub.GetBranch())
		parts.base = append(parts.base, sub.GetBaseBranch())
		parts.commit = append(parts.commit, sub.GetCommit())
		parts.observedAt = append(parts.observedAt, observed)
		parts.findings = append(parts.findings, uint32(len(batch.GetFindings())))
		for _, f := range batch.GetFindings() {
			fs.tenant = append(fs.tenant, k.tenant)
			fs.reportID = append(fs.reportID, k.id)
			fs.partIndex = append(fs.partIndex, part.GetIndex())
			fs.fingerprint = append(fs.fingerprint, f.GetFingerprint())
			fs.tool = append(fs.tool, batch.GetTool())
			fs.severity = append(fs.severity, severityName(f.GetSeverity()))
			fs.category = append(fs.category, categoryName(f.GetCategory()))
			fs.ruleID = append(fs.ruleID, f.GetRuleId())
			fs.title = append(fs.title, f.GetTitle())
			fs.cvss = append(fs.cvss, f.GetCvssScore())
			fs.aliases = append(fs.aliases, evidence.NonNil(f.GetAliases()))
			fs.cwes = append(fs.cwes, evidence.NonNil(f.GetCwes()))
			fs.pkg = append(fs.pkg, f.GetPackageName())
			fs.installed = append(fs.installed, f.GetInstalledVersion())
			fs.fixed = append(fs.fixed, f.GetFixedVersion())
			fs.path = append(fs.path, f.GetPath())
			fs.line = append(fs.line, f.GetStartLine())
			fs.observedAt = append(fs.observedAt, observed)
		}
	}
	if len(touched) == 0 {
		return nil
	}
	// Findings before parts: once a report's last part is visible, whoever
	// sees it complete must find all its findings (Insert writes tables concurrently).
	if err := p.st.Insert(ctx, &fs); err != nil {
		return err
	}
	if err := p.st.Insert(ctx, &parts); err != nil {
		return err
	}
	for _, k := range touched {
		if err := p.apply(ctx, k); err != nil {
			return fmt.Errorf("scan report %s: %w", k.id, err)
		}
	}
	return nil
}

// reportMeta is what the parts of a report say about it.
type reportMeta struct {
	seen, count                 uint32
	repository, service, branch string
	observed                    time.Time
	tools                       []string
}

func (p *Lifecycle) meta(ctx context.Context, k reportKey) (*reportMeta, error) {
	db := p.st.Database()
	rows, err := p.st.Conn().Query(ctx, `SELECT part_index, part_count, tool, repository, service, branch, observed_at
		FROM `+db+`.scan_report_parts FINAL WHERE tenant = ? AND report_id = ?`, k.tenant, k.id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := &reportMeta{}
	seen := map[uint32]bool{}
	for rows.Next() {
		var idx, count uint32
		var tool string
		if err := rows.Scan(&idx, &count, &tool, &m.repository, &m.service, &m.branch, &m.observed); err != nil {
			return nil, err
		}
		seen[idx], m.count = true, count
		if !slices.Contains(m.tools, tool) {
			m.tools = append(m.tools, tool)
		}
	}
	m.seen = uint32(len(seen))
	return m, rows.Err()
}

// apply moves the findings of a complete report's scope through their lifecycle.
func (p *Lifecycle) apply(ctx context.Context, k reportKey) error {
	m, err := p.meta(ctx, k)
	if err != nil {
		return err
	}
	if m.count == 0 || m.seen < m.count {
		return nil // parts still missing; the batch that brings the last one applies it
	}
	current, err := p.reportFindings(ctx, k)
	if err != nil {
		return err
	}
	var out lifecycleRows
	for _, tool := range m.tools {
		prev, err := p.lifecycle(ctx, k.tenant, m.repository, m.service, m.branch, tool)
		if err != nil {
			return err
		}
		out.rows = append(out.rows, transition(k, m, tool, prev, current[tool])...)
	}
	scored := &evidence.RowTable{Table: "scan_reports_scored", Cols: []string{"tenant", "report_id", "scored_at"},
		Rows: [][]any{{k.tenant, k.id, p.now().UTC()}}}
	// The lifecycle before the mark the gate waits for.
	if err := p.st.Insert(ctx, &out); err != nil {
		return err
	}
	return p.st.Insert(ctx, scored)
}

// transition computes the rows a report changes: its findings become new,
// open or reopened; findings of the scope it no longer has become fixed.
// Rows already at this report are left alone, and a report older than the
// scope's latest changes nothing.
func transition(k reportKey, m *reportMeta, tool string, prev map[string]*lifecycleRow, current []lifecycleRow) []lifecycleRow {
	for _, old := range prev {
		if old.ReportAt.After(m.observed) {
			return nil // a newer report of this tool already set the scope's state
		}
	}
	var out []lifecycleRow
	present := map[string]bool{}
	for _, cur := range current {
		present[cur.Fingerprint] = true
		r := cur
		r.Tenant, r.Repository, r.Service, r.Branch, r.Tool = k.tenant, m.repository, m.service, m.branch, tool
		r.LastReportID, r.ReportAt, r.LastSeen = k.id, m.observed, m.observed
		old, ok := prev[cur.Fingerprint]
		switch {
		case !ok:
			r.State, r.FirstSeen = StateNew, m.observed
		case old.LastReportID == k.id:
			continue
		case old.State == StateFixed:
			r.State, r.FirstSeen, r.ReopenedAt, r.ReopenCount = StateReopened, old.FirstSeen, m.observed, old.ReopenCount+1
			r.FixedAt = old.FixedAt
		default:
			r.State, r.FirstSeen, r.ReopenedAt, r.ReopenCount = StateOpen, old.FirstSeen, old.ReopenedAt, old.ReopenCount
		}
		if r.FixedAt.IsZero() {
			r.FixedAt = never
		}
		if r.ReopenedAt.IsZero() {
			r.ReopenedAt = never
		}
		out = append(out, r)
	}
	for fp, old := range prev {
		if present[fp] || old.State == StateFixed || old.LastReportID == k.id {
			continue
		}
		r := *old
		r.State, r.FixedAt, r.LastReportID, r.ReportAt = StateFixed, m.observed, k.id, m.observed
		out = append(out, r)
	}
	return out
}

// reportFindings reads a report's findings by tool.
func (p *Lifecycle) reportFindings(ctx context.Context, k reportKey) (map[string][]lifecycleRow, error) {
	rows, err := p.st.Conn().Query(ctx, `SELECT fingerprint, tool, severity, category, rule_id, title, cvss_score, aliases,
		package_name, installed_version, fixed_version, path, start_line
		FROM `+p.st.Database()+`.scan_report_findings FINAL WHERE tenant = ? AND report_id = ?
		ORDER BY tool, fingerprint, part_index`, k.tenant, k.id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]lifecycleRow{}
	last := ""
	for rows.Next() {
		var r lifecycleRow
		if err := rows.Scan(&r.Fingerprint, &r.Tool, &r.Severity, &r.Category, &r.RuleID, &r.Title, &r.CVSS, &r.Aliases,
			&r.Package, &r.Installed, &r.Fixed, &r.Path, &r.Line); err != nil {
			return nil, err
		}
		if r.Tool+"\x00"+r.Fingerprint == last {
			continue // the same finding in two parts counts once
		}
		last = r.Tool + "\x00" + r.Fingerprint
		out[r.Tool] = append(out[r.Tool], r)
	}
	return out, rows.Err()
}

// lifecycle reads the current state of a scope's findings of one tool.
func (p *Lifecycle) lifecycle(ctx context.Context, tenant, repo, service, branch, tool string) (map[string]*lifecycleRow, error) {
	rows, err := p.st.Conn().Query(ctx, `SELECT `+strings.Join(lifecycleColumns, ", ")+`
		FROM `+p.st.Database()+`.finding_lifecycle FINAL
		WHERE tenant = ? AND repository = ? AND service = ? AND branch = ? AND tool = ?`, tenant, repo, service, branch, tool)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]*lifecycleRow{}
	for rows.Next() {
		r := &lifecycleRow{}
		if err := rows.Scan(r.dest()...); err != nil {
			return nil, err
		}
		out[r.Fingerprint] = r
	}
	return out, rows.Err()
}

func severityName(s scanv1.Severity) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "SEVERITY_"))
}

func categoryName(c scanv1.Category) string {
	return strings.ToLower(strings.TrimPrefix(c.String(), "CATEGORY_"))
}
