package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/store"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

// Rows maps decoded events to table rows: the evidence_log row of every
// envelope and the payload's rows, one table per kind. The zero value is
// ready to use; Reset keeps the column arrays for the next batch.
type Rows struct {
	// Now stamps stored_at; time.Now when nil.
	Now func() time.Time

	EvidenceLog         store.EvidenceLogRows
	Findings            store.FindingRows
	FindingObservations store.FindingObservationRows
	Components          store.ComponentRows
	Artifacts           store.ArtifactRows
	JourneyLatency      store.JourneyLatencyRows
	HopLatency          store.HopLatencyRows
	TraceDetections     store.TraceDetectionRows
	LoadRuns            store.LoadRunRows
	LoadSteps           store.LoadStepRows
	WebVitals           store.WebVitalsRows
	Changes             store.ChangeRows
	Verdicts            store.VerdictRows
}

// Tables lists every table, empty ones included (Insert skips them).
func (r *Rows) Tables() []store.Table {
	return []store.Table{
		&r.EvidenceLog, &r.Findings, &r.FindingObservations, &r.Components, &r.Artifacts,
		&r.JourneyLatency, &r.HopLatency, &r.TraceDetections, &r.LoadRuns, &r.LoadSteps,
		&r.WebVitals, &r.Changes, &r.Verdicts,
	}
}

// Len is the number of rows in all tables.
func (r *Rows) Len() int {
	n := 0
	for _, t := range r.Tables() {
		n += t.Len()
	}
	return n
}

// Reset empties every table.
func (r *Rows) Reset() {
	for _, t := range r.Tables() {
		t.Reset()
	}
}

// AddMessage appends the rows of an event decoded from data, keeping data
// in the evidence log so the log can be verified and re-scored.
func (r *Rows) AddMessage(ev *eventv1.Event, data []byte) {
	sum := sha256.Sum256(data)
	r.Add(ev, hex.EncodeToString(sum[:]), len(data))
	r.EvidenceLog.Message[len(r.EvidenceLog.Message)-1] = string(data)
}

// Add appends the rows of one event. msgDigest and msgSize describe the raw
// message it was decoded from (sha256 hex), for the audit trail.
func (r *Rows) Add(ev *eventv1.Event, msgDigest string, msgSize int) {
	env := ev.GetEnvelope()
	sub := env.GetSubject()
	observed := TimeOf(env.GetObservedAt())
	if env.GetObservedAt() == nil {
		observed = TimeOf(env.GetReceivedAt())
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	r.EvidenceLog.Append(store.EvidenceLog{
		EventID:           env.GetEventId(),
		Tenant:            env.GetTenant(),
		Kind:              events.KindName(env.GetKind()),
		SchemaVersion:     env.GetSchemaVersion(),
		Collector:         env.GetProducer().GetCollector(),
		Tool:              env.GetProducer().GetTool(),
		ToolVersion:       env.GetProducer().GetToolVersion(),
		Repository:        sub.GetRepository(),
		Commit:            sub.GetCommit(),
		Branch:            sub.GetBranch(),
		BaseBranch:        sub.GetBaseBranch(),
		PipelineRun:       sub.GetPipelineRun(),
		Environment:       EnumName(sub.GetEnvironment(), "ENVIRONMENT_"),
		Service:           sub.GetService(),
		Journey:           sub.GetJourney(),
		Release:           sub.GetRelease(),
		ObservedAt:        observed,
		ReceivedAt:        TimeOf(env.GetReceivedAt()),
		StoredAt:          ClampTime(now()),
		DocumentSHA256:    env.GetDocument().GetSha256(),
		DocumentSize:      env.GetDocument().GetSize(),
		DocumentMediaType: env.GetDocument().GetMediaType(),
		DocumentName:      env.GetDocument().GetName(),
		ReportID:          env.GetPart().GetReportId(),
		PartIndex:         env.GetPart().GetIndex(),
		PartCount:         env.GetPart().GetCount(),
		MessageSHA256:     msgDigest,
		MessageSize:       uint32(msgSize),
	})

	scope := store.Scope{
		Tenant:      env.GetTenant(),
		EventID:     env.GetEventId(),
		Repository:  sub.GetRepository(),
		Commit:      sub.GetCommit(),
		Branch:      sub.GetBranch(),
		Environment: EnumName(sub.GetEnvironment(), "ENVIRONMENT_"),
		Service:     sub.GetService(),
		Journey:     sub.GetJourney(),
		ObservedAt:  observed,
	}
	switch p := ev.GetPayload().(type) {
	case *eventv1.Event_Scan:
		r.addScan(scope, env, p)
	case *eventv1.Event_Sbom:
		r.addSBOM(scope, p)
	case *eventv1.Event_Artifact:
		r.addArtifact(scope, p)
	case *eventv1.Event_TraceWindows:
		r.addWindows(scope, p)
	case *eventv1.Event_TraceDetections:
		r.addDetections(scope, p)
	case *eventv1.Event_LoadRun:
		r.AddLoadRun(scope, p)
	case *eventv1.Event_WebVitals:
		r.addWebVitals(scope, p)
	case *eventv1.Event_Changes:
		r.addChanges(scope, p)
	case *eventv1.Event_Verdict:
		r.addVerdict(scope, p)
	}
}

func (r *Rows) addScan(scope store.Scope, env *eventv1.Envelope, p *eventv1.Event_Scan) {
	b := p.Scan
	tool := b.GetTool()
	if tool == "" {
		tool = env.GetProducer().GetTool()
	}
	part, sc := env.GetPart(), b.GetScope()
	for _, f := range b.GetFindings() {
		severity := EnumName(f.GetSeverity(), "SEVERITY_")
		category := EnumName(f.GetCategory(), "CATEGORY_")
		r.Findings.Append(store.Finding{
			Scope:            scope,
			Fingerprint:      f.GetFingerprint(),
			ReportID:         part.GetReportId(),
			Tool:             tool,
			RuleID:           f.GetRuleId(),
			Title:            f.GetTitle(),
			Severity:         severity,
			Category:         category,
			CVSSScore:        f.GetCvssScore(),
			CVSSVector:       f.GetCvssVector(),
			Aliases:          f.GetAliases(),
			CWEs:             f.GetCwes(),
			PackageName:      f.GetPackageName(),
			PackageType:      f.GetPackageType(),
			Purl:             f.GetPurl(),
			InstalledVersion: f.GetInstalledVersion(),
			FixedVersion:     f.GetFixedVersion(),
			Path:             f.GetPath(),
			StartLine:        f.GetStartLine(),
			EndLine:          f.GetEndLine(),
			HelpURI:          f.GetHelpUri(),
			Message:          f.GetMessage(),
			Reachability:     EnumName(f.GetReachability(), "REACHABILITY_"),
			ScopeRoot:        sc.GetRoot(),
			ScopeLanguage:    sc.GetLanguage(),
			ScopeTarget:      sc.GetTarget(),
			AutomationID:     sc.GetAutomationId(),
		})
		r.FindingObservations.Append(store.FindingObservation{
			Scope:       scope,
			Fingerprint: f.GetFingerprint(),
			ReportID:    part.GetReportId(),
			PartIndex:   part.GetIndex(),
			PartCount:   part.GetCount(),
			Tool:        tool,
			RuleID:      f.GetRuleId(),
			Severity:    severity,
			Category:    category,
		})
	}
}

func (r *Rows) addSBOM(scope store.Scope, p *eventv1.Event_Sbom) {
	b := p.Sbom
	for i, c := range b.GetComponents() {
		r.Components.Append(store.Component{
			Scope:             scope,
			Idx:               uint32(i),
			ArtifactName:      b.GetArtifactName(),
			ArtifactDigest:    b.GetArtifactDigest(),
			Format:            b.GetFormat(),
			SpecVersion:       b.GetSpecVersion(),
			LockfilePresent:   b.GetLockfilePresent(),
			Purl:              c.GetPurl(),
			ComponentName:     c.GetName(),
			Version:           c.GetVersion(),
			Type:              c.GetType(),
			Licenses:          c.GetLicenses(),
			CPE:               c.GetCpe(),
			VersionConstraint: c.GetVersionConstraint(),
			Pinned:            c.GetPinned(),
			Location:          c.GetLocation(),
		})
	}
}

func (r *Rows) addArtifact(scope store.Scope, p *eventv1.Event_Artifact) {
	a := p.Artifact
	prov := a.GetProvenance()
	r.Artifacts.Append(store.Artifact{
		Scope:             scope,
		ArtifactName:      a.GetName(),
		Digest:            a.GetDigest(),
		Signed:            a.GetSigned(),
		Verified:          a.GetVerified(),
		VerificationError: a.GetVerificationError(),
		SignatureFormat:   a.GetSignatureFormat(),
		SignerIdentity:    a.GetSignerIdentity(),
		SignerIssuer:      a.GetSignerIssuer(),
		PredicateType:     prov.GetPredicateType(),
		BuilderID:         prov.GetBuilderId(),
		BuildType:         prov.GetBuildType(),
		SourceRepository:  prov.GetSourceRepository(),
		SourceCommit:      prov.GetSourceCommit(),
		SLSALevel:         prov.GetSlsaLevel(),
		SubjectMatch:      prov.GetSubjectMatch(),
		MismatchReason:    prov.GetMismatchReason(),
	})
}

// addWindows: a window's own service and journey win over the subject's.
func (r *Rows) addWindows(scope store.Scope, p *eventv1.Event_TraceWindows) {
	for i, w := range p.TraceWindows.GetWindows() {
		ws := scope
		ws.Service = Or(w.GetService(), scope.Service)
		ws.Journey = Or(w.GetJourney(), scope.Journey)
		start := UnixNano(w.GetStartUnixNano())
		dur := float64(w.GetDurationNanos()) / 1e9
		r.JourneyLatency.Append(store.JourneyLatency{
			Scope:       ws,
			Idx:         uint32(i),
			WindowStart: start,
			DurationS:   dur,
			Count:       w.GetCount(),
			Errors:      w.GetErrors(),
			P50Ms:       w.GetP50Ms(),
			P95Ms:       w.GetP95Ms(),
			P99Ms:       w.GetP99Ms(),
			MaxMs:       w.GetMaxMs(),
			Sketch:      string(w.GetSketch()),
		})
		for j, h := range w.GetHops() {
			r.HopLatency.Append(store.HopLatency{
				Scope:       ws,
				WindowIdx:   uint32(i),
				Idx:         uint32(j),
				WindowStart: start,
				DurationS:   dur,
				Hop:         EnumName(h.GetHop(), "HOP_CLASS_"),
				Peer:        h.GetPeer(),
				Count:       h.GetCount(),
				P50Ms:       h.GetP50Ms(),
				P95Ms:       h.GetP95Ms(),
				P99Ms:       h.GetP99Ms(),
				TotalMs:     h.GetTotalMs(),
				Sketch:      string(h.GetSketch()),
			})
		}
	}
}

func (r *Rows) addDetections(scope store.Scope, p *eventv1.Event_TraceDetections) {
	for i, d := range p.TraceDetections.GetDetections() {
		ds := scope
		ds.Service = Or(d.GetService(), scope.Service)
		ds.Journey = Or(d.GetJourney(), scope.Journey)
		r.TraceDetections.Append(store.TraceDetection{
			Scope:            ds,
			Idx:              uint32(i),
			WindowStart:      UnixNano(d.GetWindowStartUnixNano()),
			Type:             EnumName(d.GetType(), "DETECTION_TYPE_"),
			Fingerprint:      d.GetFingerprint(),
			Operation:        d.GetOperation(),
			ParentOperation:  d.GetParentOperation(),
			Occurrences:      d.GetOccurrences(),
			AffectedTraces:   d.GetAffectedTraces(),
			TotalMs:          d.GetTotalMs(),
			SavingsMs:        d.GetSavingsMs(),
			ExemplarTraceIDs: d.GetExemplarTraceIds(),
		})
	}
}

// AddLoadRun writes one row per scenario; a run without scenarios still gets
// one (scenario "") so its capacity and thresholds are kept.
func (r *Rows) AddLoadRun(scope store.Scope, p *eventv1.Event_LoadRun) {
	run := p.LoadRun
	var failed []string
	for _, t := range run.GetThresholds() {
		if !t.GetPassed() {
			failed = append(failed, t.GetMetric()+": "+t.GetExpression())
		}
	}
	capa := run.GetCapacity()
	scenarios := run.GetScenarios()
	if len(scenarios) == 0 {
		scenarios = append(scenarios, nil) // the Get methods read nil as zero
	}
	for i, s := range scenarios {
		r.LoadRuns.Append(store.LoadRun{
			Scope:              scope,
			Idx:                uint32(i),
			RunID:              run.GetRunId(),
			TestName:           run.GetTestName(),
			Format:             run.GetFormat(),
			StartedAt:          UnixNano(run.GetStartedUnixNano()),
			DurationS:          run.GetDurationS(),
			ThresholdsPassed:   run.GetThresholdsPassed(),
			ThresholdsFailed:   failed,
			Scenario:           s.GetScenario(),
			Requests:           s.GetRequests(),
			RPS:                s.GetRps(),
			P50Ms:              s.GetP50Ms(),
			P90Ms:              s.GetP90Ms(),
			P95Ms:              s.GetP95Ms(),
			P99Ms:              s.GetP99Ms(),
			FailedRate:         s.GetFailedRate(),
			Iterations:         s.GetIterations(),
			VUsMax:             s.GetVusMax(),
			ChecksPassed:       s.GetChecksPassed(),
			ChecksFailed:       s.GetChecksFailed(),
			MaxSustainableRPS:  capa.GetMaxSustainableRps(),
			KneeRPS:            capa.GetKneeRps(),
			LittlesLawRatio:    capa.GetLittlesLawRatio(),
			GeneratorSaturated: capa.GetGeneratorSaturated(),
			Headroom:           capa.GetHeadroom(),
			Absent:             NonNil(s.GetAbsent()),
		})
	}
	for i, s := range run.GetSteps() {
		r.LoadSteps.Append(store.LoadStep{
			Scope:     scope,
			Idx:       uint32(i),
			RunID:     run.GetRunId(),
			TestName:  run.GetTestName(),
			StepStart: UnixNano(s.GetStartUnixNano()),
			DurationS: s.GetDurationS(),
			VUs:       s.GetVus(),
			RPS:       s.GetRps(),
			P95Ms:     s.GetP95Ms(),
			ErrorRate: s.GetErrorRate(),
		})
	}
}

func (r *Rows) addWebVitals(scope store.Scope, p *eventv1.Event_WebVitals) {
	w := p.WebVitals
	r.WebVitals.Append(store.WebVitals{
		Scope:             scope,
		URL:               w.GetUrl(),
		FormFactor:        w.GetFormFactor(),
		LCPMs:             w.GetLcpMs(),
		CLS:               w.GetCls(),
		TBTMs:             w.GetTbtMs(),
		INPMs:             w.GetInpMs(),
		TTFBMs:            w.GetTtfbMs(),
		FCPMs:             w.GetFcpMs(),
		SpeedIndexMs:      w.GetSpeedIndexMs(),
		PerformanceScore:  w.GetPerformanceScore(),
		Runs:              w.GetRuns(),
		LighthouseVersion: w.GetLighthouseVersion(),
		Absent:            NonNil(w.GetAbsent()),
	})
}

func (r *Rows) addChanges(scope store.Scope, p *eventv1.Event_Changes) {
	for i, c := range p.Changes.GetChanges() {
		shas := make([]string, len(c.GetCommits()))
		times := make([]time.Time, len(c.GetCommits()))
		for j, cm := range c.GetCommits() {
			shas[j], times[j] = cm.GetSha(), UnixNano(cm.GetCommittedUnixNano())
		}
		r.Changes.Append(store.Change{
			Scope:      scope,
			Idx:        uint32(i),
			ChangeID:   c.GetId(),
			Type:       EnumName(c.GetType(), "CHANGE_TYPE_"),
			Status:     c.GetStatus(),
			StartedAt:  UnixNano(c.GetStartedUnixNano()),
			FinishedAt: UnixNano(c.GetFinishedUnixNano()),
			URL:        c.GetUrl(),
			Title:      c.GetTitle(),

			Source:          c.GetSource(),
			SourceEvent:     c.GetSourceEvent(),
			EnvironmentName: c.GetEnvironment(),
			Artifact:        c.GetArtifact(),
			ArtifactDigest:  c.GetArtifactDigest(),
			CommitSHAs:      shas,
			CommitTimes:     times,
			RollbackOf:      c.GetRollbackOf(),
			Severity:        c.GetSeverity(),
			Pipeline:        c.GetPipeline(),
		})
	}
}

// addVerdict: a verdict without its own id is identified by its event.
func (r *Rows) addVerdict(scope store.Scope, p *eventv1.Event_Verdict) {
	v := p.Verdict
	r.Verdicts.Append(store.Verdict{
		Scope:       scope,
		VerdictID:   Or(v.GetVerdictId(), scope.EventID),
		Lens:        EnumName(v.GetLens(), "LENS_"),
		KPI:         v.GetKpi(),
		KPIScope:    v.GetScope(),
		Status:      EnumName(v.GetStatus(), "STATUS_"),
		Reason:      v.GetReason(),
		Value:       v.GetValue(),
		Baseline:    v.GetBaseline(),
		Budget:      v.GetBudget(),
		Test:        v.GetTest(),
		PValue:      v.GetPValue(),
		Owner:       v.GetOwner(),
		Summary:     v.GetSummary(),
		EvidenceIDs: v.GetEvidenceIds(),
	})
}
