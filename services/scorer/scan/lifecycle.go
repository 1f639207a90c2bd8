// Package scan is the scan lens: it stores each scan report's parts and
// findings, moves findings through their lifecycle (new, open, fixed,
// reopened) once a report is complete, loads the KEV and EPSS catalogues,
// serves the scan scorecard, and answers the queries the scorecard asks of
// findings (open findings, exploit standing, gate counts).
package scan

import (
	"cmp"
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

// Lifecycle states of a finding, and of each of its sources (a tool's
// finding in one scope of that tool's reports).
const (
	StateNew      = "new"      // first seen in the latest complete report
	StateOpen     = "open"     // seen before and still present
	StateFixed    = "fixed"    // absent from a later complete report of every source's tool and scope
	StateReopened = "reopened" // fixed before, present again in the latest report
)

// Lifecycle stores each scan report's parts and findings and, once a
// report has all its parts, moves the findings of its repository, service
// and branch through their lifecycle. A report speaks for its own tool and
// scope (what the run covered), and marks nothing fixed when its run
// failed; a finding several tools report is one finding with a source per
// tool and scope, fixed once every source is. Applying the same report
// twice gives the same rows, and a report older than the state of its tool
// and scope is ignored, so replays and late deliveries change nothing.
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
		k := reportKey{env.GetTenant(), env.GetPart().GetReportId()}
		if !slices.Contains(touched, k) {
			touched = append(touched, k)
		}
		parts.add(k, env, batch)
		for _, f := range batch.GetFindings() {
			fs.add(k, env, batch, f)
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

func (r *scanPartRows) add(k reportKey, env *eventv1.Envelope, b *scanv1.FindingBatch) {
	sub, part, sc := env.GetSubject(), env.GetPart(), b.GetScope()
	r.tenant = append(r.tenant, k.tenant)
	r.reportID = append(r.reportID, k.id)
	r.partIndex = append(r.partIndex, part.GetIndex())
	r.partCount = append(r.partCount, part.GetCount())
	r.tool = append(r.tool, b.GetTool())
	r.toolVersion = append(r.toolVersion, b.GetToolVersion())
	r.format = append(r.format, b.GetFormat())
	r.repository = append(r.repository, sub.GetRepository())
	r.service = append(r.service, sub.GetService())
	r.branch = append(r.branch, sub.GetBranch())
	r.base = append(r.base, sub.GetBaseBranch())
	r.commit = append(r.commit, sub.GetCommit())
	r.observedAt = append(r.observedAt, env.GetObservedAt().AsTime().UTC())
	r.findings = append(r.findings, uint32(len(b.GetFindings())))
	r.scope = append(r.scope, ScopeKey(sc))
	r.root = append(r.root, sc.GetRoot())
	r.language = append(r.language, sc.GetLanguage())
	r.target = append(r.target, sc.GetTarget())
	r.automation = append(r.automation, sc.GetAutomationId())
	r.runFailed = append(r.runFailed, boolByte(b.GetRunFailed()))
	r.runError = append(r.runError, b.GetRunError())
}

func (r *scanFindingRows) add(k reportKey, env *eventv1.Envelope, b *scanv1.FindingBatch, f *scanv1.Finding) {
	category := categoryName(f.GetCategory())
	r.tenant = append(r.tenant, k.tenant)
	r.reportID = append(r.reportID, k.id)
	r.partIndex = append(r.partIndex, env.GetPart().GetIndex())
	r.fingerprint = append(r.fingerprint, f.GetFingerprint())
	r.tool = append(r.tool, b.GetTool())
	r.severity = append(r.severity, severityName(f.GetSeverity()))
	r.category = append(r.category, category)
	r.ruleID = append(r.ruleID, f.GetRuleId())
	r.title = append(r.title, f.GetTitle())
	r.cvss = append(r.cvss, f.GetCvssScore())
	r.aliases = append(r.aliases, evidence.NonNil(f.GetAliases()))
	r.cwes = append(r.cwes, evidence.NonNil(f.GetCwes()))
	r.pkg = append(r.pkg, f.GetPackageName())
	r.installed = append(r.installed, f.GetInstalledVersion())
	r.fixed = append(r.fixed, f.GetFixedVersion())
	r.path = append(r.path, f.GetPath())
	r.line = append(r.line, f.GetStartLine())
	r.observedAt = append(r.observedAt, env.GetObservedAt().AsTime().UTC())
	r.scope = append(r.scope, ScopeKey(b.GetScope()))
	r.reachability = append(r.reachability, evidence.EnumName(f.GetReachability(), "REACHABILITY_"))
	r.key = append(r.key, FindingKey(b.GetTool(), ScopeKey(b.GetScope()), b.GetScope().GetRoot(), f.GetFingerprint(), category, f.GetRuleId(), f.GetAliases(),
		f.GetPackageName(), f.GetInstalledVersion(), f.GetPath(), f.GetStartLine()))
}

// ScopeKey names what a run covered, "" when the report does not say: the
// findings of one tool in one scope are the state a report of that tool
// and scope replaces.
func ScopeKey(s *scanv1.ReportScope) string {
	var parts []string
	for _, kv := range [][2]string{{"root", s.GetRoot()}, {"language", s.GetLanguage()}, {"target", s.GetTarget()},
		{"automation", s.GetAutomationId()}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	return strings.Join(parts, " ")
}

// reportMeta is what the parts of a report say about it.
type reportMeta struct {
	seen, count                 uint32
	repository, service, branch string
	observed                    time.Time
	tools                       []string
	runs                        []run
}

// run is one tool's run in a report: the tool, what it covered, whether it failed.
type run struct {
	tool, scope string
	failed      bool
}

func (p *Lifecycle) meta(ctx context.Context, k reportKey) (*reportMeta, error) {
	db := p.st.Database()
	rows, err := p.st.Conn().Query(ctx, `SELECT part_index, part_count, tool, repository, service, branch, observed_at, scope, run_failed
		FROM `+db+`.scan_report_parts FINAL WHERE tenant = ? AND report_id = ? ORDER BY part_index`, k.tenant, k.id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := &reportMeta{}
	seen := map[uint32]bool{}
	for rows.Next() {
		var idx, count uint32
		var r run
		var failed uint8
		if err := rows.Scan(&idx, &count, &r.tool, &m.repository, &m.service, &m.branch, &m.observed, &r.scope, &failed); err != nil {
			return nil, err
		}
		seen[idx], m.count = true, count
		if !slices.Contains(m.tools, r.tool) {
			m.tools = append(m.tools, r.tool)
		}
		i := slices.IndexFunc(m.runs, func(x run) bool { return x.tool == r.tool && x.scope == r.scope })
		if i < 0 {
			m.runs, i = append(m.runs, r), len(m.runs)
		}
		m.runs[i].failed = m.runs[i].failed || failed != 0
	}
	m.seen = uint32(len(seen))
	return m, rows.Err()
}

// apply moves the sources of a complete report's runs, then the findings
// they are sources of, through their lifecycle.
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
	state, err := p.branchState(ctx, k.tenant, m.repository, m.service, m.branch)
	if err != nil {
		return err
	}
	srcs := sourceRows{rows: sourceTransitions(k, m, state.sources, current)}
	out := lifecycleRows{rows: findingTransitions(k, m, state, current, srcs.rows)}
	scored := &evidence.RowTable{Table: "scan_reports_scored", Cols: []string{"tenant", "report_id", "scored_at"},
		Rows: [][]any{{k.tenant, k.id, p.now().UTC()}}}
	// Sources and findings at once (a retry rewrites both the same), and
	// both before the mark the gate waits for.
	if err := p.st.Insert(ctx, &srcs, &out); err != nil {
		return err
	}
	return p.st.Insert(ctx, scored)
}

// reportFindings reads a report's findings, each tool's finding in each
// scope once, with its key.
func (p *Lifecycle) reportFindings(ctx context.Context, k reportKey) ([]lifecycleRow, error) {
	rows, err := p.st.Conn().Query(ctx, `SELECT fingerprint, tool, scope, finding_key, severity, category, rule_id, title,
		cvss_score, aliases, package_name, installed_version, fixed_version, path, start_line, reachability
		FROM `+p.st.Database()+`.scan_report_findings FINAL WHERE tenant = ? AND report_id = ?
		ORDER BY tool, scope, fingerprint, part_index`, k.tenant, k.id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []lifecycleRow
	last := ""
	for rows.Next() {
		var r lifecycleRow
		if err := rows.Scan(&r.Fingerprint, &r.Tool, &r.Scope, &r.Key, &r.Severity, &r.Category, &r.RuleID, &r.Title, &r.CVSS,
			&r.Aliases, &r.Package, &r.Installed, &r.Fixed, &r.Path, &r.Line, &r.Reachability); err != nil {
			return nil, err
		}
		if id := r.Tool + "\x00" + r.Scope + "\x00" + r.Fingerprint; id != last {
			last = id // the same finding in two parts counts once
			r.Key = cmp.Or(r.Key, r.key())
			out = append(out, r)
		}
	}
	return out, rows.Err()
}

// key is the row's finding key, for rows stored before keys were.
func (r *lifecycleRow) key() string {
	return FindingKey(r.Tool, "", "", r.Fingerprint, r.Category, r.RuleID, r.Aliases, r.Package, r.Installed, r.Path, r.Line)
}

// branchState is the lifecycle of one repository, service and branch:
// findings by key, sources by id.
type branchState struct {
	findings map[string]*lifecycleRow
	sources  map[string]*sourceRow
}

func (p *Lifecycle) branchState(ctx context.Context, tenant, repo, service, branch string) (*branchState, error) {
	st := &branchState{findings: map[string]*lifecycleRow{}, sources: map[string]*sourceRow{}}
	db, where := p.st.Database(), ` FINAL WHERE tenant = ? AND repository = ? AND service = ? AND branch = ?`
	err := p.query(ctx, `SELECT `+strings.Join(lifecycleColumns, ", ")+` FROM `+db+`.finding_lifecycle`+where,
		[]any{tenant, repo, service, branch}, func(scan func(...any) error) error {
			r := &lifecycleRow{}
			if err := scan(r.dest()...); err != nil {
				return err
			}
			r.Key = cmp.Or(r.Key, r.key())
			st.findings[r.Key] = r
			return nil
		})
	if err != nil {
		return nil, err
	}
	keys := map[string]bool{}
	err = p.query(ctx, `SELECT `+strings.Join(sourceColumns, ", ")+` FROM `+db+`.finding_sources`+where,
		[]any{tenant, repo, service, branch}, func(scan func(...any) error) error {
			r := &sourceRow{}
			if err := scan(r.dest()...); err != nil {
				return err
			}
			st.sources[r.id()], keys[r.Key] = r, true
			return nil
		})
	for key, f := range st.findings {
		if !keys[key] { // stored before findings had sources: its tool, unscoped
			src := &sourceRow{Tenant: f.Tenant, Repository: f.Repository, Service: f.Service, Branch: f.Branch, Key: key,
				Tool: f.Tool, Fingerprint: f.Fingerprint, State: f.State, FirstSeen: f.FirstSeen, LastSeen: f.LastSeen,
				FixedAt: f.FixedAt, LastReportID: f.LastReportID, ReportAt: f.ReportAt, Severity: f.Severity, CVSS: f.CVSS}
			st.sources[src.id()] = src
		}
	}
	return st, err
}

// query runs q and calls each for every row.
func (p *Lifecycle) query(ctx context.Context, q string, args []any, each func(scan func(...any) error) error) error {
	rows, err := p.st.Conn().Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func severityName(s scanv1.Severity) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "SEVERITY_"))
}

func categoryName(c scanv1.Category) string {
	return strings.ToLower(strings.TrimPrefix(c.String(), "CATEGORY_"))
}
