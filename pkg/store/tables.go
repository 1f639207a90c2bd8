package store

// Code in this file follows one pattern per table: a row struct, and a Rows
// struct holding one slice per column (tagged with the column name) with an
// Append method. The tags are the column list; columns.go derives the rest.

import (
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Scope is the part of the envelope every fact row carries.
type Scope struct {
	Tenant      string
	EventID     string
	Repository  string
	Commit      string
	Branch      string
	Environment string
	Service     string
	Journey     string
	ObservedAt  time.Time
}

// ScopeColumns are the Scope columns, embedded in every fact table's Rows.
type ScopeColumns struct {
	Tenant      []string    `ch:"tenant"`
	EventID     []string    `ch:"event_id"`
	Repository  []string    `ch:"repository"`
	Commit      []string    `ch:"commit"`
	Branch      []string    `ch:"branch"`
	Environment []string    `ch:"environment"`
	Service     []string    `ch:"service"`
	Journey     []string    `ch:"journey"`
	ObservedAt  []time.Time `ch:"observed_at"`
}

func (c *ScopeColumns) appendScope(s Scope) {
	c.Tenant = append(c.Tenant, s.Tenant)
	c.EventID = append(c.EventID, s.EventID)
	c.Repository = append(c.Repository, s.Repository)
	c.Commit = append(c.Commit, s.Commit)
	c.Branch = append(c.Branch, s.Branch)
	c.Environment = append(c.Environment, s.Environment)
	c.Service = append(c.Service, s.Service)
	c.Journey = append(c.Journey, s.Journey)
	c.ObservedAt = append(c.ObservedAt, s.ObservedAt)
}

// u8 stores a bool in a UInt8 column (18.16 has no Bool type).
func u8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// EvidenceLog is the audit record of one envelope, with the digest of the message it came in.
type EvidenceLog struct {
	EventID           string
	Tenant            string
	Kind              string
	SchemaVersion     uint32
	Collector         string
	Tool              string
	ToolVersion       string
	Repository        string
	Commit            string
	Branch            string
	BaseBranch        string
	PipelineRun       string
	Environment       string
	Service           string
	Journey           string
	Release           string
	ObservedAt        time.Time
	ReceivedAt        time.Time
	StoredAt          time.Time
	DocumentSHA256    string
	DocumentSize      int64
	DocumentMediaType string
	DocumentName      string
	ReportID          string
	PartIndex         uint32
	PartCount         uint32
	MessageSHA256     string
	MessageSize       uint32
	// The digest chain (see services/scorer/chain) and the raw message.
	ChainSeq    uint64
	EntryDigest string
	PrevDigest  string
	ChainDigest string
	Message     string
}

// EvidenceLogRows holds evidence_log rows column by column.
type EvidenceLogRows struct {
	EventID           []string    `ch:"event_id"`
	Tenant            []string    `ch:"tenant"`
	Kind              []string    `ch:"kind"`
	SchemaVersion     []uint32    `ch:"schema_version"`
	Collector         []string    `ch:"collector"`
	Tool              []string    `ch:"tool"`
	ToolVersion       []string    `ch:"tool_version"`
	Repository        []string    `ch:"repository"`
	Commit            []string    `ch:"commit"`
	Branch            []string    `ch:"branch"`
	BaseBranch        []string    `ch:"base_branch"`
	PipelineRun       []string    `ch:"pipeline_run"`
	Environment       []string    `ch:"environment"`
	Service           []string    `ch:"service"`
	Journey           []string    `ch:"journey"`
	Release           []string    `ch:"release"`
	ObservedAt        []time.Time `ch:"observed_at"`
	ReceivedAt        []time.Time `ch:"received_at"`
	StoredAt          []time.Time `ch:"stored_at"`
	DocumentSHA256    []string    `ch:"document_sha256"`
	DocumentSize      []int64     `ch:"document_size"`
	DocumentMediaType []string    `ch:"document_media_type"`
	DocumentName      []string    `ch:"document_name"`
	ReportID          []string    `ch:"report_id"`
	PartIndex         []uint32    `ch:"part_index"`
	PartCount         []uint32    `ch:"part_count"`
	MessageSHA256     []string    `ch:"message_sha256"`
	MessageSize       []uint32    `ch:"message_size"`
	ChainSeq          []uint64    `ch:"chain_seq"`
	EntryDigest       []string    `ch:"entry_digest"`
	PrevDigest        []string    `ch:"prev_digest"`
	ChainDigest       []string    `ch:"chain_digest"`
	Message           []string    `ch:"message"`
}

// Append adds one row.
func (r *EvidenceLogRows) Append(x EvidenceLog) {
	r.EventID = append(r.EventID, x.EventID)
	r.Tenant = append(r.Tenant, x.Tenant)
	r.Kind = append(r.Kind, x.Kind)
	r.SchemaVersion = append(r.SchemaVersion, x.SchemaVersion)
	r.Collector = append(r.Collector, x.Collector)
	r.Tool = append(r.Tool, x.Tool)
	r.ToolVersion = append(r.ToolVersion, x.ToolVersion)
	r.Repository = append(r.Repository, x.Repository)
	r.Commit = append(r.Commit, x.Commit)
	r.Branch = append(r.Branch, x.Branch)
	r.BaseBranch = append(r.BaseBranch, x.BaseBranch)
	r.PipelineRun = append(r.PipelineRun, x.PipelineRun)
	r.Environment = append(r.Environment, x.Environment)
	r.Service = append(r.Service, x.Service)
	r.Journey = append(r.Journey, x.Journey)
	r.Release = append(r.Release, x.Release)
	r.ObservedAt = append(r.ObservedAt, x.ObservedAt)
	r.ReceivedAt = append(r.ReceivedAt, x.ReceivedAt)
	r.StoredAt = append(r.StoredAt, x.StoredAt)
	r.DocumentSHA256 = append(r.DocumentSHA256, x.DocumentSHA256)
	r.DocumentSize = append(r.DocumentSize, x.DocumentSize)
	r.DocumentMediaType = append(r.DocumentMediaType, x.DocumentMediaType)
	r.DocumentName = append(r.DocumentName, x.DocumentName)
	r.ReportID = append(r.ReportID, x.ReportID)
	r.PartIndex = append(r.PartIndex, x.PartIndex)
	r.PartCount = append(r.PartCount, x.PartCount)
	r.MessageSHA256 = append(r.MessageSHA256, x.MessageSHA256)
	r.MessageSize = append(r.MessageSize, x.MessageSize)
	r.ChainSeq = append(r.ChainSeq, x.ChainSeq)
	r.EntryDigest = append(r.EntryDigest, x.EntryDigest)
	r.PrevDigest = append(r.PrevDigest, x.PrevDigest)
	r.ChainDigest = append(r.ChainDigest, x.ChainDigest)
	r.Message = append(r.Message, x.Message)
}

func (r *EvidenceLogRows) Name() string                  { return "evidence_log" }
func (r *EvidenceLogRows) Columns() []string             { return ColumnNames(r) }
func (r *EvidenceLogRows) Len() int                      { return len(r.EventID) }
func (r *EvidenceLogRows) AppendTo(b driver.Batch) error { return AppendColumns(b, r) }
func (r *EvidenceLogRows) Reset()                        { ResetColumns(r) }

// Finding is the latest state of one finding (per tenant, repository, branch and fingerprint).
type Finding struct {
	Scope
	Fingerprint      string
	ReportID         string
	Tool             string
	RuleID           string
	Title            string
	Severity         string
	Category         string
	CVSSScore        float64
	CVSSVector       string
	Aliases          []string
	CWEs             []string
	PackageName      string
	PackageType      string
	Purl             string
	InstalledVersion string
	FixedVersion     string
	Path             string
	StartLine        uint32
	EndLine          uint32
	HelpURI          string
	Message          string
	// Reachability is what a call-analysing tool says: called, imported,
	// required, or "" when it does not say.
	Reachability string
	// What the finding's run covered (scan.v1.ReportScope).
	ScopeRoot, ScopeLanguage, ScopeTarget, AutomationID string
}

// FindingRows holds findings rows column by column.
type FindingRows struct {
	ScopeColumns
	Fingerprint      []string   `ch:"fingerprint"`
	ReportID         []string   `ch:"report_id"`
	Tool             []string   `ch:"tool"`
	RuleID           []string   `ch:"rule_id"`
	Title            []string   `ch:"title"`
	Severity         []string   `ch:"severity"`
	Category         []string   `ch:"category"`
	CVSSScore        []float64  `ch:"cvss_score"`
	CVSSVector       []string   `ch:"cvss_vector"`
	Aliases          [][]string `ch:"aliases"`
	CWEs             [][]string `ch:"cwes"`
	PackageName      []string   `ch:"package_name"`
	PackageType      []string   `ch:"package_type"`
	Purl             []string   `ch:"purl"`
	InstalledVersion []string   `ch:"installed_version"`
	FixedVersion     []string   `ch:"fixed_version"`
	Path             []string   `ch:"path"`
	StartLine        []uint32   `ch:"start_line"`
	EndLine          []uint32   `ch:"end_line"`
	HelpURI          []string   `ch:"help_uri"`
	Message          []string   `ch:"message"`
	Reachability     []string   `ch:"reachability"`
	ScopeRoot        []string   `ch:"scope_root"`
	ScopeLanguage    []string   `ch:"scope_language"`
	ScopeTarget      []string   `ch:"scope_target"`
	AutomationID     []string   `ch:"automation_id"`
}

// Append adds one row.
func (r *FindingRows) Append(x Finding) {
	r.appendScope(x.Scope)
	r.Fingerprint = append(r.Fingerprint, x.Fingerprint)
	r.ReportID = append(r.ReportID, x.ReportID)
	r.Tool = append(r.Tool, x.Tool)
	r.RuleID = append(r.RuleID, x.RuleID)
	r.Title = append(r.Title, x.Title)
	r.Severity = append(r.Severity, x.Severity)
	r.Category = append(r.Category, x.Category)
	r.CVSSScore = append(r.CVSSScore, x.CVSSScore)
	r.CVSSVector = append(r.CVSSVector, x.CVSSVector)
	r.Aliases = append(r.Aliases, x.Aliases)
	r.CWEs = append(r.CWEs, x.CWEs)
	r.PackageName = append(r.PackageName, x.PackageName)
	r.PackageType = append(r.PackageType, x.PackageType)
	r.Purl = append(r.Purl, x.Purl)
	r.InstalledVersion = append(r.InstalledVersion, x.InstalledVersion)
	r.FixedVersion = append(r.FixedVersion, x.FixedVersion)
	r.Path = append(r.Path, x.Path)
	r.StartLine = append(r.StartLine, x.StartLine)
	r.EndLine = append(r.EndLine, x.EndLine)
	r.HelpURI = append(r.HelpURI, x.HelpURI)
	r.Message = append(r.Message, x.Message)
	r.Reachability = append(r.Reachability, x.Reachability)
	r.ScopeRoot = append(r.ScopeRoot, x.ScopeRoot)
	r.ScopeLanguage = append(r.ScopeLanguage, x.ScopeLanguage)
	r.ScopeTarget = append(r.ScopeTarget, x.ScopeTarget)
	r.AutomationID = append(r.AutomationID, x.AutomationID)
}

func (r *FindingRows) Name() string                  { return "findings" }
func (r *FindingRows) Columns() []string             { return ColumnNames(r) }
func (r *FindingRows) Len() int                      { return len(r.Tenant) }
func (r *FindingRows) AppendTo(b driver.Batch) error { return AppendColumns(b, r) }
func (r *FindingRows) Reset()                        { ResetColumns(r) }

// FindingObservation is one sighting of a finding in one event.
type FindingObservation struct {
	Scope
	Fingerprint string
	ReportID    string
	PartIndex   uint32
	PartCount   uint32
	Tool        string
	RuleID      string
	Severity    string
	Category    string
}

// FindingObservationRows holds finding_observations rows column by column.
type FindingObservationRows struct {
	ScopeColumns
	Fingerprint []string `ch:"fingerprint"`
	ReportID    []string `ch:"report_id"`
	PartIndex   []uint32 `ch:"part_index"`
	PartCount   []uint32 `ch:"part_count"`
	Tool        []string `ch:"tool"`
	RuleID      []string `ch:"rule_id"`
	Severity    []string `ch:"severity"`
	Category    []string `ch:"category"`
}

// Append adds one row.
func (r *FindingObservationRows) Append(x FindingObservation) {
	r.appendScope(x.Scope)
	r.Fingerprint = append(r.Fingerprint, x.Fingerprint)
	r.ReportID = append(r.ReportID, x.ReportID)
	r.PartIndex = append(r.PartIndex, x.PartIndex)
	r.PartCount = append(r.PartCount, x.PartCount)
	r.Tool = append(r.Tool, x.Tool)
	r.RuleID = append(r.RuleID, x.RuleID)
	r.Severity = append(r.Severity, x.Severity)
	r.Category = append(r.Category, x.Category)
}

func (r *FindingObservationRows) Name() string                  { return "finding_observations" }
func (r *FindingObservationRows) Columns() []string             { return ColumnNames(r) }
func (r *FindingObservationRows) Len() int                      { return len(r.Tenant) }
func (r *FindingObservationRows) AppendTo(b driver.Batch) error { return AppendColumns(b, r) }
func (r *FindingObservationRows) Reset()                        { ResetColumns(r) }

// Component is one SBOM component; Idx is its position in the event.
type Component struct {
	Scope
	Idx               uint32
	ArtifactName      string
	ArtifactDigest    string
	Format            string
	SpecVersion       string
	LockfilePresent   bool
	Purl              string
	ComponentName     string
	Version           string
	Type              string
	Licenses          []string
	CPE               string
	VersionConstraint string
	Pinned            bool
	Location          string
}

// ComponentRows holds components rows column by column.
type ComponentRows struct {
	ScopeColumns
	Idx               []uint32   `ch:"idx"`
	ArtifactName      []string   `ch:"artifact_name"`
	ArtifactDigest    []string   `ch:"artifact_digest"`
	Format            []string   `ch:"format"`
	SpecVersion       []string   `ch:"spec_version"`
	LockfilePresent   []uint8    `ch:"lockfile_present"`
	Purl              []string   `ch:"purl"`
	ComponentName     []string   `ch:"name"`
	Version           []string   `ch:"version"`
	Type              []string   `ch:"type"`
	Licenses          [][]string `ch:"licenses"`
	CPE               []string   `ch:"cpe"`
	VersionConstraint []string   `ch:"version_constraint"`
	Pinned            []uint8    `ch:"pinned"`
	Location          []string   `ch:"location"`
}

// Append adds one row.
func (r *ComponentRows) Append(x Component) {
	r.appendScope(x.Scope)
	r.Idx = append(r.Idx, x.Idx)
	r.ArtifactName = append(r.ArtifactName, x.ArtifactName)
	r.ArtifactDigest = append(r.ArtifactDigest, x.ArtifactDigest)
	r.Format = append(r.Format, x.Format)
	r.SpecVersion = append(r.SpecVersion, x.SpecVersion)
	r.LockfilePresent = append(r.LockfilePresent, u8(x.LockfilePresent))
	r.Purl = append(r.Purl, x.Purl)
	r.ComponentName = append(r.ComponentName, x.ComponentName)
	r.Version = append(r.Version, x.Version)
	r.Type = append(r.Type, x.Type)
	r.Licenses = append(r.Licenses, x.Licenses)
	r.CPE = append(r.CPE, x.CPE)
	r.VersionConstraint = append(r.VersionConstraint, x.VersionConstraint)
	r.Pinned = append(r.Pinned, u8(x.Pinned))
	r.Location = append(r.Location, x.Location)
}

func (r *ComponentRows) Name() string                  { return "components" }
func (r *ComponentRows) Columns() []string             { return ColumnNames(r) }
func (r *ComponentRows) Len() int                      { return len(r.Tenant) }
func (r *ComponentRows) AppendTo(b driver.Batch) error { return AppendColumns(b, r) }
func (r *ComponentRows) Reset()                        { ResetColumns(r) }

// Artifact is the signature and provenance verification of one artifact.
type Artifact struct {
	Scope
	ArtifactName      string
	Digest            string
	Signed            bool
	Verified          bool
	VerificationError string
	SignatureFormat   string
	SignerIdentity    string
	SignerIssuer      string
	PredicateType     string
	BuilderID         string
	BuildType         string
	SourceRepository  string
	SourceCommit      string
	SLSALevel         uint32
	SubjectMatch      bool
	MismatchReason    string
}

// ArtifactRows holds artifacts rows column by column.
type ArtifactRows struct {
	ScopeColumns
	ArtifactName      []string `ch:"name"`
	Digest            []string `ch:"digest"`
	Signed            []uint8  `ch:"signed"`
	Verified          []uint8  `ch:"verified"`
	VerificationError []string `ch:"verification_error"`
	SignatureFormat   []string `ch:"signature_format"`
	SignerIdentity    []string `ch:"signer_identity"`
	SignerIssuer      []string `ch:"signer_issuer"`
	PredicateType     []string `ch:"predicate_type"`
	BuilderID         []string `ch:"builder_id"`
	BuildType         []string `ch:"build_type"`
	SourceRepository  []string `ch:"source_repository"`
	SourceCommit      []string `ch:"source_commit"`
	SLSALevel         []uint32 `ch:"slsa_level"`
	SubjectMatch      []uint8  `ch:"subject_match"`
	MismatchReason    []string `ch:"mismatch_reason"`
}

// Append adds one row.
func (r *ArtifactRows) Append(x Artifact) {
	r.appendScope(x.Scope)
	r.ArtifactName = append(r.ArtifactName, x.ArtifactName)
	r.Digest = append(r.Digest, x.Digest)
	r.Signed = append(r.Signed, u8(x.Signed))
	r.Verified = append(r.Verified, u8(x.Verified))
	r.VerificationError = append(r.VerificationError, x.VerificationError)
	r.SignatureFormat = append(r.SignatureFormat, x.SignatureFormat)
	r.SignerIdentity = append(r.SignerIdentity, x.SignerIdentity)
	r.SignerIssuer = append(r.SignerIssuer, x.SignerIssuer)
	r.PredicateType = append(r.PredicateType, x.PredicateType)
	r.BuilderID = append(r.BuilderID, x.BuilderID)
	r.BuildType = append(r.BuildType, x.BuildType)
	r.SourceRepository = append(r.SourceRepository, x.SourceRepository)
	r.SourceCommit = append(r.SourceCommit, x.SourceCommit)
	r.SLSALevel = append(r.SLSALevel, x.SLSALevel)
	r.SubjectMatch = append(r.SubjectMatch, u8(x.SubjectMatch))
	r.MismatchReason = append(r.MismatchReason, x.MismatchReason)
}

func (r *ArtifactRows) Name() string                  { return "artifacts" }
func (r *ArtifactRows) Columns() []string             { return ColumnNames(r) }
func (r *ArtifactRows) Len() int                      { return len(r.Tenant) }
func (r *ArtifactRows) AppendTo(b driver.Batch) error { return AppendColumns(b, r) }
func (r *ArtifactRows) Reset()                        { ResetColumns(r) }

// JourneyLatency is one trace window of a journey; Idx is the window's position in the event.
type JourneyLatency struct {
	Scope
	Idx         uint32
	WindowStart time.Time
	DurationS   float64
	Count       float64
	Errors      float64
	P50Ms       float64
	P95Ms       float64
	P99Ms       float64
	MaxMs       float64
	Sketch      string
}

// JourneyLatencyRows holds journey_latency rows column by column.
type JourneyLatencyRows struct {
	ScopeColumns
	Idx         []uint32    `ch:"idx"`
	WindowStart []time.Time `ch:"window_start"`
	DurationS   []float64   `ch:"duration_s"`
	Count       []float64   `ch:"count"`
	Errors      []float64   `ch:"errors"`
	P50Ms       []float64   `ch:"p50_ms"`
	P95Ms       []float64   `ch:"p95_ms"`
	P99Ms       []float64   `ch:"p99_ms"`
	MaxMs       []float64   `ch:"max_ms"`
	Sketch      []string    `ch:"sketch"`
}

// Append adds one row.
func (r *JourneyLatencyRows) Append(x JourneyLatency) {
	r.appendScope(x.Scope)
	r.Idx = append(r.Idx, x.Idx)
	r.WindowStart = append(r.WindowStart, x.WindowStart)
	r.DurationS = append(r.DurationS, x.DurationS)
	r.Count = append(r.Count, x.Count)
	r.Errors = append(r.Errors, x.Errors)
	r.P50Ms = append(r.P50Ms, x.P50Ms)
	r.P95Ms = append(r.P95Ms, x.P95Ms)
	r.P99Ms = append(r.P99Ms, x.P99Ms)
	r.MaxMs = append(r.MaxMs, x.MaxMs)
	r.Sketch = append(r.Sketch, x.Sketch)
}

func (r *JourneyLatencyRows) Name() string                  { return "journey_latency" }
func (r *JourneyLatencyRows) Columns() []string             { return ColumnNames(r) }
func (r *JourneyLatencyRows) Len() int                      { return len(r.Tenant) }
func (r *JourneyLatencyRows) AppendTo(b driver.Batch) error { return AppendColumns(b, r) }
func (r *JourneyLatencyRows) Reset()                        { ResetColumns(r) }

// HopLatency is one hop of a trace window; WindowIdx is the window's Idx.
type HopLatency struct {
	Scope
	WindowIdx   uint32
	Idx         uint32
	WindowStart time.Time
	DurationS   float64
	Hop         string
	Peer        string
	Count       float64
	P50Ms       float64
	P95Ms       float64
	P99Ms       float64
	TotalMs     float64
	Sketch      string
}

// HopLatencyRows holds hop_latency rows column by column.
type HopLatencyRows struct {
	ScopeColumns
	WindowIdx   []uint32    `ch:"window_idx"`
	Idx         []uint32    `ch:"idx"`
	WindowStart []time.Time `ch:"window_start"`
	DurationS   []float64   `ch:"duration_s"`
	Hop         []string    `ch:"hop"`
	Peer        []string    `ch:"peer"`
	Count       []float64   `ch:"count"`
	P50Ms       []float64   `ch:"p50_ms"`
	P95Ms       []float64   `ch:"p95_ms"`
	P99Ms       []float64   `ch:"p99_ms"`
	TotalMs     []float64   `ch:"total_ms"`
	Sketch      []string    `ch:"sketch"`
}

// Append adds one row.
func (r *HopLatencyRows) Append(x HopLatency) {
	r.appendScope(x.Scope)
	r.WindowIdx = append(r.WindowIdx, x.WindowIdx)
	r.Idx = append(r.Idx, x.Idx)
	r.WindowStart = append(r.WindowStart, x.WindowStart)
	r.DurationS = append(r.DurationS, x.DurationS)
	r.Hop = append(r.Hop, x.Hop)
	r.Peer = append(r.Peer, x.Peer)
	r.Count = append(r.Count, x.Count)
	r.P50Ms = append(r.P50Ms, x.P50Ms)
	r.P95Ms = append(r.P95Ms, x.P95Ms)
	r.P99Ms = append(r.P99Ms, x.P99Ms)
	r.TotalMs = append(r.TotalMs, x.TotalMs)
	r.Sketch = append(r.Sketch, x.Sketch)
}

func (r *HopLatencyRows) Name() string                  { return "hop_latency" }
func (r *HopLatencyRows) Columns() []string             { return ColumnNames(r) }
func (r *HopLatencyRows) Len() int                      { return len(r.Tenant) }
func (r *HopLatencyRows) AppendTo(b driver.Batch) error { return AppendColumns(b, r) }
func (r *HopLatencyRows) Reset()                        { ResetColumns(r) }

// TraceDetection is one pattern the trace collector found (N+1, serial calls, ...).
type TraceDetection struct {
	Scope
	Idx              uint32
	WindowStart      time.Time
	Type             string
	Fingerprint      string
	Operation        string
	ParentOperation  string
	Occurrences      float64
	AffectedTraces   float64
	TotalMs          float64
	SavingsMs        float64
	ExemplarTraceIDs []string
}

// TraceDetectionRows holds trace_detections rows column by column.
type TraceDetectionRows struct {
	ScopeColumns
	Idx              []uint32    `ch:"idx"`
	WindowStart      []time.Time `ch:"window_start"`
	Type             []string    `ch:"type"`
	Fingerprint      []string    `ch:"fingerprint"`
	Operation        []string    `ch:"operation"`
	ParentOperation  []string    `ch:"parent_operation"`
	Occurrences      []float64   `ch:"occurrences"`
	AffectedTraces   []float64   `ch:"affected_traces"`
	TotalMs          []float64   `ch:"total_ms"`
	SavingsMs        []float64   `ch:"savings_ms"`
	ExemplarTraceIDs [][]string  `ch:"exemplar_trace_ids"`
}

// Append adds one row.
func (r *TraceDetectionRows) Append(x TraceDetection) {
	r.appendScope(x.Scope)
	r.Idx = append(r.Idx, x.Idx)
	r.WindowStart = append(r.WindowStart, x.WindowStart)
	r.Type = append(r.Type, x.Type)
	r.Fingerprint = append(r.Fingerprint, x.Fingerprint)
	r.Operation = append(r.Operation, x.Operation)
	r.ParentOperation = append(r.ParentOperation, x.ParentOperation)
	r.Occurrences = append(r.Occurrences, x.Occurrences)
	r.AffectedTraces = append(r.AffectedTraces, x.AffectedTraces)
	r.TotalMs = append(r.TotalMs, x.TotalMs)
	r.SavingsMs = append(r.SavingsMs, x.SavingsMs)
	r.ExemplarTraceIDs = append(r.ExemplarTraceIDs, x.ExemplarTraceIDs)
}

func (r *TraceDetectionRows) Name() string                  { return "trace_detections" }
func (r *TraceDetectionRows) Columns() []string             { return ColumnNames(r) }
func (r *TraceDetectionRows) Len() int                      { return len(r.Tenant) }
func (r *TraceDetectionRows) AppendTo(b driver.Batch) error { return AppendColumns(b, r) }
func (r *TraceDetectionRows) Reset()                        { ResetColumns(r) }

// LoadRun is one scenario of a load-test run (Scenario "" is the whole run); the run's figures repeat on each.
type LoadRun struct {
	Scope
	Idx                uint32
	RunID              string
	TestName           string
	Format             string
	StartedAt          time.Time
	DurationS          float64
	ThresholdsPassed   bool
	ThresholdsFailed   []string
	Scenario           string
	Requests           float64
	RPS                float64
	P50Ms              float64
	P90Ms              float64
	P95Ms              float64
	P99Ms              float64
	FailedRate         float64
	Iterations         float64
	VUsMax             float64
	ChecksPassed       float64
	ChecksFailed       float64
	MaxSustainableRPS  float64
	KneeRPS            float64
	LittlesLawRatio    float64
	GeneratorSaturated bool
	Headroom           float64
	// Absent names the metric columns the report did not give (their 0 is unknown).
	Absent []string
}

// LoadRunRows holds load_runs rows column by column.
type LoadRunRows struct {
	ScopeColumns
	Idx                []uint32    `ch:"idx"`
	RunID              []string    `ch:"run_id"`
	TestName           []string    `ch:"test_name"`
	Format             []string    `ch:"format"`
	StartedAt          []time.Time `ch:"started_at"`
	DurationS          []float64   `ch:"duration_s"`
	ThresholdsPassed   []uint8     `ch:"thresholds_passed"`
	ThresholdsFailed   [][]string  `ch:"thresholds_failed"`
	Scenario           []string    `ch:"scenario"`
	Requests           []float64   `ch:"requests"`
	RPS                []float64   `ch:"rps"`
	P50Ms              []float64   `ch:"p50_ms"`
	P90Ms              []float64   `ch:"p90_ms"`
	P95Ms              []float64   `ch:"p95_ms"`
	P99Ms              []float64   `ch:"p99_ms"`
	FailedRate         []float64   `ch:"failed_rate"`
	Iterations         []float64   `ch:"iterations"`
	VUsMax             []float64   `ch:"vus_max"`
	ChecksPassed       []float64   `ch:"checks_passed"`
	ChecksFailed       []float64   `ch:"checks_failed"`
	MaxSustainableRPS  []float64   `ch:"max_sustainable_rps"`
	KneeRPS            []float64   `ch:"knee_rps"`
	LittlesLawRatio    []float64   `ch:"littles_law_ratio"`
	GeneratorSaturated []uint8     `ch:"generator_saturated"`
	Headroom           []float64   `ch:"headroom"`
	Absent             [][]string  `ch:"absent"`
}

// Append adds one row.
func (r *LoadRunRows) Append(x LoadRun) {
	r.appendScope(x.Scope)
	r.Idx = append(r.Idx, x.Idx)
	r.RunID = append(r.RunID, x.RunID)
	r.TestName = append(r.TestName, x.TestName)
	r.Format = append(r.Format, x.Format)
	r.StartedAt = append(r.StartedAt, x.StartedAt)
	r.DurationS = append(r.DurationS, x.DurationS)
	r.ThresholdsPassed = append(r.ThresholdsPassed, u8(x.ThresholdsPassed))
	r.ThresholdsFailed = append(r.ThresholdsFailed, x.ThresholdsFailed)
	r.Scenario = append(r.Scenario, x.Scenario)
	r.Requests = append(r.Requests, x.Requests)
	r.RPS = append(r.RPS, x.RPS)
	r.P50Ms = append(r.P50Ms, x.P50Ms)
	r.P90Ms = append(r.P90Ms, x.P90Ms)
	r.P95Ms = append(r.P95Ms, x.P95Ms)
	r.P99Ms = append(r.P99Ms, x.P99Ms)
	r.FailedRate = append(r.FailedRate, x.FailedRate)
	r.Iterations = append(r.Iterations, x.Iterations)
	r.VUsMax = append(r.VUsMax, x.VUsMax)
	r.ChecksPassed = append(r.ChecksPassed, x.ChecksPassed)
	r.ChecksFailed = append(r.ChecksFailed, x.ChecksFailed)
	r.MaxSustainableRPS = append(r.MaxSustainableRPS, x.MaxSustainableRPS)
	r.KneeRPS = append(r.KneeRPS, x.KneeRPS)
	r.LittlesLawRatio = append(r.LittlesLawRatio, x.LittlesLawRatio)
	r.GeneratorSaturated = append(r.GeneratorSaturated, u8(x.GeneratorSaturated))
	r.Headroom = append(r.Headroom, x.Headroom)
	r.Absent = append(r.Absent, x.Absent)
}

func (r *LoadRunRows) Name() string                  { return "load_runs" }
func (r *LoadRunRows) Columns() []string             { return ColumnNames(r) }
func (r *LoadRunRows) Len() int                      { return len(r.Tenant) }
func (r *LoadRunRows) AppendTo(b driver.Batch) error { return AppendColumns(b, r) }
func (r *LoadRunRows) Reset()                        { ResetColumns(r) }

// LoadStep is one load level of a stepped load-test run.
type LoadStep struct {
	Scope
	Idx       uint32
	RunID     string
	TestName  string
	StepStart time.Time
	DurationS float64
	VUs       float64
	RPS       float64
	P95Ms     float64
	ErrorRate float64
}

// LoadStepRows holds load_steps rows column by column.
type LoadStepRows struct {
	ScopeColumns
	Idx       []uint32    `ch:"idx"`
	RunID     []string    `ch:"run_id"`
	TestName  []string    `ch:"test_name"`
	StepStart []time.Time `ch:"step_start"`
	DurationS []float64   `ch:"duration_s"`
	VUs       []float64   `ch:"vus"`
	RPS       []float64   `ch:"rps"`
	P95Ms     []float64   `ch:"p95_ms"`
	ErrorRate []float64   `ch:"error_rate"`
}

// Append adds one row.
func (r *LoadStepRows) Append(x LoadStep) {
	r.appendScope(x.Scope)
	r.Idx = append(r.Idx, x.Idx)
	r.RunID = append(r.RunID, x.RunID)
	r.TestName = append(r.TestName, x.TestName)
	r.StepStart = append(r.StepStart, x.StepStart)
	r.DurationS = append(r.DurationS, x.DurationS)
	r.VUs = append(r.VUs, x.VUs)
	r.RPS = append(r.RPS, x.RPS)
	r.P95Ms = append(r.P95Ms, x.P95Ms)
	r.ErrorRate = append(r.ErrorRate, x.ErrorRate)
}

func (r *LoadStepRows) Name() string                  { return "load_steps" }
func (r *LoadStepRows) Columns() []string             { return ColumnNames(r) }
func (r *LoadStepRows) Len() int                      { return len(r.Tenant) }
func (r *LoadStepRows) AppendTo(b driver.Batch) error { return AppendColumns(b, r) }
func (r *LoadStepRows) Reset()                        { ResetColumns(r) }

// WebVitals is one Lighthouse measurement of a page.
type WebVitals struct {
	Scope
	URL               string
	FormFactor        string
	LCPMs             float64
	CLS               float64
	TBTMs             float64
	INPMs             float64
	TTFBMs            float64
	FCPMs             float64
	SpeedIndexMs      float64
	PerformanceScore  float64
	Runs              uint32
	LighthouseVersion string
	// Absent names the metric columns the report did not give (their 0 is unknown).
	Absent []string
}

// WebVitalsRows holds web_vitals rows column by column.
type WebVitalsRows struct {
	ScopeColumns
	URL               []string   `ch:"url"`
	FormFactor        []string   `ch:"form_factor"`
	LCPMs             []float64  `ch:"lcp_ms"`
	CLS               []float64  `ch:"cls"`
	TBTMs             []float64  `ch:"tbt_ms"`
	INPMs             []float64  `ch:"inp_ms"`
	TTFBMs            []float64  `ch:"ttfb_ms"`
	FCPMs             []float64  `ch:"fcp_ms"`
	SpeedIndexMs      []float64  `ch:"speed_index_ms"`
	PerformanceScore  []float64  `ch:"performance_score"`
	Runs              []uint32   `ch:"runs"`
	LighthouseVersion []string   `ch:"lighthouse_version"`
	Absent            [][]string `ch:"absent"`
}

// Append adds one row.
func (r *WebVitalsRows) Append(x WebVitals) {
	r.appendScope(x.Scope)
	r.URL = append(r.URL, x.URL)
	r.FormFactor = append(r.FormFactor, x.FormFactor)
	r.LCPMs = append(r.LCPMs, x.LCPMs)
	r.CLS = append(r.CLS, x.CLS)
	r.TBTMs = append(r.TBTMs, x.TBTMs)
	r.INPMs = append(r.INPMs, x.INPMs)
	r.TTFBMs = append(r.TTFBMs, x.TTFBMs)
	r.FCPMs = append(r.FCPMs, x.FCPMs)
	r.SpeedIndexMs = append(r.SpeedIndexMs, x.SpeedIndexMs)
	r.PerformanceScore = append(r.PerformanceScore, x.PerformanceScore)
	r.Runs = append(r.Runs, x.Runs)
	r.LighthouseVersion = append(r.LighthouseVersion, x.LighthouseVersion)
	r.Absent = append(r.Absent, x.Absent)
}

func (r *WebVitalsRows) Name() string                  { return "web_vitals" }
func (r *WebVitalsRows) Columns() []string             { return ColumnNames(r) }
func (r *WebVitalsRows) Len() int                      { return len(r.Tenant) }
func (r *WebVitalsRows) AppendTo(b driver.Batch) error { return AppendColumns(b, r) }
func (r *WebVitalsRows) Reset()                        { ResetColumns(r) }

// Change is one CI run, deploy or incident.
type Change struct {
	Scope
	Idx        uint32
	ChangeID   string
	Type       string
	Status     string
	StartedAt  time.Time
	FinishedAt time.Time
	URL        string
	Title      string
	// What the change collector adds; CommitTimes parallels CommitSHAs
	// (MinDateTime when unknown).
	Source          string
	SourceEvent     string
	EnvironmentName string
	Artifact        string
	ArtifactDigest  string
	CommitSHAs      []string
	CommitTimes     []time.Time
	RollbackOf      string
	Severity        string
	Pipeline        string
}

// ChangeRows holds changes rows column by column.
type ChangeRows struct {
	ScopeColumns
	Idx        []uint32    `ch:"idx"`
	ChangeID   []string    `ch:"change_id"`
	Type       []string    `ch:"type"`
	Status     []string    `ch:"status"`
	StartedAt  []time.Time `ch:"started_at"`
	FinishedAt []time.Time `ch:"finished_at"`
	URL        []string    `ch:"url"`
	Title      []string    `ch:"title"`

	Source          []string      `ch:"source"`
	SourceEvent     []string      `ch:"source_event"`
	EnvironmentName []string      `ch:"environment_name"`
	Artifact        []string      `ch:"artifact"`
	ArtifactDigest  []string      `ch:"artifact_digest"`
	CommitSHAs      [][]string    `ch:"commit_shas"`
	CommitTimes     [][]time.Time `ch:"commit_times"`
	RollbackOf      []string      `ch:"rollback_of"`
	Severity        []string      `ch:"severity"`
	Pipeline        []string      `ch:"pipeline"`
}

// Append adds one row.
func (r *ChangeRows) Append(x Change) {
	r.appendScope(x.Scope)
	r.Idx = append(r.Idx, x.Idx)
	r.ChangeID = append(r.ChangeID, x.ChangeID)
	r.Type = append(r.Type, x.Type)
	r.Status = append(r.Status, x.Status)
	r.StartedAt = append(r.StartedAt, x.StartedAt)
	r.FinishedAt = append(r.FinishedAt, x.FinishedAt)
	r.URL = append(r.URL, x.URL)
	r.Title = append(r.Title, x.Title)
	r.Source = append(r.Source, x.Source)
	r.SourceEvent = append(r.SourceEvent, x.SourceEvent)
	r.EnvironmentName = append(r.EnvironmentName, x.EnvironmentName)
	r.Artifact = append(r.Artifact, x.Artifact)
	r.ArtifactDigest = append(r.ArtifactDigest, x.ArtifactDigest)
	r.CommitSHAs = append(r.CommitSHAs, x.CommitSHAs)
	r.CommitTimes = append(r.CommitTimes, x.CommitTimes)
	r.RollbackOf = append(r.RollbackOf, x.RollbackOf)
	r.Severity = append(r.Severity, x.Severity)
	r.Pipeline = append(r.Pipeline, x.Pipeline)
}

func (r *ChangeRows) Name() string                  { return "changes" }
func (r *ChangeRows) Columns() []string             { return ColumnNames(r) }
func (r *ChangeRows) Len() int                      { return len(r.Tenant) }
func (r *ChangeRows) AppendTo(b driver.Batch) error { return AppendColumns(b, r) }
func (r *ChangeRows) Reset()                        { ResetColumns(r) }

// KPIPoint is one KPI value with its budget and status, derived from the event EventID.
type KPIPoint struct {
	Scope
	Lens        string
	KPI         string
	KPIScope    string
	Value       float64
	Budget      float64
	Status      string
	Owner       string
	EvidenceIDs []string
	// PolicyDigest names the policy a replay computed the point with.
	PolicyDigest string
}

// KPIPointRows holds kpi_points rows column by column.
type KPIPointRows struct {
	ScopeColumns
	Lens         []string   `ch:"lens"`
	KPI          []string   `ch:"kpi"`
	KPIScope     []string   `ch:"scope"`
	Value        []float64  `ch:"value"`
	Budget       []float64  `ch:"budget"`
	Status       []string   `ch:"status"`
	Owner        []string   `ch:"owner"`
	EvidenceIDs  [][]string `ch:"evidence_ids"`
	PolicyDigest []string   `ch:"policy_digest"`
}

// Append adds one row.
func (r *KPIPointRows) Append(x KPIPoint) {
	r.appendScope(x.Scope)
	r.Lens = append(r.Lens, x.Lens)
	r.KPI = append(r.KPI, x.KPI)
	r.KPIScope = append(r.KPIScope, x.KPIScope)
	r.Value = append(r.Value, x.Value)
	r.Budget = append(r.Budget, x.Budget)
	r.Status = append(r.Status, x.Status)
	r.Owner = append(r.Owner, x.Owner)
	r.EvidenceIDs = append(r.EvidenceIDs, x.EvidenceIDs)
	r.PolicyDigest = append(r.PolicyDigest, x.PolicyDigest)
}

func (r *KPIPointRows) Name() string                  { return "kpi_points" }
func (r *KPIPointRows) Columns() []string             { return ColumnNames(r) }
func (r *KPIPointRows) Len() int                      { return len(r.Tenant) }
func (r *KPIPointRows) AppendTo(b driver.Batch) error { return AppendColumns(b, r) }
func (r *KPIPointRows) Reset()                        { ResetColumns(r) }

// Verdict is one judgement the alerter and the gate act on.
type Verdict struct {
	Scope
	VerdictID   string
	Lens        string
	KPI         string
	KPIScope    string
	Status      string
	Reason      string
	Value       float64
	Baseline    float64
	Budget      float64
	Test        string
	PValue      float64
	Owner       string
	Summary     string
	EvidenceIDs []string
	// PolicyDigest names the policy a replay computed the verdict with.
	PolicyDigest string
}

// VerdictRows holds verdicts rows column by column.
type VerdictRows struct {
	ScopeColumns
	VerdictID    []string   `ch:"verdict_id"`
	Lens         []string   `ch:"lens"`
	KPI          []string   `ch:"kpi"`
	KPIScope     []string   `ch:"scope"`
	Status       []string   `ch:"status"`
	Reason       []string   `ch:"reason"`
	Value        []float64  `ch:"value"`
	Baseline     []float64  `ch:"baseline"`
	Budget       []float64  `ch:"budget"`
	Test         []string   `ch:"test"`
	PValue       []float64  `ch:"p_value"`
	Owner        []string   `ch:"owner"`
	Summary      []string   `ch:"summary"`
	EvidenceIDs  [][]string `ch:"evidence_ids"`
	PolicyDigest []string   `ch:"policy_digest"`
}

// Append adds one row.
func (r *VerdictRows) Append(x Verdict) {
	r.appendScope(x.Scope)
	r.VerdictID = append(r.VerdictID, x.VerdictID)
	r.Lens = append(r.Lens, x.Lens)
	r.KPI = append(r.KPI, x.KPI)
	r.KPIScope = append(r.KPIScope, x.KPIScope)
	r.Status = append(r.Status, x.Status)
	r.Reason = append(r.Reason, x.Reason)
	r.Value = append(r.Value, x.Value)
	r.Baseline = append(r.Baseline, x.Baseline)
	r.Budget = append(r.Budget, x.Budget)
	r.Test = append(r.Test, x.Test)
	r.PValue = append(r.PValue, x.PValue)
	r.Owner = append(r.Owner, x.Owner)
	r.Summary = append(r.Summary, x.Summary)
	r.EvidenceIDs = append(r.EvidenceIDs, x.EvidenceIDs)
	r.PolicyDigest = append(r.PolicyDigest, x.PolicyDigest)
}

func (r *VerdictRows) Name() string                  { return "verdicts" }
func (r *VerdictRows) Columns() []string             { return ColumnNames(r) }
func (r *VerdictRows) Len() int                      { return len(r.Tenant) }
func (r *VerdictRows) AppendTo(b driver.Batch) error { return AppendColumns(b, r) }
func (r *VerdictRows) Reset()                        { ResetColumns(r) }

// Waiver is the latest state of one waiver from the policy; the newest UpdatedAt wins.
type Waiver struct {
	Tenant    string
	WaiverID  string
	Lens      string
	Target    string
	Scope     string
	Owner     string
	Reason    string
	CreatedAt time.Time
	ExpiresAt time.Time
	UpdatedAt time.Time
	Revoked   bool
}

// WaiverRows holds waivers rows column by column.
type WaiverRows struct {
	Tenant    []string    `ch:"tenant"`
	WaiverID  []string    `ch:"waiver_id"`
	Lens      []string    `ch:"lens"`
	Target    []string    `ch:"target"`
	Scope     []string    `ch:"scope"`
	Owner     []string    `ch:"owner"`
	Reason    []string    `ch:"reason"`
	CreatedAt []time.Time `ch:"created_at"`
	ExpiresAt []time.Time `ch:"expires_at"`
	UpdatedAt []time.Time `ch:"updated_at"`
	Revoked   []uint8     `ch:"revoked"`
}

// Append adds one row.
func (r *WaiverRows) Append(x Waiver) {
	r.Tenant = append(r.Tenant, x.Tenant)
	r.WaiverID = append(r.WaiverID, x.WaiverID)
	r.Lens = append(r.Lens, x.Lens)
	r.Target = append(r.Target, x.Target)
	r.Scope = append(r.Scope, x.Scope)
	r.Owner = append(r.Owner, x.Owner)
	r.Reason = append(r.Reason, x.Reason)
	r.CreatedAt = append(r.CreatedAt, x.CreatedAt)
	r.ExpiresAt = append(r.ExpiresAt, x.ExpiresAt)
	r.UpdatedAt = append(r.UpdatedAt, x.UpdatedAt)
	r.Revoked = append(r.Revoked, u8(x.Revoked))
}

func (r *WaiverRows) Name() string                  { return "waivers" }
func (r *WaiverRows) Columns() []string             { return ColumnNames(r) }
func (r *WaiverRows) Len() int                      { return len(r.Tenant) }
func (r *WaiverRows) AppendTo(b driver.Batch) error { return AppendColumns(b, r) }
func (r *WaiverRows) Reset()                        { ResetColumns(r) }

// Checkpoint is a signed head of a tenant's evidence chain.
type Checkpoint struct {
	Tenant      string
	ChainSeq    uint64
	ChainDigest string
	SignedAt    time.Time
	KeyID       string
	Signature   string
}

// CheckpointRows holds evidence_checkpoints rows column by column.
type CheckpointRows struct {
	Tenant      []string    `ch:"tenant"`
	ChainSeq    []uint64    `ch:"chain_seq"`
	ChainDigest []string    `ch:"chain_digest"`
	SignedAt    []time.Time `ch:"signed_at"`
	KeyID       []string    `ch:"key_id"`
	Signature   []string    `ch:"signature"`
}

// Append adds one row.
func (r *CheckpointRows) Append(x Checkpoint) {
	r.Tenant = append(r.Tenant, x.Tenant)
	r.ChainSeq = append(r.ChainSeq, x.ChainSeq)
	r.ChainDigest = append(r.ChainDigest, x.ChainDigest)
	r.SignedAt = append(r.SignedAt, x.SignedAt)
	r.KeyID = append(r.KeyID, x.KeyID)
	r.Signature = append(r.Signature, x.Signature)
}

func (r *CheckpointRows) Name() string                  { return "evidence_checkpoints" }
func (r *CheckpointRows) Columns() []string             { return ColumnNames(r) }
func (r *CheckpointRows) Len() int                      { return len(r.Tenant) }
func (r *CheckpointRows) AppendTo(b driver.Batch) error { return AppendColumns(b, r) }
func (r *CheckpointRows) Reset()                        { ResetColumns(r) }
