package tracker_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	scanv1 "github.com/trilens/trilens/proto/trilens/scan/v1"
	"github.com/trilens/trilens/services/scorer"
	"github.com/trilens/trilens/services/scorer/api"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/ledger"
	"github.com/trilens/trilens/services/scorer/scorecard"
	"github.com/trilens/trilens/services/scorer/tracker"
)

// rig is real scoring: an in-process nats-server, a private ClickHouse
// and the scorer consuming the evidence stream.
type rig struct {
	bus *bus.Bus
	st  *store.Store
}

func newRig(t *testing.T) *rig {
	b := natstest.Bus(t)
	st := chtest.Store(t)
	var c scorer.Config
	c.RegisterFlags("", flag.NewFlagSet("", flag.ContinueOnError))
	c.BatchWait = 100 * time.Millisecond
	s, err := scorer.New(c, scorer.Settings{Logger: slog.New(slog.DiscardHandler), Bus: b, Store: st, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			t.Errorf("stop scorer: %v", err)
		}
	})
	return &rig{bus: b, st: st}
}

// scan publishes one trivy report of the checkout service on main with a
// critical finding per fingerprint, and waits until the scorer scored it.
func (r *rig) scan(t *testing.T, tenant, id string, fps ...string) {
	t.Helper()
	n := max(len(fps), 1)
	var evs []*eventv1.Event
	for i := range n {
		env := events.NewEnvelope(events.ID(tenant, id, fmt.Sprint(i)), tenant, eventv1.Kind_KIND_SCAN,
			&eventv1.Producer{Collector: "test", Tool: "trivy"},
			&eventv1.Subject{Repository: "acme/shop", Branch: "main", Commit: id, Service: "checkout"}, time.Now())
		env.Part = &eventv1.Part{ReportId: id, Index: uint32(i), Count: uint32(n)}
		var fs []*scanv1.Finding
		if i < len(fps) {
			fs = append(fs, &scanv1.Finding{Fingerprint: fps[i], RuleId: "CVE-2023-45288", Title: "HTTP/2 CONTINUATION flood",
				Severity: scanv1.Severity_SEVERITY_CRITICAL, Category: scanv1.Category_CATEGORY_VULNERABILITY,
				Aliases: []string{"CVE-2023-45288"}, PackageName: "golang.org/x/net", InstalledVersion: "v0.0.0-" + fps[i]})
		}
		evs = append(evs, &eventv1.Event{Envelope: env, Payload: &eventv1.Event_Scan{Scan: &scanv1.FindingBatch{Tool: "trivy", Format: "trivy", Findings: fs}}})
	}
	if err := r.bus.Publish(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var c uint64
		if err := r.st.Conn().QueryRow(context.Background(), `SELECT count() FROM `+r.st.Database()+
			`.scan_reports_scored WHERE tenant = ? AND report_id = ?`, tenant, id).Scan(&c); err != nil {
			t.Fatal(err)
		}
		if c > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("report %s not scored after a minute", id)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// shot is an issue as the local tracker holds it.
type shot struct {
	key, title, assignee string
	open, wontFix        bool
	labels               []string
}

// side is one tracker under test: its local server and how the scenario
// looks into it and acts in it as a person would.
type side struct {
	name    string
	token   string
	rule    policy.IssueTracker
	config  func(*tracker.Config)
	knobs   *knobs
	issues  func() []shot
	wontFix func(key string)
}

func policyFor(tenant string, r policy.IssueTracker) *policy.Policy {
	pol := policy.Default()
	pol.Tenant = tenant
	pol.Services = []policy.Service{{Name: "checkout", Owner: "pay-team", Tier: 1, Exposure: policy.ExposureInternet}}
	pol.Owners.Teams = []policy.Team{{Name: "pay-team", GitHubAssignee: "octocat", JiraAssignee: "5b10a2844c20165700ede21g"}}
	r.Tenant = tenant
	pol.IssueTrackers = []policy.IssueTracker{r}
	return pol
}

func TestIssueSyncGitHub(t *testing.T) {
	t.Setenv(tracker.EnvGitHubAuth, "ghp_test")
	gh := newFakeGitHub(t, "ghp_test")
	scenario(t, newRig(t), side{name: "github", token: "ghp_test",
		rule:   policy.IssueTracker{Tracker: policy.TrackerGitHub, Lenses: []string{"security"}, Severities: []string{"critical"}, Repository: "acme/shop", Labels: []string{"trilens"}},
		config: func(c *tracker.Config) { c.GitHubURL = gh.srv.URL + "/" },
		knobs:  &gh.knobs,
		issues: func() []shot {
			gh.mu.Lock()
			defer gh.mu.Unlock()
			var out []shot
			for n := 1; n <= len(gh.issues); n++ {
				i := gh.issues[n]
				out = append(out, shot{key: fmt.Sprint(n), title: i.Title, open: i.State == "open", wontFix: i.StateReason == "not_planned",
					labels: i.Labels, assignee: strings.Join(i.Assignees, ",")})
			}
			return out
		},
		wontFix: func(key string) {
			var n int
			fmt.Sscan(key, &n)
			gh.closeAs(n, "not_planned")
		},
	})
}

func TestIssueSyncJiraCloud(t *testing.T) { jiraScenario(t, 3) }

func TestIssueSyncJiraDataCenter(t *testing.T) { jiraScenario(t, 2) }

func jiraScenario(t *testing.T, apiVersion int) {
	auth := "Bearer pat-test"
	t.Setenv(tracker.EnvJiraAuth, "pat-test")
	if apiVersion == 3 {
		t.Setenv(tracker.EnvJiraUser, "bot@acme.example")
		auth = "Basic " + base64.StdEncoding.EncodeToString([]byte("bot@acme.example:pat-test"))
	}
	j := newFakeJira(t, apiVersion, auth)
	resolution := map[int]string{3: "Won't Do", 2: "Won't Fix"}[apiVersion]
	scenario(t, newRig(t), side{name: fmt.Sprintf("jira-v%d", apiVersion), token: "pat-test",
		rule:   policy.IssueTracker{Tracker: policy.TrackerJira, Lenses: []string{"security"}, Project: "SHOP", Labels: []string{"trilens"}},
		config: func(c *tracker.Config) { c.JiraURL, c.JiraAPI = j.srv.URL, apiVersion },
		knobs:  &j.knobs,
		issues: func() []shot {
			j.mu.Lock()
			defer j.mu.Unlock()
			var out []shot
			for _, k := range j.order {
				i := j.issues[k]
				a := i.Assignee["accountId"] + i.Assignee["name"]
				out = append(out, shot{key: k, title: i.Summary, open: i.Category != "done", wontFix: i.Resolution == resolution, labels: i.Labels, assignee: a})
			}
			return out
		},
		wontFix: func(key string) { j.resolve(key, resolution) },
	})
}

// scenario is acceptance 2 against one tracker: a gap opens an issue, a
// retried sync creates nothing, the fix closes it, the regression reopens
// it, a won't-fix in the tracker becomes a pending waiver that changes no
// gate until an admin accepts it, and a create whose answer is lost is
// found by its marker instead of being made twice. The first request of
// the first sync meets a rate limit and waits it out.
func scenario(t *testing.T, r *rig, s side) {
	ctx := context.Background()
	tenant := "acme-" + strings.ReplaceAll(s.name, "github", "gh")
	pol := policyFor(tenant, s.rule)
	var cfg tracker.Config
	cfg.RegisterFlags("", flag.NewFlagSet("", flag.ContinueOnError))
	s.config(&cfg)
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	card := scorecard.New(evidence.Settings{Store: r.st, Policy: pol, Logger: slog.New(slog.DiscardHandler), Now: time.Now})
	sy, err := tracker.New(cfg, tracker.Settings{Store: r.st, Policy: pol, Card: card, Registerer: reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	sync := func(wantErr bool) {
		t.Helper()
		err := sy.Sync(ctx)
		if (err != nil) != wantErr {
			t.Fatalf("sync: %v, want an error: %v", err, wantErr)
		}
		if err != nil {
			log.Warn("tracker sync", "err", err) // as the loop logs it
		}
	}
	t.Cleanup(func() {
		if strings.Contains(logs.String(), s.token) {
			t.Errorf("the tracker token is in the log:\n%s", logs.String())
		}
		if !strings.Contains(logs.String(), "won't fix proposes a waiver") || !strings.Contains(logs.String(), "tracker sync") {
			t.Errorf("want the proposal and the failed sync logged, got:\n%s", logs.String())
		}
	})
	want := func(what string, n int, check func([]shot) string) {
		t.Helper()
		is := s.issues()
		if len(is) != n {
			t.Fatalf("%s: %d issues in %s, want %d: %+v", what, len(is), s.name, n, is)
		}
		if msg := check(is); msg != "" {
			t.Fatalf("%s: %s: %+v", what, msg, is)
		}
	}

	// A new critical finding on main blocks the gate: one issue, assigned
	// to the owning team's tracker user, labelled with the rule's labels
	// and the gap's marker. The tracker's rate limit delays the first request.
	r.scan(t, tenant, "r1", "fp-net")
	s.knobs.mu.Lock()
	s.knobs.limited = 1
	if s.name == "github" {
		s.knobs.spend = 1 // and the answer after it spends the last request of the window
	}
	s.knobs.mu.Unlock()
	sync(false)
	want("gap opens an issue", 1, func(is []shot) string {
		i := is[0]
		if !i.open || !strings.Contains(i.title, "CVE-2023-45288") || !slices.Contains(i.labels, "trilens") || len(i.labels) != 2 ||
			!strings.HasPrefix(i.labels[1], "trilens-gap-") {
			return "want one open issue of CVE-2023-45288 labelled trilens and its marker"
		}
		if i.assignee == "" {
			return "want the pay-team's assignee"
		}
		return ""
	})
	if got, want := counter(t, reg, "trilens_tracker_rate_limit_waits_total"), map[bool]float64{true: 2, false: 1}[s.name == "github"]; got != want {
		t.Fatalf("rate limit waits: %v, want %v", got, want)
	}
	// A retried sync changes nothing.
	sync(false)
	sync(false)
	want("retried sync", 1, func(is []shot) string { return "" })

	// The fix closes it; the regression reopens the same issue.
	r.scan(t, tenant, "r2")
	sync(false)
	want("fix closes", 1, func(is []shot) string { return cond(!is[0].open && !is[0].wontFix, "want it closed as done") })
	r.scan(t, tenant, "r3", "fp-net")
	sync(false)
	want("regression reopens", 1, func(is []shot) string { return cond(is[0].open, "want it open again") })

	// Won't fix in the tracker: a pending waiver, the gate unchanged.
	s.wontFix(s.issues()[0].key)
	sync(false)
	sync(false)
	want("won't fix stays closed", 1, func(is []shot) string { return cond(!is[0].open, "want it left closed") })
	ws, err := card.Ledger().View(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 || ws[0].State != ledger.WaiverPending || ws[0].Source != ledger.WaiverSourceTracker || ws[0].Target != "fp-net" {
		t.Fatalf("waivers after won't fix: %+v, want one pending tracker waiver of fp-net", ws)
	}
	gate(t, card, tenant, false, "")

	// An admin accepts it through the waiver API: the gap is waived, and
	// the issue stays closed.
	accept(t, card, tenant, ws[0])
	gate(t, card, tenant, true, ws[0].ID)
	sync(false)
	want("accepted", 1, func(is []shot) string { return cond(!is[0].open, "want it closed") })
	// Revoked, the waiver no longer covers the gap: the issue reopens.
	adminCall(t, card, http.MethodDelete, "/v1/waivers/"+ws[0].ID+"?by=admin&tenant="+tenant, nil)
	sync(false)
	want("waiver revoked", 1, func(is []shot) string { return cond(is[0].open, "want it open again") })

	// A second gap whose create answer is lost: the sync fails, the issue
	// exists; the retry finds it by its marker and creates nothing.
	s.knobs.mu.Lock()
	s.knobs.dropCreate = true
	before := s.knobs.creates
	s.knobs.mu.Unlock()
	r.scan(t, tenant, "r4", "fp-net", "fp-http2")
	sync(true)
	sync(false)
	sync(false)
	want("lost create answer", 2, func(is []shot) string { return cond(is[1].open, "want the second issue open") })
	s.knobs.mu.Lock()
	creates := s.knobs.creates - before
	s.knobs.mu.Unlock()
	if creates != 1 {
		t.Fatalf("creates after a lost answer: %d, want 1", creates)
	}
	if got := counter(t, reg, "trilens_tracker_issue_actions_total"); got < 5 {
		t.Fatalf("issue actions counted: %v, want created, closed, reopened, waiver_proposed, adopted", got)
	}
}

func cond(ok bool, msg string) string {
	if ok {
		return ""
	}
	return msg
}

// gate checks the scorecard's verdict and the waiver on fp-net.
func gate(t *testing.T, card *scorecard.Service, tenant string, waived bool, by string) {
	t.Helper()
	sc, err := card.Scorecard(context.Background(), scorecard.Filter{Tenant: tenant, Branch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range sc.Items {
		if it.Key == "fp-net" {
			if it.WaivedBy != by || it.Blocking() == waived || sc.Pass != waived {
				t.Fatalf("fp-net: waived by %q, blocking %v, gate pass %v; want waived by %q, pass %v", it.WaivedBy, it.Blocking(), sc.Pass, by, waived)
			}
			return
		}
	}
	t.Fatalf("fp-net not on the scorecard: %+v", sc.Items)
}

// accept posts the pending waiver back through POST /v1/waivers, as an admin.
func accept(t *testing.T, card *scorecard.Service, tenant string, w ledger.Waiver) {
	t.Helper()
	body, _ := json.Marshal(api.WaiverRequest{ID: w.ID, Lens: w.Lens, Target: w.Target, Scope: w.Scope, Owner: w.Owner,
		Reason: "accepted: " + w.Reason, ExpiresAt: w.ExpiresAt, By: "admin"})
	adminCall(t, card, http.MethodPost, "/v1/waivers?tenant="+tenant, body)
}

// adminCall sends one request to the scorecard's waiver API.
func adminCall(t *testing.T, card *scorecard.Service, method, target string, body []byte) {
	t.Helper()
	mux := http.NewServeMux()
	api.New(card, slog.New(slog.DiscardHandler)).Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(method, target, bytes.NewReader(body)))
	if rec.Code != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, target, rec.Code, rec.Body)
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
