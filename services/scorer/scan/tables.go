package scan

import (
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Row batches of the scan lens's tables (pkg/store/migrations/0300_scan_lifecycle.sql),
// column by column like pkg/store's.

// columns appends each column slice to the batch in order, after checking
// that all have the same length.
func appendScanColumns(b driver.Batch, names []string, cols ...any) error {
	for i, c := range cols {
		if err := b.Column(i).Append(c); err != nil {
			return fmt.Errorf("column %s: %w", names[i], err)
		}
	}
	return nil
}

type scanPartRows struct {
	tenant, reportID                          []string
	partIndex, partCount                      []uint32
	tool, toolVersion, format                 []string
	repository, service, branch, base, commit []string
	observedAt                                []time.Time
	findings                                  []uint32
	scope, root, language, target, automation []string
	runFailed                                 []uint8
	runError                                  []string
}

var scanPartColumns = []string{"tenant", "report_id", "part_index", "part_count", "tool", "tool_version", "format",
	"repository", "service", "branch", "base_branch", "commit", "observed_at", "findings",
	"scope", "scope_root", "scope_language", "scope_target", "automation_id", "run_failed", "run_error"}

func (r *scanPartRows) Name() string      { return "scan_report_parts" }
func (r *scanPartRows) Columns() []string { return scanPartColumns }
func (r *scanPartRows) Len() int          { return len(r.tenant) }
func (r *scanPartRows) Reset()            { *r = scanPartRows{} }
func (r *scanPartRows) AppendTo(b driver.Batch) error {
	return appendScanColumns(b, scanPartColumns, r.tenant, r.reportID, r.partIndex, r.partCount, r.tool, r.toolVersion, r.format,
		r.repository, r.service, r.branch, r.base, r.commit, r.observedAt, r.findings,
		r.scope, r.root, r.language, r.target, r.automation, r.runFailed, r.runError)
}

type scanFindingRows struct {
	tenant, reportID                              []string
	partIndex                                     []uint32
	fingerprint, tool, severity, category, ruleID []string
	title                                         []string
	cvss                                          []float64
	aliases, cwes                                 [][]string
	pkg, installed, fixed, path                   []string
	line                                          []uint32
	observedAt                                    []time.Time
	scope, reachability, key                      []string
}

var scanFindingColumns = []string{"tenant", "report_id", "part_index", "fingerprint", "tool", "severity", "category", "rule_id",
	"title", "cvss_score", "aliases", "cwes", "package_name", "installed_version", "fixed_version", "path", "start_line", "observed_at",
	"scope", "reachability", "finding_key"}

func (r *scanFindingRows) Name() string      { return "scan_report_findings" }
func (r *scanFindingRows) Columns() []string { return scanFindingColumns }
func (r *scanFindingRows) Len() int          { return len(r.tenant) }
func (r *scanFindingRows) Reset()            { *r = scanFindingRows{} }
func (r *scanFindingRows) AppendTo(b driver.Batch) error {
	return appendScanColumns(b, scanFindingColumns, r.tenant, r.reportID, r.partIndex, r.fingerprint, r.tool, r.severity, r.category, r.ruleID,
		r.title, r.cvss, r.aliases, r.cwes, r.pkg, r.installed, r.fixed, r.path, r.line, r.observedAt,
		r.scope, r.reachability, r.key)
}

// lifecycleRow is the state of one finding (one real problem) in one
// repository, service and branch; read from a report, it is one tool's
// finding in the run's Scope.
type lifecycleRow struct {
	Tenant, Repository, Service, Branch, Tool, Fingerprint string
	State                                                  string
	FirstSeen, LastSeen, FixedAt, ReopenedAt               time.Time
	ReopenCount                                            uint32
	LastReportID                                           string
	ReportAt                                               time.Time
	Severity, Category, RuleID, Title                      string
	CVSS                                                   float64
	Aliases                                                []string
	Package, Installed, Fixed, Path                        string
	Line                                                   uint32
	Key                                                    string
	Sources                                                []string
	Reachability                                           string
	Scope                                                  string // of the report's run; not stored
}

// lifecycleColumns is also the SELECT list that reads lifecycleRow back.
var lifecycleColumns = []string{"tenant", "repository", "service", "branch", "tool", "fingerprint", "state",
	"first_seen", "last_seen", "fixed_at", "reopened_at", "reopen_count", "last_report_id", "report_at",
	"severity", "category", "rule_id", "title", "cvss_score", "aliases", "package_name", "installed_version", "fixed_version", "path", "start_line",
	"finding_key", "sources", "reachability"}

func (r *lifecycleRow) dest() []any {
	return []any{&r.Tenant, &r.Repository, &r.Service, &r.Branch, &r.Tool, &r.Fingerprint, &r.State,
		&r.FirstSeen, &r.LastSeen, &r.FixedAt, &r.ReopenedAt, &r.ReopenCount, &r.LastReportID, &r.ReportAt,
		&r.Severity, &r.Category, &r.RuleID, &r.Title, &r.CVSS, &r.Aliases, &r.Package, &r.Installed, &r.Fixed, &r.Path, &r.Line,
		&r.Key, &r.Sources, &r.Reachability}
}

type lifecycleRows struct{ rows []lifecycleRow }

func (r *lifecycleRows) Name() string      { return "finding_lifecycle" }
func (r *lifecycleRows) Columns() []string { return lifecycleColumns }
func (r *lifecycleRows) Len() int          { return len(r.rows) }
func (r *lifecycleRows) Reset()            { r.rows = r.rows[:0] }
func (r *lifecycleRows) AppendTo(b driver.Batch) error {
	for _, x := range r.rows {
		if err := b.Append(x.Tenant, x.Repository, x.Service, x.Branch, x.Tool, x.Fingerprint, x.State,
			x.FirstSeen, x.LastSeen, x.FixedAt, x.ReopenedAt, x.ReopenCount, x.LastReportID, x.ReportAt,
			x.Severity, x.Category, x.RuleID, x.Title, x.CVSS, x.Aliases, x.Package, x.Installed, x.Fixed, x.Path, x.Line,
			x.Key, x.Sources, x.Reachability); err != nil {
			return err
		}
	}
	return nil
}

// sourceRow is the state of one source of a finding: one tool's finding
// (fingerprint) in one scope of its reports.
type sourceRow struct {
	Tenant, Repository, Service, Branch, Key, Tool, Scope, Fingerprint string
	State                                                              string
	FirstSeen, LastSeen, FixedAt                                       time.Time
	LastReportID                                                       string
	ReportAt                                                           time.Time
	Severity                                                           string
	CVSS                                                               float64
	Reachability                                                       string
}

var sourceColumns = []string{"tenant", "repository", "service", "branch", "finding_key", "tool", "scope", "fingerprint",
	"state", "first_seen", "last_seen", "fixed_at", "last_report_id", "report_at", "severity", "cvss_score", "reachability"}

func (r *sourceRow) dest() []any {
	return []any{&r.Tenant, &r.Repository, &r.Service, &r.Branch, &r.Key, &r.Tool, &r.Scope, &r.Fingerprint,
		&r.State, &r.FirstSeen, &r.LastSeen, &r.FixedAt, &r.LastReportID, &r.ReportAt, &r.Severity, &r.CVSS, &r.Reachability}
}

// id names the source within its repository, service and branch (a
// finding whose key changes is a new source; the old one gets fixed).
func (r *sourceRow) id() string {
	return r.Key + "\x00" + r.Tool + "\x00" + r.Scope + "\x00" + r.Fingerprint
}

type sourceRows struct{ rows []sourceRow }

func (r *sourceRows) Name() string      { return "finding_sources" }
func (r *sourceRows) Columns() []string { return sourceColumns }
func (r *sourceRows) Len() int          { return len(r.rows) }
func (r *sourceRows) Reset()            { r.rows = r.rows[:0] }
func (r *sourceRows) AppendTo(b driver.Batch) error {
	for _, x := range r.rows {
		if err := b.Append(x.Tenant, x.Repository, x.Service, x.Branch, x.Key, x.Tool, x.Scope, x.Fingerprint,
			x.State, x.FirstSeen, x.LastSeen, x.FixedAt, x.LastReportID, x.ReportAt, x.Severity, x.CVSS, x.Reachability); err != nil {
			return err
		}
	}
	return nil
}
