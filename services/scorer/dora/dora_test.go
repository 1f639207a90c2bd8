package dora_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/server"
	"github.com/trilens/trilens/pkg/store/chtest"
	changev1 "github.com/trilens/trilens/proto/trilens/change/v1"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	sbomv1 "github.com/trilens/trilens/proto/trilens/sbom/v1"
	tracev1 "github.com/trilens/trilens/proto/trilens/trace/v1"
	"github.com/trilens/trilens/services/scorer/dora"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/internal/scorertest"
	"github.com/trilens/trilens/services/scorer/regression"
	"github.com/trilens/trilens/services/scorer/trace"
)

const scenarioPolicy = `
version: 1
journeys:
  - { name: pay, match: [{ http_route: /pay }], p95_ms: 1000 }
owners:
  rules:
    - { team: payments, services: [checkout] }
regression: { min_samples: 5, baseline_runs: 10, threshold: 0.1, confidence: 0.95, base_branch: main }
`

var monday = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

func at(day int, hour, minute int) time.Time {
	return monday.Add(time.Duration(day)*24*time.Hour + time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute)
}

// change is one state of a change of the checkout service.
func change(c *changev1.Change, env eventv1.Environment) *eventv1.Event {
	when := c.GetFinishedUnixNano()
	if when == 0 {
		when = c.GetStartedUnixNano()
	}
	id := events.ID("shop", "change", c.GetId(), c.GetStatus())
	e := events.NewEnvelope(id, "shop", eventv1.Kind_KIND_CHANGE, &eventv1.Producer{Collector: "changecollector", Tool: "generic"},
		&eventv1.Subject{Repository: "acme/shop", Service: "checkout", Environment: env}, time.Unix(0, when))
	return &eventv1.Event{Envelope: e, Payload: &eventv1.Event_Changes{Changes: &changev1.ChangeBatch{Changes: []*changev1.Change{c}}}}
}

func deploy(id string, when time.Time, title string, commits ...*changev1.Commit) *changev1.Change {
	return &changev1.Change{Id: id, Type: changev1.ChangeType_CHANGE_TYPE_DEPLOY, Status: "success", Title: title,
		StartedUnixNano: when.Add(-5 * time.Minute).UnixNano(), FinishedUnixNano: when.UnixNano(), Environment: "production", Commits: commits}
}

func commit(sha string, when time.Time) *changev1.Commit {
	return &changev1.Commit{Sha: sha, CommittedUnixNano: when.UnixNano()}
}

func window(i int, start time.Time, p95 float64) *eventv1.Event {
	e := events.NewEnvelope(fmt.Sprint("w-", i), "shop", eventv1.Kind_KIND_TRACE_WINDOW, &eventv1.Producer{Collector: "test"},
		&eventv1.Subject{Environment: eventv1.Environment_ENVIRONMENT_PRODUCTION}, start.Add(time.Minute))
	return &eventv1.Event{Envelope: e, Payload: &eventv1.Event_TraceWindows{TraceWindows: &tracev1.WindowBatch{Windows: []*tracev1.Window{{
		StartUnixNano: start.UnixNano(), DurationNanos: int64(time.Minute), Service: "checkout", Journey: "pay", Count: 100, P95Ms: p95, P99Ms: 900}}}}}
}

// TestScenarioWeek: a week of production deploys of checkout; the second is
// followed by a p95 regression the regression engine finds in production
// traces, the fourth by an incident. The change failure rate counts both.
func TestScenarioWeek(t *testing.T) {
	pol, err := policy.Parse([]byte(scenarioPolicy), "trilens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := chtest.Store(t)
	set := evidence.Settings{Store: st, Policy: pol, Now: func() time.Time { return at(7, 0, 0) }}
	procs := []evidence.Processor{trace.New(set), regression.New(set), dora.New(set)}
	ctx := context.Background()
	run := func(evs ...*eventv1.Event) {
		t.Helper()
		for _, ev := range evs {
			scorertest.StoreRaw(t, st, ev)
			for _, p := range procs {
				if err := p.Process(ctx, []*eventv1.Event{ev}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	prod, staging := eventv1.Environment_ENVIRONMENT_PRODUCTION, eventv1.Environment_ENVIRONMENT_STAGING
	run(change(deploy("d1", at(0, 10, 0), "checkout 1.0", commit("c1", at(0, 8, 0))), prod))
	// A steady p95 after d1, then one window far slower after d2.
	for i, z := range []float64{0.3, -1.2, 0.8, 1.5, -0.4, -1.0, 0.6, 0.1, -0.7, 1.1} {
		run(window(i, at(0, 11, i), 200+10*z))
	}
	running := deploy("d2", at(1, 10, 0), "checkout 1.1", commit("c2", at(0, 22, 0)))
	running.Status, running.FinishedUnixNano = "running", 0
	run(change(running, prod), change(deploy("d2", at(1, 10, 0), "checkout 1.1", commit("c2", at(0, 22, 0))), prod))
	run(window(10, at(1, 12, 0), 320))
	run(change(deploy("d3", at(2, 10, 0), "checkout 1.2", commit("c3", at(1, 10, 0)), commit("c2", at(0, 22, 0))), prod))
	run(change(deploy("d4", at(3, 10, 0), "checkout 1.3", commit("c4", at(3, 6, 0))), prod))
	incident := &changev1.Change{Id: "INC-1", Type: changev1.ChangeType_CHANGE_TYPE_INCIDENT, Status: "open", StartedUnixNano: at(3, 11, 0).UnixNano()}
	run(change(incident, prod))
	resolved := &changev1.Change{Id: "INC-1", Type: changev1.ChangeType_CHANGE_TYPE_INCIDENT, Status: "resolved",
		StartedUnixNano: at(3, 11, 0).UnixNano(), FinishedUnixNano: at(3, 12, 30).UnixNano()}
	run(change(resolved, prod))
	run(change(deploy("d5", at(4, 10, 0), "checkout 1.4", commit("c5", at(4, 9, 0)), &changev1.Commit{Sha: "c6"}), prod))
	// Not production deploys: a staging deploy and a failed one.
	run(change(deploy("s1", at(4, 11, 0), "checkout 1.5 on staging", commit("c7", at(4, 10, 0))), staging))
	failed := deploy("d6", at(5, 10, 0), "checkout 1.5")
	failed.Status = "failure"
	run(change(failed, prod))

	rep, err := dora.Build(ctx, st, pol, dora.Filter{Tenant: "shop", Window: dora.Window{Since: monday, Until: at(7, 0, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	k := rep.All
	hours := func(h float64) float64 { return h * 3600 }
	check := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-6 {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("deploys", float64(k.Deploys), 5)
	check("deploys per week", k.DeploysPerWeek, 5)
	if k.FrequencyBand != "high" {
		t.Errorf("band %q, want high (between daily and weekly)", k.FrequencyBand)
	}
	// Lead times 2 h (c1), 12 h (c2, first carried by d2), 24 h (c3), 4 h (c4), 1 h (c5); c6 has no time.
	check("lead time commits", float64(k.LeadTimeCommits), 5)
	check("lead time median", k.LeadTimeMedianS, hours(4))
	check("lead time p90", k.LeadTimeP90S, hours(19.2))
	check("failed deploys", float64(k.FailedDeploys), 2)
	check("change failure rate", k.ChangeFailRate, 0.4)
	check("restores", float64(k.Restores), 1)
	check("time to restore", k.RestoreMedianS, hours(1.5))
	check("open incidents", float64(k.OpenIncidents), 0)
	if len(k.Failures) != 2 || k.Failures[0].Deploy != "d2" || k.Failures[0].Causes[0] != dora.CauseRegression ||
		k.Failures[1].Deploy != "d4" || k.Failures[1].Causes[0] != dora.CauseIncident {
		t.Errorf("failures %+v: want d2 by a regression, d4 by an incident", k.Failures)
	}
	if s, tm := rep.Services["checkout"], rep.Teams["payments"]; s.ChangeFailRate != 0.4 || tm.Deploys != 5 {
		t.Errorf("per service %+v, per team %+v: want the same keys as the tenant", s, tm)
	}

	// The dashboards' weekly view reads the same keys, kept by the processor.
	var deploys, failedN, incidents uint32
	var cfr, lead, restore float64
	err = st.Conn().QueryRow(ctx, `SELECT deploys, failed_deploys, change_failure_rate, incidents, restore_hours, lead_time_hours
		FROM `+st.Database()+`.dash_dora_weekly WHERE tenant = 'shop' AND week = toDate(?)`, monday.Format(time.DateOnly)).Scan(&deploys, &failedN, &cfr, &incidents, &restore, &lead)
	if err != nil || deploys != 5 || failedN != 2 || cfr != 0.4 || incidents != 1 || restore != 1.5 || lead != 4 {
		t.Errorf("dash_dora_weekly: %d deploys, %d failed, cfr %v, %d incidents, restore %v h, lead %v h (%v); want 5, 2, 0.4, 1, 1.5, 4",
			deploys, failedN, cfr, incidents, restore, lead, err)
	}

	// The API serves the same report.
	mux := server.NewRoutes()
	dora.New(set).Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/dora?tenant=shop&service=checkout&since=7d", nil))
	var got dora.Report
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("GET /v1/dora: %d %s", rec.Code, rec.Body)
	}
	if got.All.Deploys != 5 || got.All.FailedDeploys != 2 {
		t.Errorf("GET /v1/dora all = %+v", got.All)
	}
}

// TestDeployedUnsigned: a production deploy whose digest has no verified
// signature is a failing security point; a verified artifact clears it.
func TestDeployedUnsigned(t *testing.T) {
	st := chtest.Store(t)
	set := evidence.Settings{Store: st, Policy: policy.Default()}
	p := dora.New(set)
	ctx := context.Background()
	run := func(ev *eventv1.Event) {
		t.Helper()
		scorertest.StoreRaw(t, st, ev)
		if err := p.Process(ctx, []*eventv1.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	d := deploy("d9", at(0, 10, 0), "checkout 2.0")
	d.ArtifactDigest = "sha256:aa"
	run(change(d, eventv1.Environment_ENVIRONMENT_PRODUCTION))
	status := func() (string, float64) {
		t.Helper()
		var s string
		var v float64
		err := st.Conn().QueryRow(ctx, `SELECT argMax(status, observed_at), argMax(value, observed_at) FROM `+st.Database()+
			`.kpi_points FINAL WHERE lens = 'security' AND kpi = ? AND scope = 'checkout'`, dora.KPIDeployedUnsigned).Scan(&s, &v)
		if err != nil {
			t.Fatal(err)
		}
		return s, v
	}
	if s, v := status(); s != "fail" || v != 1 {
		t.Fatalf("unsigned deploy: %s %v, want fail 1", s, v)
	}
	art := events.NewEnvelope("art-1", "shop", eventv1.Kind_KIND_ARTIFACT, &eventv1.Producer{Collector: "sbomcollector", Tool: "cosign"},
		&eventv1.Subject{Repository: "acme/shop"}, at(0, 11, 0))
	run(&eventv1.Event{Envelope: art, Payload: &eventv1.Event_Artifact{Artifact: &sbomv1.Artifact{Name: "ghcr.io/acme/checkout", Digest: "sha256:aa",
		Signed: true, Verified: true}}})
	if s, v := status(); s != "pass" || v != 0 {
		t.Errorf("after a verified signature: %s %v, want pass 0", s, v)
	}
	var n uint64
	if err := st.Conn().QueryRow(ctx, `SELECT count() FROM `+st.Database()+`.kpi_points FINAL WHERE kpi = ?`, dora.KPIDeployedUnsigned).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d points (%v): want the point replaced, not a second one", n, err)
	}
}

// TestShiftAttributedToItsStart: the p95 of checkout shifts up after d1,
// slowly enough that no single window is a regression; the change point is
// only certain once d2 is out. The failed change is d1, after which the
// series changed, not d2, after which the shift was noticed.
func TestShiftAttributedToItsStart(t *testing.T) {
	pol, err := policy.Parse([]byte(scenarioPolicy), "trilens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := chtest.Store(t)
	set := evidence.Settings{Store: st, Policy: pol, Now: func() time.Time { return at(7, 0, 0) }}
	procs := []evidence.Processor{trace.New(set), regression.New(set), dora.New(set)}
	ctx := context.Background()
	run := func(evs ...*eventv1.Event) {
		t.Helper()
		for _, ev := range evs {
			scorertest.StoreRaw(t, st, ev)
			for _, p := range procs {
				if err := p.Process(ctx, []*eventv1.Event{ev}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	prod := eventv1.Environment_ENVIRONMENT_PRODUCTION
	run(change(deploy("d1", at(0, 10, 0), "checkout 1.0", commit("c1", at(0, 8, 0))), prod))
	// A noisy p95 (sd 40 ms): a window 30 % slower is no regression alone.
	for i, z := range []float64{0.3, -1.2, 0.8, 1.5, -0.4, 1.1, 0.6, 0.1, -0.7, -1.0} {
		run(window(i, at(0, 11, i), 200+40*z))
	}
	run(window(10, at(1, 8, 0), 262))
	if regs, err := dora.LoadRegressions(ctx, st, "shop", monday, at(7, 0, 0)); err != nil || len(regs) != 0 {
		t.Fatalf("before d2: %+v %v, want no verdict yet (the shift is not certain)", regs, err)
	}
	run(change(deploy("d2", at(1, 10, 0), "checkout 1.1", commit("c2", at(1, 9, 0))), prod))
	for i := range 4 {
		run(window(11+i, at(1, 11, i), 258+float64(i%2)))
	}
	regs, err := dora.LoadRegressions(ctx, st, "shop", monday, at(7, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	var shift *dora.Regression
	for i, r := range regs {
		var reason string
		if err := st.Conn().QueryRow(ctx, `SELECT reason FROM `+st.Database()+`.verdicts FINAL WHERE verdict_id = ?`, r.ID).Scan(&reason); err != nil {
			t.Fatal(err)
		}
		reasons = append(reasons, reason+" "+r.At.Format(time.RFC3339))
		if reason == regression.ReasonChangePoint {
			shift = &regs[i]
		}
	}
	if shift == nil {
		t.Fatalf("regression verdicts %v: want a change point", reasons)
	}
	// The shift is dated by its first slow window (a noisy one may join
	// it), never by the window after d2 that made it certain.
	for i, r := range regs {
		if !strings.HasPrefix(reasons[i], regression.ReasonChangePoint) || !r.At.Before(at(1, 10, 0)) {
			t.Fatalf("regression verdicts %v: want only change points, dated before d2", reasons)
		}
	}
	rep, err := dora.Build(ctx, st, pol, dora.Filter{Tenant: "shop", Window: dora.Window{Since: monday, Until: at(7, 0, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	if f := rep.All.Failures; len(f) != 1 || f[0].Deploy != "d1" || f[0].Causes[0] != dora.CauseRegression {
		t.Errorf("failures %+v: want d1, after which the series changed, failed by the regression", f)
	}
}
