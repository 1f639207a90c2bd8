package sbom

import (
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/trilens/trilens/pkg/store"
)

// Row batches of the SBOM lens's tables (pkg/store/migrations/0400_sbom_checks.sql).

type sbomViolationRows struct {
	Tenant         []string    `ch:"tenant"`
	ReportID       []string    `ch:"report_id"`
	Repository     []string    `ch:"repository"`
	Commit         []string    `ch:"commit"`
	Branch         []string    `ch:"branch"`
	ObservedAt     []time.Time `ch:"observed_at"`
	ArtifactName   []string    `ch:"artifact_name"`
	ArtifactDigest []string    `ch:"artifact_digest"`
	Check          []string    `ch:"check"`
	Purl           []string    `ch:"purl"`
	Component      []string    `ch:"component"`
	Detail         []string    `ch:"detail"`
}

// sbomSubject is what every SBOM lens row says about where it comes from.
type sbomSubject struct {
	tenant, reportID, repository, commit, branch string
	observedAt                                   time.Time
	artifactName, artifactDigest                 string
}

func (r *sbomViolationRows) add(s sbomSubject, check, purl, component, detail string) {
	r.Tenant = append(r.Tenant, s.tenant)
	r.ReportID = append(r.ReportID, s.reportID)
	r.Repository = append(r.Repository, s.repository)
	r.Commit = append(r.Commit, s.commit)
	r.Branch = append(r.Branch, s.branch)
	r.ObservedAt = append(r.ObservedAt, s.observedAt)
	r.ArtifactName = append(r.ArtifactName, s.artifactName)
	r.ArtifactDigest = append(r.ArtifactDigest, s.artifactDigest)
	r.Check = append(r.Check, check)
	r.Purl = append(r.Purl, purl)
	r.Component = append(r.Component, component)
	r.Detail = append(r.Detail, detail)
}

func (r *sbomViolationRows) Name() string                  { return "sbom_violations" }
func (r *sbomViolationRows) Columns() []string             { return store.ColumnNames(r) }
func (r *sbomViolationRows) Len() int                      { return len(r.Tenant) }
func (r *sbomViolationRows) AppendTo(b driver.Batch) error { return store.AppendColumns(b, r) }
func (r *sbomViolationRows) Reset()                        { store.ResetColumns(r) }

type sbomDiffRows struct {
	Tenant           []string    `ch:"tenant"`
	ReportID         []string    `ch:"report_id"`
	PreviousReportID []string    `ch:"previous_report_id"`
	Repository       []string    `ch:"repository"`
	Commit           []string    `ch:"commit"`
	Branch           []string    `ch:"branch"`
	ObservedAt       []time.Time `ch:"observed_at"`
	ArtifactName     []string    `ch:"artifact_name"`
	Change           []string    `ch:"change"`
	ComponentKey     []string    `ch:"component_key"`
	OldVersion       []string    `ch:"old_version"`
	NewVersion       []string    `ch:"new_version"`
}

func (r *sbomDiffRows) add(s sbomSubject, previous string, d componentChange) {
	r.Tenant = append(r.Tenant, s.tenant)
	r.ReportID = append(r.ReportID, s.reportID)
	r.PreviousReportID = append(r.PreviousReportID, previous)
	r.Repository = append(r.Repository, s.repository)
	r.Commit = append(r.Commit, s.commit)
	r.Branch = append(r.Branch, s.branch)
	r.ObservedAt = append(r.ObservedAt, s.observedAt)
	r.ArtifactName = append(r.ArtifactName, s.artifactName)
	r.Change = append(r.Change, d.Change)
	r.ComponentKey = append(r.ComponentKey, d.Key)
	r.OldVersion = append(r.OldVersion, d.Old)
	r.NewVersion = append(r.NewVersion, d.New)
}

func (r *sbomDiffRows) Name() string                  { return "sbom_diffs" }
func (r *sbomDiffRows) Columns() []string             { return store.ColumnNames(r) }
func (r *sbomDiffRows) Len() int                      { return len(r.Tenant) }
func (r *sbomDiffRows) AppendTo(b driver.Batch) error { return store.AppendColumns(b, r) }
func (r *sbomDiffRows) Reset()                        { store.ResetColumns(r) }
