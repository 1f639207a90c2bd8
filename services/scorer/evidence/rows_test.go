package evidence

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
	changev1 "github.com/trilens/trilens/proto/trilens/change/v1"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	loadtestv1 "github.com/trilens/trilens/proto/trilens/loadtest/v1"
	sbomv1 "github.com/trilens/trilens/proto/trilens/sbom/v1"
	scanv1 "github.com/trilens/trilens/proto/trilens/scan/v1"
	scorev1 "github.com/trilens/trilens/proto/trilens/score/v1"
	tracev1 "github.com/trilens/trilens/proto/trilens/trace/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var observed = time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)

func envelope(id string, kind eventv1.Kind) *eventv1.Envelope {
	return &eventv1.Envelope{
		EventId:       id,
		Tenant:        "acme",
		Kind:          kind,
		SchemaVersion: 1,
		Producer:      &eventv1.Producer{Collector: "test", Tool: "tool", ToolVersion: "1.0"},
		Subject: &eventv1.Subject{
			Repository: "github.com/acme/shop", Commit: "abc123", Branch: "feature", BaseBranch: "main",
			PipelineRun: "run-7", Environment: eventv1.Environment_ENVIRONMENT_PRODUCTION,
			Service: "checkout", Journey: "buy", Release: "v1.2.3",
		},
		ObservedAt: timestamppb.New(observed),
		ReceivedAt: timestamppb.New(observed.Add(time.Second)),
		Part:       &eventv1.Part{ReportId: "rep-" + id, Index: 1, Count: 2},
		Document:   &eventv1.DocumentRef{Sha256: "d1g", Size: 123, MediaType: "application/sarif+json", Name: "scan.sarif"},
	}
}

// sampleEvents has one event of every kind, with repeated rows where the
// payload has them.
func sampleEvents() []*eventv1.Event {
	const ms = int64(time.Millisecond)
	return []*eventv1.Event{
		{Envelope: envelope("scan-1", eventv1.Kind_KIND_SCAN), Payload: &eventv1.Event_Scan{Scan: &scanv1.FindingBatch{
			Tool: "trivy", Scope: &scanv1.ReportScope{Root: "services/api", Language: "go", Target: "shop:1.2", AutomationId: "ci/trivy/"},
			Findings: []*scanv1.Finding{
				{Fingerprint: "fp-1", RuleId: "CVE-2026-1", Severity: scanv1.Severity_SEVERITY_HIGH, Category: scanv1.Category_CATEGORY_VULNERABILITY, Aliases: []string{"GHSA-x"}, CvssScore: 8.1,
					Reachability: scanv1.Reachability_REACHABILITY_CALLED},
				{Fingerprint: "fp-2", RuleId: "G101", Severity: scanv1.Severity_SEVERITY_UNSPECIFIED, Category: scanv1.Category_CATEGORY_SECRET, StartLine: 7},
			}}}},
		{Envelope: envelope("sbom-1", eventv1.Kind_KIND_SBOM), Payload: &eventv1.Event_Sbom{Sbom: &sbomv1.ComponentBatch{
			ArtifactName: "shop", ArtifactDigest: "sha256:aa", Format: "cyclonedx", LockfilePresent: true, Components: []*sbomv1.Component{
				{Purl: "pkg:golang/a@v1", Name: "a", Version: "v1", Licenses: []string{"MIT"}, Pinned: true},
				{Purl: "pkg:npm/b@^2", Name: "b", VersionConstraint: "^2"},
				{Purl: "pkg:golang/a@v1", Name: "a", Version: "v1"}, // listed twice: still two rows
			}}}},
		{Envelope: envelope("art-1", eventv1.Kind_KIND_ARTIFACT), Payload: &eventv1.Event_Artifact{Artifact: &sbomv1.Artifact{
			Name: "shop", Digest: "sha256:aa", Signed: true, Verified: false, VerificationError: "no bundle",
			Provenance: &sbomv1.Provenance{BuilderId: "gha", SlsaLevel: 3, SubjectMatch: true}}}},
		{Envelope: envelope("win-1", eventv1.Kind_KIND_TRACE_WINDOW), Payload: &eventv1.Event_TraceWindows{TraceWindows: &tracev1.WindowBatch{Windows: []*tracev1.Window{
			{StartUnixNano: observed.UnixNano(), DurationNanos: 60 * int64(time.Second), Service: "api", Journey: "search", Count: 100, P95Ms: 120, Sketch: []byte{0, 1, 2},
				Hops: []*tracev1.HopLatency{{Hop: tracev1.HopClass_HOP_CLASS_DB, Peer: "postgresql", P95Ms: 80}, {Hop: tracev1.HopClass_HOP_CLASS_CDN, P95Ms: 30}}},
			{StartUnixNano: observed.UnixNano() + 60*int64(time.Second), DurationNanos: 60 * int64(time.Second), Count: 90,
				Hops: []*tracev1.HopLatency{{Hop: tracev1.HopClass_HOP_CLASS_API, P95Ms: 100}}},
		}}}},
		{Envelope: envelope("det-1", eventv1.Kind_KIND_TRACE_DETECTION), Payload: &eventv1.Event_TraceDetections{TraceDetections: &tracev1.DetectionBatch{Detections: []*tracev1.Detection{
			{Type: tracev1.DetectionType_DETECTION_TYPE_N_PLUS_ONE, Fingerprint: "np1", Operation: "SELECT ? FROM items", Occurrences: 40, ExemplarTraceIds: []string{"t1", "t2"}, WindowStartUnixNano: observed.UnixNano()},
			{Type: tracev1.DetectionType_DETECTION_TYPE_SLOW_QUERY, Fingerprint: "slow", Service: "db-svc"},
		}}}},
		{Envelope: envelope("load-1", eventv1.Kind_KIND_LOAD_RUN), Payload: &eventv1.Event_LoadRun{LoadRun: &loadtestv1.LoadRun{
			RunId: "r1", TestName: "checkout", StartedUnixNano: observed.UnixNano(), DurationS: 300,
			Scenarios:  []*loadtestv1.ScenarioStats{{Scenario: "", Rps: 500, P95Ms: 210}, {Scenario: "browse", Rps: 300}},
			Thresholds: []*loadtestv1.Threshold{{Metric: "http_req_duration", Expression: "p(95)<200", Passed: false}, {Metric: "checks", Expression: "rate>0.99", Passed: true}},
			Steps:      []*loadtestv1.Step{{StartUnixNano: observed.UnixNano(), Vus: 10, Rps: 100}, {StartUnixNano: observed.UnixNano() + 60e3*ms, Vus: 20, Rps: 190}, {Vus: 40, Rps: 200}},
			Capacity:   &loadtestv1.Capacity{MaxSustainableRps: 190, KneeRps: 180, GeneratorSaturated: true},
		}}},
		{Envelope: envelope("vitals-1", eventv1.Kind_KIND_WEB_VITALS), Payload: &eventv1.Event_WebVitals{WebVitals: &loadtestv1.WebVitals{
			Url: "https://shop/", FormFactor: "mobile", LcpMs: 2100, Cls: 0.05, Runs: 3}}},
		{Envelope: envelope("chg-1", eventv1.Kind_KIND_CHANGE), Payload: &eventv1.Event_Changes{Changes: &changev1.ChangeBatch{Changes: []*changev1.Change{
			{Id: "deploy-9", Type: changev1.ChangeType_CHANGE_TYPE_DEPLOY, Status: "success", StartedUnixNano: observed.UnixNano(),
				Environment: "prod-eu", ArtifactDigest: "sha256:ab", Source: "github",
				Commits: []*changev1.Commit{{Sha: "c1", CommittedUnixNano: observed.Add(-time.Hour).UnixNano()}, {Sha: "c0"}}},
			{Id: "inc-3", Type: changev1.ChangeType_CHANGE_TYPE_INCIDENT, Status: "open"},
		}}}},
		{Envelope: envelope("ver-1", eventv1.Kind_KIND_VERDICT), Payload: &eventv1.Event_Verdict{Verdict: &scorev1.Verdict{
			Lens: scorev1.Lens_LENS_PERFORMANCE, Kpi: "p95_ms", Scope: "checkout/buy", Status: scorev1.Status_STATUS_FAIL,
			Reason: "regression", Value: 250, Baseline: 200, EvidenceIds: []string{"win-1"}}}},
	}
}

// wantRows is how many rows one copy of sampleEvents gives each table.
var wantRows = map[string]int{
	"evidence_log": 9, "findings": 2, "finding_observations": 2, "components": 3, "artifacts": 1,
	"journey_latency": 2, "hop_latency": 3, "trace_detections": 2, "load_runs": 2, "load_steps": 3,
	"web_vitals": 1, "changes": 2, "verdicts": 1,
}

func TestRowsCounts(t *testing.T) {
	var r Rows
	for _, ev := range sampleEvents() {
		r.Add(ev, "msgsha", 321)
	}
	total := 0
	for _, tbl := range r.Tables() {
		if tbl.Len() != wantRows[tbl.Name()] {
			t.Errorf("%s: %d rows, want %d", tbl.Name(), tbl.Len(), wantRows[tbl.Name()])
		}
		total += wantRows[tbl.Name()]
	}
	if r.Len() != total {
		t.Errorf("Len %d, want %d", r.Len(), total)
	}
	r.Reset()
	if r.Len() != 0 {
		t.Errorf("Len %d after Reset", r.Len())
	}
}

func TestRowsMapping(t *testing.T) {
	stored := time.Date(2026, 11, 3, 12, 5, 0, 0, time.UTC)
	r := Rows{Now: func() time.Time { return stored }}
	for _, ev := range sampleEvents() {
		r.Add(ev, "msgsha", 321)
	}
	check := func(what string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	el := &r.EvidenceLog
	check("evidence kind", el.Kind[0], "scan")
	check("evidence kind of verdict", el.Kind[8], "verdict")
	check("evidence environment", el.Environment[0], "production")
	check("evidence base branch", el.BaseBranch[0], "main")
	check("evidence release", el.Release[0], "v1.2.3")
	check("evidence producer", el.Collector[0]+"/"+el.Tool[0]+"/"+el.ToolVersion[0], "test/tool/1.0")
	check("evidence times", []time.Time{el.ObservedAt[0], el.ReceivedAt[0], el.StoredAt[0]}, []time.Time{observed, observed.Add(time.Second), stored})
	check("evidence document", words(el.DocumentSHA256[0], el.DocumentSize[0], el.DocumentMediaType[0], el.DocumentName[0]), "d1g 123 application/sarif+json scan.sarif")
	check("evidence part", words(el.ReportID[0], el.PartIndex[0], el.PartCount[0]), "rep-scan-1 1 2")
	check("evidence message", words(el.MessageSHA256[0], el.MessageSize[0]), "msgsha 321")

	f := &r.Findings
	check("finding scope", words(f.Tenant[0], f.EventID[0], f.Repository[0], f.Branch[0], f.Service[0]), "acme scan-1 github.com/acme/shop feature checkout")
	check("finding severity", f.Severity, []string{"high", ""})
	check("finding category", f.Category, []string{"vulnerability", "secret"})
	check("finding tool", f.Tool[1], "trivy")
	check("finding aliases", f.Aliases[0], []string{"GHSA-x"})
	check("finding report", f.ReportID[0], "rep-scan-1")
	check("finding reachability", f.Reachability, []string{"called", ""})
	check("finding run scope", words(f.ScopeRoot[1], f.ScopeLanguage[1], f.ScopeTarget[1], f.AutomationID[1]), "services/api go shop:1.2 ci/trivy/")
	check("observation fingerprints", r.FindingObservations.Fingerprint, []string{"fp-1", "fp-2"})

	c := &r.Components
	check("component idx", c.Idx, []uint32{0, 1, 2})
	check("component pinned", c.Pinned, []uint8{1, 0, 0})
	check("component lockfile", c.LockfilePresent[2], uint8(1))
	check("component name", c.ComponentName[1], "b")

	a := &r.Artifacts
	check("artifact", words(a.Signed[0], a.Verified[0], a.BuilderID[0], a.SLSALevel[0], a.SubjectMatch[0]), "1 0 gha 3 1")

	jl := &r.JourneyLatency
	check("window service falls back to subject", jl.Service, []string{"api", "checkout"})
	check("window journey", jl.Journey, []string{"search", "buy"})
	check("window start", jl.WindowStart[1], observed.Add(time.Minute))
	check("window duration", jl.DurationS[0], 60.0)
	check("window sketch", []byte(jl.Sketch[0]), []byte{0, 1, 2})
	hl := &r.HopLatency
	check("hops", hl.Hop, []string{"db", "cdn", "api"})
	check("hop windows", hl.WindowIdx, []uint32{0, 0, 1})
	check("hop idx", hl.Idx, []uint32{0, 1, 0})
	check("hop service", hl.Service, []string{"api", "api", "checkout"})

	td := &r.TraceDetections
	check("detection types", td.Type, []string{"n_plus_one", "slow_query"})
	check("detection service", td.Service, []string{"checkout", "db-svc"})
	check("detection exemplars", td.ExemplarTraceIDs[0], []string{"t1", "t2"})

	lr := &r.LoadRuns
	check("load scenarios", lr.Scenario, []string{"", "browse"})
	check("load failed thresholds", lr.ThresholdsFailed[1], []string{"http_req_duration: p(95)<200"})
	check("load capacity", words(lr.MaxSustainableRPS[1], lr.KneeRPS[1], lr.GeneratorSaturated[1]), "190 180 1")
	check("load started", lr.StartedAt[0], observed)
	check("load steps", r.LoadSteps.VUs, []float64{10, 20, 40})
	check("load step start of zero", r.LoadSteps.StepStart[2], time.Unix(0, 0).UTC())

	check("vitals", words(r.WebVitals.URL[0], r.WebVitals.LCPMs[0], r.WebVitals.Runs[0]), "https://shop/ 2100 3")
	check("changes", r.Changes.Type, []string{"deploy", "incident"})
	check("change ids", r.Changes.ChangeID, []string{"deploy-9", "inc-3"})
	check("change environments", r.Changes.EnvironmentName, []string{"prod-eu", ""})
	check("change digests", r.Changes.ArtifactDigest, []string{"sha256:ab", ""})
	check("change commits", r.Changes.CommitSHAs[0], []string{"c1", "c0"})
	if ct := r.Changes.CommitTimes[0]; !ct[0].Equal(observed.Add(-time.Hour)) || !ct[1].Equal(MinDateTime) {
		t.Errorf("commit times %v: want the first commit's time, then MinDateTime for the unknown one", ct)
	}

	v := &r.Verdicts
	check("verdict id falls back to event id", v.VerdictID[0], "ver-1")
	check("verdict", words(v.Lens[0], v.Status[0], v.KPIScope[0], v.Baseline[0]), "performance fail checkout/buy 200")
}

func TestRowsEdgeCases(t *testing.T) {
	var r Rows
	// A run without scenarios keeps one row for its capacity.
	r.Add(&eventv1.Event{Envelope: envelope("load-2", eventv1.Kind_KIND_LOAD_RUN), Payload: &eventv1.Event_LoadRun{LoadRun: &loadtestv1.LoadRun{
		RunId: "r2", Capacity: &loadtestv1.Capacity{KneeRps: 50}}}}, "", 0)
	if r.LoadRuns.Len() != 1 || r.LoadRuns.KneeRPS[0] != 50 || r.LoadRuns.Scenario[0] != "" {
		t.Errorf("run without scenarios: %+v", r.LoadRuns)
	}
	// No observed_at: received_at; neither: the epoch. Far-future times clamp.
	env := envelope("x", eventv1.Kind_KIND_CHANGE)
	env.ObservedAt = nil
	r.Add(&eventv1.Event{Envelope: env, Payload: &eventv1.Event_Changes{Changes: &changev1.ChangeBatch{Changes: []*changev1.Change{
		{Id: "c", FinishedUnixNano: 1 << 62}}}}}, "", 0)
	if got := r.EvidenceLog.ObservedAt[1]; !got.Equal(observed.Add(time.Second)) {
		t.Errorf("observed_at without observed: %v", got)
	}
	if got := r.Changes.FinishedAt[0]; got.Year() != 2106 {
		t.Errorf("far future clamps to 2106, got %v", got)
	}
	r.Add(&eventv1.Event{Envelope: &eventv1.Envelope{EventId: "bare", Tenant: "acme"}}, "", 0)
	if got := r.EvidenceLog.ObservedAt[2]; !got.Equal(time.Unix(0, 0)) {
		t.Errorf("observed_at of a bare envelope: %v", got)
	}
}

// TestRowsRedeliveryCollapses inserts every kind twice (as a redelivery
// would) and checks that FINAL sees each row once, and that a later sighting
// of a finding replaces its state.
func TestRowsRedeliveryCollapses(t *testing.T) {
	ctx := context.Background()
	st := chtest.Store(t)
	var r Rows
	for range 2 {
		for _, ev := range sampleEvents() {
			r.Add(ev, "msgsha", 321)
		}
		if err := st.Insert(ctx, r.Tables()...); err != nil {
			t.Fatal(err)
		}
		r.Reset()
	}
	for table, want := range wantRows {
		if got := finalCount(t, st, table, ""); got != uint64(want) {
			t.Errorf("%s: %d rows with FINAL, want %d", table, got, want)
		}
	}

	// A new scan of the same branch sees fp-1 again, now critical.
	later := sampleEvents()[0]
	later.Envelope.EventId = "scan-2"
	later.Envelope.ObservedAt = timestamppb.New(observed.Add(time.Hour))
	later.GetScan().Findings = later.GetScan().Findings[:1]
	later.GetScan().Findings[0].Severity = scanv1.Severity_SEVERITY_CRITICAL
	r.Add(later, "msgsha2", 99)
	if err := st.Insert(ctx, r.Tables()...); err != nil {
		t.Fatal(err)
	}
	if got := finalCount(t, st, "findings", ""); got != 2 {
		t.Errorf("findings after a second scan: %d, want 2", got)
	}
	var sev, ev string
	q := "SELECT severity, event_id FROM " + st.Database() + ".findings FINAL WHERE fingerprint = 'fp-1'"
	if err := st.Conn().QueryRow(ctx, q).Scan(&sev, &ev); err != nil {
		t.Fatal(err)
	}
	if sev != "critical" || ev != "scan-2" {
		t.Errorf("fp-1 state = %s from %s, want critical from scan-2", sev, ev)
	}
	if got := finalCount(t, st, "finding_observations", "fingerprint = 'fp-1'"); got != 2 {
		t.Errorf("fp-1 observations: %d, want 2", got)
	}
}

// words joins values with spaces.
func words(v ...any) string { return strings.TrimSpace(fmt.Sprintln(v...)) }

func finalCount(t *testing.T, st *store.Store, table, where string) uint64 {
	t.Helper()
	q := "SELECT count() FROM " + st.Database() + "." + table + " FINAL"
	if where != "" {
		q += " WHERE " + where
	}
	var n uint64
	if err := st.Conn().QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Every table Rows fills is one the migrations created.
func TestRowsTablesAreKnown(t *testing.T) {
	var r Rows
	var names []string
	for _, tbl := range r.Tables() {
		names = append(names, tbl.Name())
	}
	for name := range wantRows {
		if !slices.Contains(names, name) {
			t.Errorf("wantRows names %s, which Rows lacks", name)
		}
	}
	if len(names) != len(wantRows) {
		t.Errorf("Rows has %d tables, wantRows %d", len(names), len(wantRows))
	}
}
