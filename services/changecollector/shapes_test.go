package changecollector

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/natstest"
	changev1 "github.com/trilens/trilens/proto/trilens/change/v1"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

var bearer = http.Header{"Authorization": {"Bearer " + token}}

// TestAlertmanagerFiringThenResolved: the real notifications of one alert
// open and then resolve one incident (the same change id), with the
// alert's service, severity and environment.
func TestAlertmanagerFiringThenResolved(t *testing.T) {
	e := newEnv(t, nil)
	for _, f := range []string{"alertmanager/firing.json", "alertmanager/resolved.json"} {
		if code, out := e.post(t, "", bearer, real(t, f)); code != http.StatusAccepted || !strings.Contains(string(out), `"format":"alertmanager"`) {
			t.Fatalf("%s: %d %s", f, code, out)
		}
	}
	evs := natstest.Published(t, e.bus)
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2", len(evs))
	}
	open, resolved := evs[0].GetChanges().GetChanges()[0], evs[1].GetChanges().GetChanges()[0]
	// startsAt 2026-12-05T17:37:15Z, endsAt 2026-12-05T17:37:17Z, fingerprint 8ac16c595505bc76 (the files).
	wantID := fmt.Sprintf("alertmanager:8ac16c595505bc76:%d", ts("2026-12-05T17:37:15Z")/1e9)
	if open.GetId() != wantID || resolved.GetId() != wantID {
		t.Fatalf("ids %q %q, want %q", open.GetId(), resolved.GetId(), wantID)
	}
	if open.GetStatus() != "open" || resolved.GetStatus() != "resolved" || open.GetType() != changev1.ChangeType_CHANGE_TYPE_INCIDENT {
		t.Fatalf("statuses %q %q", open.GetStatus(), resolved.GetStatus())
	}
	if open.GetStartedUnixNano() != ts("2026-12-05T17:37:15Z") || open.GetFinishedUnixNano() != 0 ||
		resolved.GetStartedUnixNano() != ts("2026-12-05T17:37:15Z") || resolved.GetFinishedUnixNano() != ts("2026-12-05T17:37:17Z") {
		t.Fatalf("times %v / %v", open, resolved)
	}
	if open.GetSeverity() != "critical" || open.GetTitle() != "checkout p95 above 800 ms" || open.GetEnvironment() != "production" {
		t.Fatalf("change %v", open)
	}
	for _, ev := range evs {
		s := ev.GetEnvelope().GetSubject()
		if s.GetService() != "checkout-api" || s.GetEnvironment() != eventv1.Environment_ENVIRONMENT_PRODUCTION {
			t.Fatalf("subject %v", s)
		}
	}
	if evs[0].GetEnvelope().GetEventId() == evs[1].GetEnvelope().GetEventId() {
		t.Fatal("open and resolved share an event id: the resolution would be dropped as a duplicate")
	}
}

// TestGenericShape posts the documented generic JSON: a batch of a deploy
// with its commits, a rollback, and an incident opened then resolved.
func TestGenericShape(t *testing.T) {
	e := newEnv(t, nil)
	batch := `{"changes": [
	  {"id": "deploy-481", "type": "deploy", "status": "success", "started_at": "2026-11-30T10:00:00Z", "finished_at": "2026-11-30T10:04:00Z",
	   "repository": "acme/shop", "service": "checkout-api", "environment": "production", "branch": "main",
	   "artifact": "ghcr.io/acme/checkout@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	   "artifact_digest": "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	   "commits": [{"sha": "c2", "committed_at": "2026-11-30T09:00:00Z"}, {"sha": "c1", "committed_at": "2026-11-29T16:00:00Z"}]},
	  {"id": "deploy-482", "type": "rollback", "status": "success", "finished_at": "2026-11-30T11:00:00Z", "rollback_of": "deploy-481",
	   "repository": "acme/shop", "service": "checkout-api", "environment": "prod-eu", "commit": "c0"}
	]}`
	code, out := e.post(t, "", bearer, []byte(batch))
	if code != http.StatusAccepted {
		t.Fatalf("%d %s", code, out)
	}
	for _, inc := range []string{
		`{"id": "INC-7", "type": "incident", "status": "open", "started_at": "2026-11-30T10:30:00Z", "service": "checkout-api", "severity": "sev1"}`,
		`{"id": "INC-7", "type": "incident", "status": "resolved", "started_at": "2026-11-30T10:30:00Z", "finished_at": "2026-11-30T11:10:00Z", "service": "checkout-api", "severity": "sev1"}`,
	} {
		// The query's subject wins over the body's.
		if code, out := e.post(t, "env=production&repo=acme/shop", bearer, []byte(inc)); code != http.StatusAccepted {
			t.Fatalf("%d %s", code, out)
		}
	}
	evs := natstest.Published(t, e.bus)
	if len(evs) != 4 {
		t.Fatalf("%d events, want 4", len(evs))
	}
	dep := evs[0].GetChanges().GetChanges()[0]
	if dep.GetType() != changev1.ChangeType_CHANGE_TYPE_DEPLOY || len(dep.GetCommits()) != 2 || dep.GetCommits()[1].GetCommittedUnixNano() != ts("2026-11-29T16:00:00Z") ||
		dep.GetArtifactDigest() != "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" || dep.GetSource() != "generic" {
		t.Fatalf("deploy %v", dep)
	}
	if s := evs[0].GetEnvelope().GetSubject(); s.GetCommit() != "c2" || s.GetService() != "checkout-api" || s.GetEnvironment() != eventv1.Environment_ENVIRONMENT_PRODUCTION {
		t.Fatalf("deploy subject %v: the head commit is the subject's", s)
	}
	rb := evs[1].GetChanges().GetChanges()[0]
	if rb.GetType() != changev1.ChangeType_CHANGE_TYPE_ROLLBACK || rb.GetRollbackOf() != "deploy-481" ||
		evs[1].GetEnvelope().GetSubject().GetEnvironment() != eventv1.Environment_ENVIRONMENT_PRODUCTION {
		t.Fatalf("rollback %v %v", rb, evs[1].GetEnvelope().GetSubject())
	}
	for _, ev := range evs[2:] {
		if s := ev.GetEnvelope().GetSubject(); s.GetRepository() != "acme/shop" || s.GetEnvironment() != eventv1.Environment_ENVIRONMENT_PRODUCTION {
			t.Fatalf("incident subject %v", s)
		}
	}
	if evs[3].GetChanges().GetChanges()[0].GetFinishedUnixNano() != ts("2026-11-30T11:10:00Z") {
		t.Fatal("resolved incident lost its end")
	}
}

// TestRefusalsNameTheProblem: malformed changes are 4xx naming the field,
// and nothing of a refused request is published, even its valid changes.
func TestRefusalsNameTheProblem(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *collect.Settings) { c.MaxChanges = 3; c.MaxBodyBytes = 4096; c.MaxDepth = 16 })
	deep := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	var big bytes.Buffer
	big.WriteString(`{"id":"x","type":"deploy","status":"success","title":"`)
	big.WriteString(strings.Repeat("x", 5000))
	big.WriteString(`"}`)
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write([]byte(`{"id":"x","type":"deploy","status":"success","title":"` + strings.Repeat("y", 1<<20) + `"}`))
	zw.Close()
	cases := []struct {
		name, query string
		hdr         http.Header
		body        []byte
		code        int
		msg         string
	}{
		{"unknown field", "", nil, []byte(`{"id":"d1","type":"deploy","status":"success","enviroment":"production"}`), 400, `unknown field \"enviroment\"`},
		{"missing id", "", nil, []byte(`{"changes":[{"id":"ok","type":"deploy","status":"success"},{"type":"deploy","status":"success"}]}`), 400, "changes[1].id: missing"},
		{"bad type", "", nil, []byte(`{"id":"d1","type":"release","status":"success"}`), 400, "type: want ci_run, deploy, rollback or incident"},
		{"incident status", "", nil, []byte(`{"id":"i1","type":"incident","status":"firing"}`), 400, "an incident is open or resolved"},
		{"deploy status", "", nil, []byte(`{"id":"d1","type":"deploy","status":"open"}`), 400, "want running, success, failure"},
		{"bad time", "", nil, []byte(`{"id":"d1","type":"deploy","status":"success","started_at":"yesterday"}`), 400, "started_at"},
		{"too many", "", nil, []byte(`{"changes":[` + strings.TrimSuffix(strings.Repeat(`{"id":"a","type":"deploy","status":"success"},`, 4), ",") + `]}`), 413, "too many changes"},
		{"too deep", "", nil, []byte(deep), 413, "nested too deeply"},
		{"too large", "", nil, big.Bytes(), 413, "exceeds"},
		{"gzip bomb", "", http.Header{"Content-Encoding": {"gzip"}}, bomb.Bytes(), 413, "exceeds"},
		{"not json", "", nil, []byte(`deploy ok`), 400, "generic"},
		{"unknown format", "format=jenkins", nil, []byte(`{}`), 400, "unknown format"},
		{"bad env", "env=mars", nil, []byte(`{"id":"d1","type":"deploy","status":"success"}`), 400, "want ci, staging or production"},
		{"other tenant", "tenant=other", nil, []byte(`{"id":"d1","type":"deploy","status":"success"}`), 403, "belongs to tenant"},
		{"not a cdevent", "", http.Header{"Ce-Specversion": {"1.0"}, "Ce-Id": {"1"}, "Ce-Source": {"/x"}, "Ce-Type": {"com.example.build"}}, []byte(`{}`), 400, "not a CDEvent"},
		{"cloudevent without type", "", http.Header{"Ce-Specversion": {"1.0"}, "Ce-Id": {"1"}, "Ce-Source": {"/x"}}, []byte(`{}`), 400, "type"},
		{"alert status", "", nil, []byte(`{"groupKey":"g","alerts":[{"status":"pending","startsAt":"2026-01-01T00:00:00Z"}]}`), 400, "want firing or resolved"},
		{"github content type", "tenant=acme", http.Header{"X-Github-Event": {"workflow_run"}, "Content-Type": {"text/plain"}}, []byte(`{}`), 415, "Content-Type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hdr := http.Header{}
			for k, v := range bearer {
				hdr[k] = v
			}
			for k, v := range c.hdr {
				hdr[k] = v
			}
			code, out := e.post(t, c.query, hdr, c.body)
			if code != c.code || !strings.Contains(string(out), c.msg) {
				t.Fatalf("%d %s, want %d naming %q", code, out, c.code, c.msg)
			}
			var ce collect.Error
			if err := json.Unmarshal(out, &ce); err != nil || ce.Msg == "" {
				t.Fatalf("answer is not a JSON error: %s", out)
			}
		})
	}
	if evs := natstest.Published(t, e.bus); len(evs) != 0 {
		t.Fatalf("%d events published from refused requests", len(evs))
	}
}

// TestOpenWithoutSecrets: a single machine without tokens or secrets takes
// unsigned webhooks for the tenant the URL names, and says it verified nothing.
func TestOpenWithoutSecrets(t *testing.T) {
	e := newEnv(t, func(c *Config, s *collect.Settings) { c.Secrets = nil; s.Auth = nil })
	b := real(t, "github/deployment_status_payload.json")
	code, out := e.post(t, "tenant=team-a", gitHubHeaders("deployment_status", b, ""), b)
	if code != http.StatusAccepted || !strings.Contains(string(out), `"signature_verified":false`) {
		t.Fatalf("%d %s", code, out)
	}
	evs := natstest.Published(t, e.bus)
	if len(evs) != 1 || evs[0].GetEnvelope().GetTenant() != "team-a" {
		t.Fatalf("events %v", evs)
	}
}

// TestEventIDIncludesTheSubject: the same change about another service or
// commit is another event.
func TestEventIDIncludesTheSubject(t *testing.T) {
	ch := &changev1.Change{Id: "d1", Type: changev1.ChangeType_CHANGE_TYPE_DEPLOY, Status: "success", Source: "generic"}
	a := EventID("acme", ch, &eventv1.Subject{Service: "a", Commit: "c1"})
	for _, s := range []*eventv1.Subject{{Service: "b", Commit: "c1"}, {Service: "a", Commit: "c2"}, {Service: "a", Commit: "c1", Environment: eventv1.Environment_ENVIRONMENT_PRODUCTION}} {
		if EventID("acme", ch, s) == a {
			t.Fatalf("subject %v gives the same id", s)
		}
	}
	if EventID("other", ch, &eventv1.Subject{Service: "a", Commit: "c1"}) == a {
		t.Fatal("tenant not in the id")
	}
	if EventID("acme", ch, &eventv1.Subject{Service: "a", Commit: "c1"}) != a {
		t.Fatal("id not deterministic")
	}
}

func TestEnvironmentClass(t *testing.T) {
	for name, want := range map[string]eventv1.Environment{
		"production": eventv1.Environment_ENVIRONMENT_PRODUCTION, "Prod-EU": eventv1.Environment_ENVIRONMENT_PRODUCTION,
		"prod1": eventv1.Environment_ENVIRONMENT_PRODUCTION, "live": eventv1.Environment_ENVIRONMENT_PRODUCTION,
		"staging": eventv1.Environment_ENVIRONMENT_STAGING, "uat_2": eventv1.Environment_ENVIRONMENT_STAGING,
		"github-pages": eventv1.Environment_ENVIRONMENT_UNSPECIFIED, "prodigy": eventv1.Environment_ENVIRONMENT_UNSPECIFIED,
		"review/fix-1": eventv1.Environment_ENVIRONMENT_UNSPECIFIED, "": eventv1.Environment_ENVIRONMENT_UNSPECIFIED,
	} {
		if got := EnvironmentClass(name); got != want {
			t.Errorf("%q: %v, want %v", name, got, want)
		}
	}
}

// TestIgnoredDeliveries: valid deliveries that are no change are answered
// (so webhook UIs stay green) with the reason, publish nothing, and are
// still refused when their signature is wrong.
func TestIgnoredDeliveries(t *testing.T) {
	e := newEnv(t, nil)
	push := []byte(`{"ref":"refs/heads/main","after":"3484a3fb816e0859fd6e1cea078d76385ff50625"}`)
	code, out := e.post(t, "tenant=acme", gitHubHeaders("push", push, ghSecret), push)
	if code != http.StatusAccepted || !strings.Contains(string(out), "subscribe the webhook to workflow_run") {
		t.Fatalf("push: %d %s", code, out)
	}
	if code, out := e.post(t, "tenant=acme", gitHubHeaders("push", push, "wrong"), push); code != http.StatusUnauthorized {
		t.Fatalf("push with a bad signature: %d %s", code, out)
	}
	if code, out := e.post(t, "tenant=acme", http.Header{"X-Gitlab-Event": {"Push Hook"}, "X-Gitlab-Token": {glSecret}}, []byte(`{"object_kind":"push"}`)); code != http.StatusAccepted ||
		!strings.Contains(string(out), "ignored") {
		t.Fatalf("gitlab push: %d %s", code, out)
	}
	ce := http.Header{"Authorization": {"Bearer " + token}, "Ce-Specversion": {"1.0"}, "Ce-Id": {"a1"}, "Ce-Source": {"/ci"},
		"Ce-Type": {"dev.cdevents.artifact.published.0.2.0"}, "Content-Type": {"application/json"}}
	if code, out := e.post(t, "", ce, []byte(`{"context":{},"subject":{"id":"pkg:oci/x"}}`)); code != http.StatusAccepted || !strings.Contains(string(out), "artifact.published is no change") {
		t.Fatalf("artifact.published: %d %s", code, out)
	}
	if evs := natstest.Published(t, e.bus); len(evs) != 0 {
		t.Fatalf("%d events published from ignored deliveries", len(evs))
	}
}
