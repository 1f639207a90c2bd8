package sqlcompat

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
	changev1 "github.com/trilens/trilens/proto/trilens/change/v1"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"github.com/trilens/trilens/services/scorer/chain"
	scored "github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/trilens"
	"github.com/trilens/trilens/services/trilens/cli"
)

// root is the source tree: the policy and the demo evidence live there.
const root = "../../.."

// The subject of the flow's evidence: the policy's tenant and services, so
// budgets, owners and alert rules apply to it.
const (
	repo       = "github.com/shop/checkout-api"
	baseCommit = "1111111"
	release    = "v1.4.0"
	headCommit = "2222222"
)

// evidence is the demo's evidence (cli/demo.go sends the same real tool
// outputs), each to its collector.
var evidence = []struct{ path, file, service string }{
	{"/v1/sboms", "services/sbomcollector/testdata/sboms/gomod.cyclonedx-1.5.json", "checkout-api"},
	{"/v1/sboms", "services/sbomcollector/testdata/sboms/npm.spdx-2.3.json", "catalog"},
	{"/v1/loadruns", "services/loadcollector/testdata/k6/stepped.ndjson.gz", "checkout-api"},
	{"/v1/loadruns", "services/loadcollector/testdata/k6/mixed-summary-export.json", "catalog"},
	{"/v1/webvitals", "services/loadcollector/testdata/lighthouse/run1.json", "catalog"},
}

// scanReports are gated: submitted on the base branch first, then on a
// feature branch through `trilens gate`.
var scanReports = []string{
	"services/scancollector/testdata/reports/gosec.sarif",
	"services/scancollector/testdata/reports/grype.json",
	"services/scancollector/testdata/reports/trivy.json",
	"services/scancollector/testdata/reports/gitleaks.json",
}

// phase is a stretch of the flow and the statements the store sent in it.
type phase struct {
	name  string
	stmts []store.Statement
}

// flow is what one end-to-end run left behind.
type flow struct {
	db     string
	tenant string
	policy *policy.Policy
	phases []phase
}

// runFlow runs every service in one process on the package's ClickHouse
// 18.16 with a Recorder on the store, feeds it the demo evidence, and asks
// what users ask: the gate, the scorecard, the report, the waivers, the
// page and every read endpoint of the scorer API.
func runFlow(t *testing.T) *flow {
	pol, err := policy.Load(filepath.Join(root, "trilens.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rec := &store.Recorder{}
	var cfg trilens.Config
	cfg.RegisterFlags(flag.NewFlagSet("sqlcompat", flag.ContinueOnError))
	cfg.DataDir = t.TempDir()
	cfg.NATS.Listen = ""
	cfg.NATS.StoreDir = t.TempDir()
	cfg.Server.HTTPAddress = "127.0.0.1:0"
	cfg.Trace.GRPCAddress = "127.0.0.1:0"
	cfg.Trace.HTTPAddress = "127.0.0.1:0"
	cfg.Store = chtest.Config(t)
	cfg.Store.Recorder = rec
	cfg.ClickHouse.Start = false
	cfg.PolicyFile = filepath.Join(root, "trilens.yaml")
	cfg.Scorer.BatchWait = 200 * time.Millisecond
	// The waiver sweep runs on a timer: often enough to run during the flow.
	cfg.Scorer.SweepInterval = time.Second
	// Signed checkpoints of the evidence chain, so verifying reads them.
	pub, keyFile := checkpointKey(t)
	cfg.Scorer.Chain, cfg.Scorer.CheckpointKey, cfg.Scorer.CheckpointEvery = true, keyFile, 5
	cfg.Trace.DecisionWait = 200 * time.Millisecond
	cfg.Trace.Lateness = time.Second
	cfg.Trace.FlushInterval = 200 * time.Millisecond
	// The tracker sync reads its gap→issue mapping when it starts; a rule
	// makes it, and an unreachable tracker keeps it from leaving the machine
	// (no gap exists yet at start, so it sends no request).
	cfg.Trackers.GitHubURL = "http://127.0.0.1:1/"
	app, err := trilens.NewApp(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	app.Policy.IssueTrackers = append(app.Policy.IssueTrackers, policy.IssueTracker{Tracker: policy.TrackerGitHub, Repository: "acme/shop"})
	ctx := context.Background()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := app.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	f := &flow{db: cfg.Store.Database, tenant: pol.Tenant, policy: pol}
	seen := 0
	mark := func(name string) {
		all := rec.Statements()
		f.phases = append(f.phases, phase{name: name, stmts: all[seen:]})
		seen = len(all)
	}
	mark("migrations (18.16)")

	base := "http://" + app.Server.Addr()
	// Trace windows close a minute after they open: send traces first.
	sendTraces(t, base, f.tenant, time.Now())
	sub := &cli.Submitter{URL: base, Tenant: f.tenant, Repo: repo, Branch: "main", Commit: baseCommit, Env: "ci",
		Release: release, Timeout: time.Minute, Quiet: true}
	for _, e := range evidence {
		sub.Service = e.service
		if err := sub.Post(ctx, e.path, filepath.Join(root, e.file), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := app.Bus.Publish(ctx, changes(f.tenant, time.Now())...); err != nil {
		t.Fatal(err)
	}
	if err := app.Bus.Publish(ctx, productionDeploy(f.tenant, time.Now())); err != nil {
		t.Fatal(err)
	}
	plainCfg := cfg.Store
	plainCfg.Recorder = nil
	plain, err := store.Open(ctx, plainCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	kev, epss := catalogues(t)
	trilensCLI(t, "scan", "catalog", "kev", kev, "--url", base)
	trilensCLI(t, "scan", "catalog", "epss", epss, "--url", base)
	scanArgs := func(branch, commit string) []string {
		return []string{"--url", base, "--tenant", f.tenant, "--repo", repo, "--service", "checkout-api",
			"--branch", branch, "--commit", commit, "--base-branch", "main", "--quiet"}
	}
	var reports []string
	for _, r := range scanReports {
		reports = append(reports, filepath.Join(root, r))
	}
	trilensCLI(t, append(append([]string{"submit", "scan"}, scanArgs("main", baseCommit)...), reports...)...)
	for _, table := range []string{"journey_latency", "hop_latency", "trace_detections"} {
		waitRows(t, plain, table, f.tenant)
	}
	waitScored(t, app)
	mark("scorer: scoring the evidence")

	// The feature branch drops the secrets report: gitleaks' findings are fixed there.
	gate := append(append([]string{"gate", "--policy", filepath.Join(root, "trilens.yaml"), "--format", "json"},
		scanArgs("feature-x", headCommit)...), reports[:len(reports)-1]...)
	trilensCLI(t, gate...)
	waitScored(t, app)
	mark("gate")

	api := []string{"--scorer-url", base, "--tenant", f.tenant}
	trilensCLI(t, append([]string{"waive", "journey_p95_ms", "--scope", "checkout", "--owner", "team-checkout",
		"--reason", "CDN migration", "--for", "14d", "--by", "sqlcompat"}, api...)...)
	trilensCLI(t, append([]string{"waivers", "--format", "json"}, api...)...)
	mark("waivers")
	trilensCLI(t, append([]string{"scorecard", "--format", "json"}, api...)...)
	trilensCLI(t, append([]string{"scorecard", "--repo", repo, "--commit", headCommit, "--branch", "feature-x", "--format", "json", "--gate"}, api...)...)
	trilensCLI(t, append([]string{"scorecard", "--service", "catalog", "--format", "markdown"}, api...)...)
	trilensCLI(t, append([]string{"scorecard", "--release", release, "--format", "json"}, api...)...)
	mark("scorecard")
	trilensCLI(t, append([]string{"report", "--since", "7d"}, api...)...)
	trilensCLI(t, append([]string{"report", "--since", "30d", "--format", "html", "--service", "checkout-api"}, api...)...)
	mark("report")
	// Advisories: the import matches them against every stored component at once.
	trilensCLI(t, append([]string{"advisories", "import", filepath.Join(root, "services/scorer/advisories/testdata/real")}, api...)...)
	trilensCLI(t, append([]string{"components", "who-uses", "pkg:golang/golang.org/x/net"}, api...)...)
	trilensCLI(t, append([]string{"vex", "export", "--format", "cyclonedx"}, api...)...)
	mark("advisories and VEX")
	get(t, base+"/?tenant="+f.tenant)
	get(t, base+"/")
	for _, view := range []string{"/service/checkout", "/service/checkout-api", "/service?service=catalog", "/findings", "/ledger"} {
		sep := "?"
		if strings.Contains(view, "?") {
			sep = "&"
		}
		get(t, base+view+sep+"tenant="+f.tenant)
	}
	mark("page")
	for _, path := range []string{
		"/v1/kpis?tenant=" + f.tenant,
		"/v1/kpis?tenant=" + f.tenant + "&lens=performance&since=30d",
		"/v1/findings?tenant=" + f.tenant,
		"/v1/verdicts?tenant=" + f.tenant,
		"/v1/gate?tenant=" + f.tenant + "&repo=" + repo + "&commit=" + headCommit,
		"/v1/scorecard/scans?tenant=" + f.tenant + "&repo=" + repo + "&branch=feature-x&base=main&commit=" + headCommit,
		"/v1/badge/checkout-api.svg?tenant=" + f.tenant + "&branch=main",
	} {
		get(t, base+path)
	}
	mark("scorer API")
	// What `trilens verify-log` reads: the chain, its checkpoints, and the
	// evidence behind a KPI point.
	res, err := chain.Verify(ctx, app.Store, f.tenant, pub)
	if err != nil || res.Break != nil || res.Entries == 0 {
		t.Fatalf("evidence chain of the flow: %+v %v", res, err)
	}
	var pointID string
	if err := plain.Conn().QueryRow(ctx, "SELECT event_id FROM "+f.db+".kpi_points WHERE tenant = ? LIMIT 1", f.tenant).Scan(&pointID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := chain.Resolve(ctx, app.Store, f.tenant, []string{pointID, "no-such-evidence"}); err != nil {
		t.Fatal(err)
	}
	catchUpChain(t, app.Store, f.tenant, res.Entries)
	mark("evidence chain")
	return f
}

// catchUpChain stores an envelope while the chain lock is unavailable (a
// closed NATS connection), then catches the chain up: what the scorer
// reads when JetStream refuses its lock, and to append later.
func catchUpChain(t *testing.T, st *store.Store, tenant string, entries uint64) {
	t.Helper()
	ctx := context.Background()
	closed := natstest.Bus(t)
	js := closed.JetStream()
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	down, err := chain.NewLinker(ctx, st, js, nil, 1000, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	var rows scored.Rows
	env := events.NewEnvelope("flow-unchained", tenant, eventv1.Kind_KIND_CHANGE, &eventv1.Producer{Collector: "flow"}, &eventv1.Subject{}, time.Now())
	rows.AddMessage(&eventv1.Event{Envelope: env}, []byte("flow-unchained"))
	cps, release, err := down.Link(ctx, &rows.EvidenceLog)
	if err == nil {
		err = st.Insert(ctx, append(rows.Tables(), cps)...)
		release()
	}
	if err != nil {
		t.Fatal(err)
	}
	up, err := chain.NewLinker(ctx, st, nil, nil, 1000, time.Now)
	if err == nil {
		err = up.FindPending(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	if n, err := up.CatchUp(ctx, tenant); n != 1 || err != nil {
		t.Fatalf("caught up %d entries, %v: want the one stored unchained", n, err)
	}
	if res, err := chain.Verify(ctx, st, tenant, nil); err != nil || res.Break != nil || res.Entries != entries+1 {
		t.Fatalf("chain after catching up: %+v %v, want %d entries", res, err, entries+1)
	}
}

// checkpointKey writes a fresh ed25519 key for the chain's checkpoints.
func checkpointKey(t *testing.T) (ed25519.PublicKey, string) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "checkpoint.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return pub, file
}

// productionDeploy is a production deploy of checkout-api naming its
// artifact's digest, which the DORA lens checks for a verified signature.
func productionDeploy(tenant string, now time.Time) *eventv1.Event {
	at := now.Add(-time.Hour).Truncate(time.Second)
	env := events.NewEnvelope(events.ID(tenant, "deploy", "prod-1"), tenant, eventv1.Kind_KIND_CHANGE,
		&eventv1.Producer{Collector: "sqlcompat", Tool: "trilens"},
		&eventv1.Subject{Repository: repo, Branch: "main", Commit: baseCommit, Service: "checkout-api", Environment: eventv1.Environment_ENVIRONMENT_PRODUCTION}, at)
	return &eventv1.Event{Envelope: env, Payload: &eventv1.Event_Changes{Changes: &changev1.ChangeBatch{Changes: []*changev1.Change{{
		Id: "prod-1", Type: changev1.ChangeType_CHANGE_TYPE_DEPLOY, Status: "success", Environment: "production",
		ArtifactDigest:  "sha256:" + strings.Repeat("ab", 32),
		StartedUnixNano: at.UnixNano(), FinishedUnixNano: at.Add(4 * time.Minute).UnixNano(), Title: "checkout 2.14.0"}}}}}
}

// trilensCLI runs a trilens command in process; exit 1 (a budget broken)
// is an answer, anything else but 0 fails the test.
func trilensCLI(t *testing.T, args ...string) {
	t.Helper()
	cmd := cli.NewRoot()
	var out bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	if err := cmd.Execute(); cli.ExitCode(err) > cli.ExitBroken {
		t.Fatalf("trilens %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
}

func get(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
}

// waitScored waits until the scorer has acknowledged all evidence so far.
func waitScored(t *testing.T, app *trilens.App) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ok, err := app.Scored(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the scorer did not score the evidence within 2 minutes")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// changes is a week of CI runs, deploys and an incident of checkout-api.
func changes(tenant string, now time.Time) []*eventv1.Event {
	var evs []*eventv1.Event
	for day := 6; day >= 0; day-- {
		at := now.Add(-time.Duration(day) * 24 * time.Hour).Truncate(time.Second)
		var batch []*changev1.Change
		for i := range 6 {
			typ, status := changev1.ChangeType_CHANGE_TYPE_CI_RUN, "success"
			switch i {
			case 0, 3:
				typ = changev1.ChangeType_CHANGE_TYPE_DEPLOY
				if day%3 == 0 && i == 3 {
					status = "failure"
				}
			case 5:
				typ, status = changev1.ChangeType_CHANGE_TYPE_INCIDENT, "resolved"
			}
			start := at.Add(-time.Duration(i) * time.Hour)
			batch = append(batch, &changev1.Change{Id: fmt.Sprintf("c-%d-%d", day, i), Type: typ, Status: status,
				StartedUnixNano: start.UnixNano(), FinishedUnixNano: start.Add(37 * time.Minute).UnixNano(), Title: "pipeline"})
		}
		env := events.NewEnvelope(events.ID(tenant, "changes", at.Format(time.DateOnly)), tenant, eventv1.Kind_KIND_CHANGE,
			&eventv1.Producer{Collector: "sqlcompat", Tool: "trilens"},
			&eventv1.Subject{Repository: repo, Branch: "main", Service: "checkout-api", Environment: eventv1.Environment_ENVIRONMENT_CI}, at)
		evs = append(evs, &eventv1.Event{Envelope: env, Payload: &eventv1.Event_Changes{Changes: &changev1.ChangeBatch{Changes: batch}}})
	}
	return evs
}

var cveRE = regexp.MustCompile(`CVE-\d{4}-\d{4,}`)

// catalogues writes a KEV JSON and an EPSS CSV naming CVEs the scanners
// found, so the scorer's catalogue joins have rows to match.
func catalogues(t *testing.T) (kev, epss string) {
	var cves []string
	for _, r := range scanReports {
		b, err := os.ReadFile(filepath.Join(root, r))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cveRE.FindAllString(string(b), -1) {
			if !slices.Contains(cves, c) {
				cves = append(cves, c)
			}
		}
	}
	if len(cves) < 4 {
		t.Fatalf("the scan reports name %d CVEs, want at least 4", len(cves))
	}
	var k, e strings.Builder
	k.WriteString(`{"vulnerabilities":[`)
	e.WriteString("#model_version:v2025.03.14,score_date:2026-11-20T00:00:00+0000\ncve,epss,percentile\n")
	for i, c := range cves[:4] {
		if i > 0 {
			k.WriteString(",")
		}
		fmt.Fprintf(&k, `{"cveID":%q,"vendorProject":"v","product":"p","vulnerabilityName":"n","dateAdded":"2026-0%d-01","dueDate":"2026-0%d-21","knownRansomwareCampaignUse":"Unknown"}`, c, i+1, i+1)
		fmt.Fprintf(&e, "%s,0.%d5,0.9%d\n", c, i+1, i)
	}
	k.WriteString("]}")
	dir := t.TempDir()
	kev, epss = filepath.Join(dir, "kev.json"), filepath.Join(dir, "epss.csv")
	if err := os.WriteFile(kev, []byte(k.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(epss, []byte(e.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return kev, epss
}
