package dashboards

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
)

var update = flag.Bool("update", false, "rewrite the committed dashboards and alert rules")

func TestMain(m *testing.M) { os.Exit(chtest.Run(m)) }

// root is the repository root, where the generated files are committed.
const root = "../../.."

func demoPolicy(t *testing.T) *policy.Policy {
	t.Helper()
	p, err := policy.Load(filepath.Join(root, "trilens.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCommittedFilesAreGenerated(t *testing.T) {
	files, err := Files(demoPolicy(t))
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := Write(root, files); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s differs from what the generator makes (err %v): run `trilens dashboards generate` or `go test ./dashboards -update` and commit", name, err)
		}
	}
	committed, _ := filepath.Glob(filepath.Join(root, DashboardDir, "*.json"))
	for _, path := range committed {
		name, _ := filepath.Rel(root, path)
		if _, ok := files[name]; !ok {
			t.Errorf("%s is committed but no longer generated: delete it", name)
		}
	}
}

// strictDashboard decodes JSON the way the SDK's strict decoder does: every
// field known and typed, every target our ClickHouse query.
func strictDashboard(raw []byte) (dashboard.Dashboard, error) {
	register()
	var d dashboard.Dashboard
	if err := strictErr(d.UnmarshalJSONStrict(raw)); err != nil {
		return d, err
	}
	// SDK v0.0.18 returns its (empty) error list from Panel's strict decoder
	// as a non-nil error, so the panel-or-row union gives up before keeping
	// the decoded panel: decode the panels one by one.
	var doc struct{ Panels []json.RawMessage }
	if err := json.Unmarshal(raw, &doc); err != nil {
		return d, err
	}
	for i, rawPanel := range doc.Panels {
		var p dashboard.Panel
		if err := strictErr(p.UnmarshalJSONStrict(rawPanel)); err != nil {
			return d, fmt.Errorf("panels[%d]: %w", i, err)
		}
		if len(p.Targets) == 0 {
			return d, fmt.Errorf("panel %q has no query", deref(p.Title))
		}
		for _, target := range p.Targets {
			if _, ok := target.(*Query); !ok {
				return d, fmt.Errorf("panel %q: target of type %T, want a ClickHouse query", deref(p.Title), target)
			}
		}
	}
	return d, nil
}

// strictErr drops the empty error list the SDK returns on success.
func strictErr(err error) error {
	if list, ok := err.(cog.BuildErrors); ok && len(list) == 0 {
		return nil
	}
	return err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func TestCommittedDashboardsDecodeStrictly(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(root, DashboardDir, "*.json"))
	if len(paths) != len(Boards()) {
		t.Fatalf("found %d committed dashboards, want %d", len(paths), len(Boards()))
	}
	for _, path := range paths {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		d, err := strictDashboard(raw)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if len(d.Panels) == 0 || d.Uid == nil || !strings.HasPrefix(*d.Uid, "trilens-") {
			t.Errorf("%s: no panels or no trilens uid", path)
		}
	}
}

func TestStrictDecodingRejectsUnknownFields(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, DashboardDir, "trilens-executive.json"))
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(map[string]any){
		"dashboard field": func(d map[string]any) { d["refreshEvery"] = "1m" },
		"panel field":     func(d map[string]any) { d["panels"].([]any)[0].(map[string]any)["colour"] = "red" },
		"query field": func(d map[string]any) {
			p := d["panels"].([]any)[0].(map[string]any)
			p["targets"].([]any)[0].(map[string]any)["sql"] = "SELECT 1"
		},
		"query without SQL": func(d map[string]any) {
			p := d["panels"].([]any)[0].(map[string]any)
			delete(p["targets"].([]any)[0].(map[string]any), "rawSql")
		},
	} {
		var d map[string]any
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		edit(d)
		bad, _ := json.Marshal(d)
		if _, err := strictDashboard(bad); err == nil {
			t.Errorf("%s: strict decoding accepted it", name)
		}
	}
}

// expand renders what Grafana and the ClickHouse data source (v1.1.2
// macros) do to a query before it reaches ClickHouse.
func expand(sql string, tenant string, from, to time.Time) string {
	return strings.NewReplacer(
		"${tenant}", tenant,
		"$__fromTime", fmt.Sprintf("toDateTime(intDiv(%d,1000))", from.UnixMilli()),
		"$__toTime", fmt.Sprintf("toDateTime(intDiv(%d,1000))", to.UnixMilli()),
	).Replace(sql)
}

func TestEveryQueryRunsOnClickHouse(t *testing.T) {
	st := chtest.Store(t)
	now := time.Now().UTC().Truncate(time.Second)
	seed(t, st, now)
	type check struct {
		where string
		Target
	}
	var checks []check
	for _, b := range Boards() {
		for _, p := range b.Panels {
			for i, tg := range p.Targets {
				checks = append(checks, check{fmt.Sprintf("%s / %s / %c", b.UID, p.Title, 'A'+i), tg})
			}
		}
	}
	for _, at := range AlertTargets(demoPolicy(t)) {
		checks = append(checks, check{"alert rule " + at.Rule, at.Target})
	}
	ctx := context.Background()
	for _, c := range checks {
		sql := expand(c.SQL, "shop", now.Add(-30*24*time.Hour), now.Add(time.Minute))
		rows, err := st.Conn().Query(ctx, sql)
		if err != nil {
			t.Errorf("%s: %v\n%s", c.where, err, sql)
			continue
		}
		cols := rows.Columns()
		n := 0
		for rows.Next() {
			n++
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			t.Errorf("%s: %v", c.where, err)
		}
		if !slices.Equal(cols, c.Columns) {
			t.Errorf("%s: columns %v, want %v", c.where, cols, c.Columns)
		}
		if n == 0 {
			t.Errorf("%s: no rows on the seeded data", c.where)
		}
	}
}

// seed writes a little of every kind of fact for tenant shop through the
// store's own tables, as the scorer would.
func seed(t *testing.T, st *store.Store, now time.Time) {
	t.Helper()
	scope := func(id string, ago time.Duration, service, journey string) store.Scope {
		return store.Scope{Tenant: "shop", EventID: id, Repository: "github.com/shop/checkout-api", Branch: "main",
			Environment: "production", Service: service, Journey: journey, ObservedAt: now.Add(-ago)}
	}
	var kpis store.KPIPointRows
	for i, k := range []store.KPIPoint{
		{Lens: "performance", KPI: "journey.p95_ms", KPIScope: "checkout", Value: 280, Budget: 300, Status: "pass", Owner: "team-checkout"},
		{Lens: "performance", KPI: "journey.p95_ms", KPIScope: "checkout", Value: 360, Budget: 300, Status: "fail", Owner: "team-checkout"},
		{Lens: "security", KPI: "security.kev_open", KPIScope: "payments", Value: 1, Budget: 0, Status: "fail", Owner: "team-payments"},
		{Lens: "scalability", KPI: "load.headroom", KPIScope: "catalog", Value: 0.3, Budget: 0.2, Status: "pass", Owner: "team-catalog"},
	} {
		k.Scope = scope(fmt.Sprint("kpi", i), time.Duration(len(kpis.Tenant)+1)*time.Hour, "checkout-api", "checkout")
		if i == 0 {
			k.Scope.ObservedAt = now.Add(-8 * 24 * time.Hour)
		}
		kpis.Append(k)
	}
	var waivers store.WaiverRows
	waivers.Append(store.Waiver{Tenant: "shop", WaiverID: "WAIVE-17", Lens: "performance", Target: "journey.p95_ms", Scope: "browse",
		Owner: "team-catalog", Reason: "index rebuild", CreatedAt: now.Add(-48 * time.Hour), ExpiresAt: now.Add(10 * 24 * time.Hour), UpdatedAt: now})
	var changes store.ChangeRows
	for i, c := range []store.Change{
		{ChangeID: "d1", Type: "deploy", Status: "success"},
		{ChangeID: "d2", Type: "deploy", Status: "failure"},
		{ChangeID: "i1", Type: "incident", Status: "resolved"},
	} {
		c.Scope, c.Idx = scope(fmt.Sprint("chg", i), 3*time.Hour, "checkout-api", ""), 0
		c.StartedAt, c.FinishedAt = now.Add(-4*time.Hour), now.Add(-3*time.Hour)
		changes.Append(c)
	}
	var journeys store.JourneyLatencyRows
	var hops store.HopLatencyRows
	for i, ago := range []time.Duration{2 * time.Hour, time.Minute, 2 * time.Minute} {
		w := now.Add(-ago).Truncate(time.Minute)
		s := scope(fmt.Sprint("win", i), ago, "checkout-api", "checkout")
		if i == 2 {
			s = scope("win-browse", ago, "catalog", "browse")
		}
		journeys.Append(store.JourneyLatency{Scope: s, WindowStart: w, DurationS: 60, Count: 1000, Errors: 20, P50Ms: 120, P95Ms: 340, P99Ms: 700, MaxMs: 900})
		for j, hop := range []string{"cdn", "edge", "api", "db"} {
			hops.Append(store.HopLatency{Scope: s, Idx: uint32(j), WindowStart: w, DurationS: 60, Hop: hop, Count: 1000, P95Ms: float64(30 + 20*j), TotalMs: 5000})
		}
	}
	var detections store.TraceDetectionRows
	for i, typ := range []string{"n_plus_one", "slow_query"} {
		detections.Append(store.TraceDetection{Scope: scope(fmt.Sprint("det", i), time.Hour, "checkout-api", "checkout"), Idx: uint32(i),
			WindowStart: now.Add(-time.Hour), Type: typ, Fingerprint: typ, Operation: "SELECT * FROM items WHERE id = ?", Occurrences: 40,
			AffectedTraces: 12, TotalMs: 800, SavingsMs: 600})
	}
	var findings store.FindingRows
	var observations store.FindingObservationRows
	for i, sev := range []string{"critical", "high"} {
		fp := fmt.Sprint("fp", i)
		findings.Append(store.Finding{Scope: scope(fmt.Sprint("scan", i), time.Hour, "payments", ""), Fingerprint: fp, Tool: "grype",
			Severity: sev, Category: "vulnerability", Title: "CVE-2024-0001 in openssl", PackageName: "openssl", Aliases: []string{"CVE-2024-0001"}})
		observations.Append(store.FindingObservation{Scope: scope(fmt.Sprint("scan-old", i), 40*24*time.Hour, "payments", ""), Fingerprint: fp, Severity: sev, Category: "vulnerability"})
	}
	for i, sev := range []string{"critical", "high"} { // the latest state the findings panels read
		storeLifecycle(t, st, "shop", fmt.Sprint("fp", i), sev, "vulnerability", "open", now.Add(-40*24*time.Hour), now.Add(-time.Hour))
	}
	var artifacts store.ArtifactRows
	artifacts.Append(store.Artifact{Scope: scope("art", time.Hour, "checkout-api", ""), ArtifactName: "checkout-api", Digest: "sha256:aa",
		Signed: true, Verified: true, PredicateType: "https://slsa.dev/provenance/v1", SLSALevel: 3})
	artifacts.Append(store.Artifact{Scope: scope("art2", time.Hour, "catalog", ""), ArtifactName: "catalog", Digest: "sha256:bb"})
	var components store.ComponentRows
	for i, c := range []store.Component{
		{Purl: "pkg:golang/golang.org/x/net@v0.30.0", ComponentName: "x/net", Licenses: []string{"BSD-3-Clause"}, Pinned: true, LockfilePresent: true},
		{Purl: "pkg:npm/left-pad@1.3.0", ComponentName: "left-pad", Licenses: []string{"MIT", "AGPL-3.0-only"}},
	} {
		c.Scope, c.Idx = scope("sbom", time.Hour, "checkout-api", ""), uint32(i)
		components.Append(c)
	}
	var runs store.LoadRunRows
	var steps store.LoadStepRows
	runs.Append(store.LoadRun{Scope: scope("load", 2*time.Hour, "checkout-api", ""), RunID: "r1", TestName: "checkout-peak", StartedAt: now.Add(-2 * time.Hour),
		DurationS: 600, ThresholdsPassed: true, RPS: 420, P95Ms: 310, P99Ms: 600, FailedRate: 0.002, MaxSustainableRPS: 520, KneeRPS: 480, Headroom: 0.3})
	for i := range 3 {
		steps.Append(store.LoadStep{Scope: scope("load", 2*time.Hour, "checkout-api", ""), Idx: uint32(i), RunID: "r1", TestName: "checkout-peak",
			StepStart: now.Add(-2*time.Hour + time.Duration(i)*time.Minute), DurationS: 60, VUs: float64(50 * (i + 1)), RPS: float64(150 * (i + 1)), P95Ms: float64(200 + 50*i)})
	}
	var vitals store.WebVitalsRows
	vitals.Append(store.WebVitals{Scope: scope("lh", time.Hour, "checkout-web", ""), URL: "https://shop.example.com/checkout", FormFactor: "mobile",
		LCPMs: 2300, CLS: 0.05, TBTMs: 150, TTFBMs: 500, PerformanceScore: 88, Runs: 3})
	ctx := context.Background()
	if err := st.Insert(ctx, &kpis, &waivers, &changes, &journeys, &hops, &detections, &findings, &observations, &artifacts, &components, &runs, &steps, &vitals); err != nil {
		t.Fatal(err)
	}
	// The weekly DORA keys the scorer derives from the changes (services/scorer/dora).
	if err := st.Conn().Exec(ctx, `INSERT INTO `+st.Database()+`.dora_weekly (tenant, service, week, deploys, failed_deploys,
		change_failure_rate, lead_time_hours, incidents, restore_hours, computed_at)
		SELECT 'shop', '', toMonday(toDate(?)), 1, 0, 0, 3, 1, 1, now()`, now.Format(time.DateOnly)); err != nil {
		t.Fatal(err)
	}
}
