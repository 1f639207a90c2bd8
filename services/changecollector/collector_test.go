package changecollector

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/collect/collecttest"
	"github.com/trilens/trilens/pkg/natstest"
	changev1 "github.com/trilens/trilens/proto/trilens/change/v1"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, natstest.LeakOptions()...) }

const (
	ghSecret = "It's a Secret to Everybody"
	glSecret = "gl-token-7f3a"
	token    = "tok-acme"
)

type env struct {
	bus *bus.Bus
	srv *httptest.Server
}

// newEnv runs a collector on a real embedded NATS server. By default the
// collectors take bearer tokens and tenant acme has GitHub and GitLab secrets.
func newEnv(t testing.TB, mutate func(*Config, *collect.Settings)) *env {
	t.Helper()
	b := natstest.Bus(t)
	var cfg Config
	cfg.RegisterFlags("", flag.NewFlagSet("", flag.ContinueOnError))
	cfg.Secrets = map[string]Secrets{"acme": {GitHub: ghSecret, GitLab: glSecret}}
	set := collect.Settings{Logger: slog.New(slog.DiscardHandler), Publisher: b,
		Auth: collect.NewAuth(collecttest.IngestTokens(map[string]string{token: "acme", "tok-other": "other"}))}
	if mutate != nil {
		mutate(&cfg, &set)
	}
	c, err := New(cfg, set)
	if err != nil {
		t.Fatal(err)
	}
	return &env{bus: b, srv: collecttest.Serve(t, c)}
}

func (e *env) post(t *testing.T, query string, hdr http.Header, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/changes?"+query, bytes.NewReader(body))
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func real(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "real", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sign(body []byte, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func gitHubHeaders(event string, body []byte, secret string) http.Header {
	h := http.Header{"X-Github-Event": {event}, "X-Github-Delivery": {"72d3162e-cc78-11e3-81ab-4c9367dc0958"}}
	if secret != "" {
		h.Set("X-Hub-Signature-256", sign(body, secret))
	}
	return h
}

// cloudEventHeaders carries a CDEvent in CloudEvents binary mode, its
// context in ce-* headers as the CDEvents CloudEvents binding says.
func cloudEventHeaders(t *testing.T, cdevent []byte) http.Header {
	t.Helper()
	var cd cdEvent
	if err := json.Unmarshal(cdevent, &cd); err != nil {
		t.Fatal(err)
	}
	return http.Header{"Ce-Specversion": {"1.0"}, "Ce-Id": {cd.Context.ID}, "Ce-Source": {cd.Context.Source},
		"Ce-Type": {cd.Context.Type}, "Ce-Subject": {cd.Subject.ID}, "Ce-Time": {cd.Context.Timestamp.Format(time.RFC3339Nano)},
		"Authorization": {"Bearer " + token}}
}

// structuredCloudEvent wraps a CDEvent in a CloudEvent in structured mode.
func structuredCloudEvent(t *testing.T, cdevent []byte) []byte {
	t.Helper()
	var cd cdEvent
	if err := json.Unmarshal(cdevent, &cd); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(map[string]any{"specversion": "1.0", "id": cd.Context.ID, "source": cd.Context.Source,
		"type": cd.Context.Type, "subject": cd.Subject.ID, "time": cd.Context.Timestamp, "datacontenttype": "application/json",
		"data": json.RawMessage(cdevent)})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func ts(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixNano()
}

// want is what one real payload must become. The values are read from the
// payload files (jq), one field of the source per field of the change.
type want struct {
	id, status, title, url, pipeline, environment, digest string
	typ                                                   changev1.ChangeType
	started, finished                                     int64
	repo, commit, branch, service                         string
	env                                                   eventv1.Environment
	commitAt                                              int64
}

func TestRealPayloadsAccepted(t *testing.T) {
	e := newEnv(t, nil)
	gl := func(event string) http.Header {
		return http.Header{"X-Gitlab-Event": {event}, "X-Gitlab-Token": {glSecret}}
	}
	cases := []struct {
		file   string
		format string
		hdr    func([]byte) http.Header
		body   func([]byte) []byte
		query  string
		want   *want // nil: accepted, nothing published
	}{
		{file: "github/workflow_run_completed.payload.json", format: FormatGitHub,
			hdr: func(b []byte) http.Header { return gitHubHeaders("workflow_run", b, ghSecret) },
			want: &want{id: "github:workflow_run:289782451:1", typ: changev1.ChangeType_CHANGE_TYPE_CI_RUN, status: "success",
				started: ts("2020-10-05T16:33:49Z"), finished: ts("2020-10-05T16:33:49Z"),
				title: "ci(action): update actions/setup-node digest to 8c91899", url: "https://github.com/octo-org/octo-repo/actions/runs/289782451",
				pipeline: "test",
				repo:     "octo-org/octo-repo", commit: "3484a3fb816e0859fd6e1cea078d76385ff50625", branch: "master",
				env: eventv1.Environment_ENVIRONMENT_CI, commitAt: ts("2020-10-05T16:32:07Z")}},
		{file: "github/workflow_run_requested.payload.json", format: FormatGitHub,
			hdr: func(b []byte) http.Header { return gitHubHeaders("workflow_run", b, ghSecret) },
			want: &want{id: "github:workflow_run:289782451:1", typ: changev1.ChangeType_CHANGE_TYPE_CI_RUN, status: "running",
				started: ts("2020-10-05T16:33:49Z"),
				title:   "ci(action): update actions/setup-node digest to 8c91899", url: "https://github.com/octo-org/octo-repo/actions/runs/289782451",
				pipeline: "test",
				repo:     "octo-org/octo-repo", commit: "3484a3fb816e0859fd6e1cea078d76385ff50625", branch: "master",
				env: eventv1.Environment_ENVIRONMENT_CI, commitAt: ts("2020-10-05T16:32:07Z")}},
		{file: "github/deployment_status_payload.json", format: FormatGitHub,
			hdr: func(b []byte) http.Header { return gitHubHeaders("deployment_status", b, ghSecret) },
			want: &want{id: "github:deployment:145988746", typ: changev1.ChangeType_CHANGE_TYPE_DEPLOY, status: "success",
				started: ts("2019-05-15T15:20:53Z"), finished: ts("2019-05-15T15:20:55Z"), title: "deploy master to production",
				environment: "production", repo: "Codertocat/Hello-World", commit: "f95f852bd8fca8fcc58a9a2d6c842781e32a215e", branch: "master",
				env: eventv1.Environment_ENVIRONMENT_PRODUCTION}},
		{file: "github/deployment_status_gh-pages.payload.json", format: FormatGitHub, query: "service=docs",
			hdr: func(b []byte) http.Header { return gitHubHeaders("deployment_status", b, ghSecret) },
			want: &want{id: "github:deployment:145988746", typ: changev1.ChangeType_CHANGE_TYPE_DEPLOY, status: "running",
				started: ts("2022-01-03T01:28:30Z"), title: "deploy master to github-pages",
				url:         "https://github.com/Codertocat/Hello-World/runs/145988746?check_suite_focus=true",
				environment: "github-pages", repo: "Codertocat/Hello-World", commit: "f95f852bd8fca8fcc58a9a2d6c842781e32a215e", branch: "master",
				service: "docs"}},
		{file: "github/check_run_completed.payload.json", format: FormatGitHub,
			hdr: func(b []byte) http.Header { return gitHubHeaders("check_run", b, ghSecret) },
			want: &want{id: "github:check_run:128620228", typ: changev1.ChangeType_CHANGE_TYPE_CI_RUN, status: "success",
				started: ts("2019-05-15T15:21:12Z"), finished: ts("2019-05-15T15:21:12Z"), title: "Octocoders-linter", pipeline: "Octocoders-linter",
				url:  "https://github.com/Codertocat/Hello-World/runs/128620228",
				repo: "Codertocat/Hello-World", commit: "ec26c3e57ca3a959ca5aad62de7213c562f8c821", branch: "changes",
				env: eventv1.Environment_ENVIRONMENT_CI}},
		{file: "github/ping_payload.json", format: FormatGitHub,
			hdr: func(b []byte) http.Header { return gitHubHeaders("ping", b, ghSecret) }},
		{file: "gitlab/pipeline.json", format: FormatGitLab, hdr: func([]byte) http.Header { return gl("Pipeline Hook") },
			want: &want{id: "gitlab:pipeline:1:31", typ: changev1.ChangeType_CHANGE_TYPE_CI_RUN, status: "success",
				started: ts("2016-08-12T15:23:28Z"), finished: ts("2016-08-12T15:26:29Z"), title: "test",
				url: "http://192.168.64.1:3005/gitlab-org/gitlab-test/-/pipelines/31", pipeline: "pipeline",
				repo: "gitlab-org/gitlab-test", commit: "bcbb5ec396a2c0f828686f14fac9b80b780504f2", branch: "master",
				env: eventv1.Environment_ENVIRONMENT_CI, commitAt: ts("2016-08-12T17:23:21+02:00")}},
		{file: "gitlab/deployment.json", format: FormatGitLab, hdr: func([]byte) http.Header { return gl("Deployment Hook") },
			want: &want{id: "gitlab:deployment:30:15", typ: changev1.ChangeType_CHANGE_TYPE_DEPLOY, status: "success",
				finished: ts("2021-04-28T21:50:00+02:00"), title: "Add new file", environment: "staging",
				url:  "http://10.126.0.2:3000/root/test-deployment-webhooks/-/jobs/796",
				repo: "root/test-deployment-webhooks", commit: "279484c09fbe69ededfced8c1bb6e6d24616b468", branch: "1.0.0",
				env: eventv1.Environment_ENVIRONMENT_STAGING}},
		{file: "cdevents/service_deployed.json", format: FormatCloudEvents, query: "repo=acme/myapp",
			hdr: func(b []byte) http.Header { return cloudEventHeaders(t, b) },
			want: &want{id: "cdevents:/event/source/123:271069a8-fc18-44f1-b38f-9d70a1695819", typ: changev1.ChangeType_CHANGE_TYPE_DEPLOY,
				status: "success", finished: ts("2023-03-20T14:27:05.315384Z"), environment: "test123",
				title:  "deployed pkg:oci/myapp@sha256%3A0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427 to test123",
				digest: "sha256:0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427",
				repo:   "acme/myapp", service: "mySubject123"}},
		{file: "cdevents/service_rolledback.json", format: FormatCloudEvents,
			hdr:  func([]byte) http.Header { return http.Header{"Authorization": {"Bearer " + token}} },
			body: func(b []byte) []byte { return structuredCloudEvent(t, b) },
			want: &want{id: "cdevents:/event/source/123:271069a8-fc18-44f1-b38f-9d70a1695819", typ: changev1.ChangeType_CHANGE_TYPE_ROLLBACK,
				status: "success", finished: ts("2023-03-20T14:27:05.315384Z"), environment: "test123",
				title:  "rolledback pkg:oci/myapp@sha256%3A0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427 to test123",
				digest: "sha256:0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427", service: "mySubject123"}},
		{file: "cdevents/incident_detected.json", format: FormatCloudEvents,
			hdr: func(b []byte) http.Header { return cloudEventHeaders(t, b) },
			want: &want{id: "cdevents:/monitoring/prod1:incident:incident-123", typ: changev1.ChangeType_CHANGE_TYPE_INCIDENT,
				status: "open", started: ts("2022-11-11T13:52:20.079Z"), title: "Response time above threshold of 100ms",
				environment: "prod1", service: "myApp", env: eventv1.Environment_ENVIRONMENT_PRODUCTION,
				digest: "sha256:0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427"}},
		{file: "cdevents/incident_resolved.json", format: FormatCloudEvents,
			hdr: func(b []byte) http.Header {
				return http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/cloudevents+json"}}
			},
			body: func(b []byte) []byte { return structuredCloudEvent(t, b) },
			want: &want{id: "cdevents:/monitoring/prod1:incident:incident-123", typ: changev1.ChangeType_CHANGE_TYPE_INCIDENT,
				status: "resolved", finished: ts("2022-11-11T13:52:20.079Z"), title: "Response time restored below 100ms",
				environment: "prod1", service: "myApp", env: eventv1.Environment_ENVIRONMENT_PRODUCTION,
				digest: "sha256:0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93439"}},
		{file: "cdevents/pipelinerun_finished.json", format: FormatCloudEvents,
			hdr: func(b []byte) http.Header { return cloudEventHeaders(t, b) },
			want: &want{id: "cdevents:/event/source/123:pipelinerun:mySubject123", typ: changev1.ChangeType_CHANGE_TYPE_CI_RUN,
				status: "failure", finished: ts("2023-03-20T14:27:05.315384Z"), title: "myPipeline", pipeline: "myPipeline",
				url: "https://www.example.com/mySubject123", env: eventv1.Environment_ENVIRONMENT_CI}},
	}
	published := 0
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			raw := real(t, c.file)
			body := raw
			if c.body != nil {
				body = c.body(raw)
			}
			query := c.query
			if c.format == FormatGitHub || c.format == FormatGitLab {
				// Webhooks send no bearer token: the URL names the tenant whose secret signs them.
				query = "tenant=acme&" + query
			}
			code, out := e.post(t, query, c.hdr(body), body)
			if code != http.StatusAccepted {
				t.Fatalf("%d %s", code, out)
			}
			var acc Accepted
			if err := json.Unmarshal(out, &acc); err != nil {
				t.Fatal(err)
			}
			if acc.Format != c.format {
				t.Fatalf("format %q, want %q", acc.Format, c.format)
			}
			if (c.format == FormatGitHub || c.format == FormatGitLab) != acc.Verified {
				t.Fatalf("signature_verified %v", acc.Verified)
			}
			evs := natstest.Published(t, e.bus)
			if c.want == nil {
				if acc.Events != 0 || acc.Ignored == "" || len(evs) != published {
					t.Fatalf("want nothing published and a reason: %s", out)
				}
				return
			}
			if acc.Events != 1 || len(evs) != published+1 {
				t.Fatalf("answer %s, %d events on the stream after %d", out, len(evs), published)
			}
			published++
			ev := evs[len(evs)-1]
			checkEvent(t, ev, c.want, c.format)
			if acc.Changes[0].EventID != ev.GetEnvelope().GetEventId() {
				t.Fatalf("answer names event %s, stream has %s", acc.Changes[0].EventID, ev.GetEnvelope().GetEventId())
			}
		})
	}
	// A redelivery publishes nothing new: the event id is deterministic.
	b := real(t, "github/workflow_run_completed.payload.json")
	if code, out := e.post(t, "tenant=acme", gitHubHeaders("workflow_run", b, ghSecret), b); code != http.StatusAccepted {
		t.Fatalf("redelivery: %d %s", code, out)
	}
	if n := len(natstest.Published(t, e.bus)); n != published {
		t.Fatalf("redelivery stored: %d events, want %d", n, published)
	}
}

func checkEvent(t *testing.T, ev *eventv1.Event, w *want, format string) {
	t.Helper()
	env := ev.GetEnvelope()
	if env.GetTenant() != "acme" || env.GetKind() != eventv1.Kind_KIND_CHANGE || env.GetProducer().GetTool() != format {
		t.Fatalf("envelope %v", env)
	}
	chs := ev.GetChanges().GetChanges()
	if len(chs) != 1 {
		t.Fatalf("%d changes in one event", len(chs))
	}
	ch := chs[0]
	got := want{id: ch.GetId(), status: ch.GetStatus(), title: ch.GetTitle(), url: ch.GetUrl(), pipeline: ch.GetPipeline(),
		environment: ch.GetEnvironment(), digest: ch.GetArtifactDigest(), typ: ch.GetType(),
		started: ch.GetStartedUnixNano(), finished: ch.GetFinishedUnixNano(),
		repo: env.GetSubject().GetRepository(), commit: env.GetSubject().GetCommit(), branch: env.GetSubject().GetBranch(),
		service: env.GetSubject().GetService(), env: env.GetSubject().GetEnvironment()}
	if len(ch.GetCommits()) > 0 {
		got.commitAt = ch.GetCommits()[0].GetCommittedUnixNano()
		if ch.GetCommits()[0].GetSha() != got.commit {
			t.Errorf("head commit %s, subject commit %s", ch.GetCommits()[0].GetSha(), got.commit)
		}
	}
	if w.url == "" {
		got.url = "" // only checked where the test names one
	}
	if w.title == "" {
		got.title = ""
	}
	if got != *w {
		t.Fatalf("change\n got %+v\nwant %+v", got, *w)
	}
	if ch.GetSource() != format || ch.GetSourceEvent() == "" {
		t.Fatalf("source %q/%q", ch.GetSource(), ch.GetSourceEvent())
	}
	wantObserved := w.finished
	if wantObserved == 0 {
		wantObserved = w.started
	}
	if env.GetObservedAt().AsTime().UnixNano() != wantObserved {
		t.Fatalf("observed_at %v, want the change's time", env.GetObservedAt().AsTime())
	}
}

// TestBadSignaturesRefused sends every real webhook with a wrong, missing
// or downgraded signature: each is refused with 401 naming the header, and
// nothing reaches the stream.
func TestBadSignaturesRefused(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *collect.Settings) {
		c.Secrets["other"] = Secrets{GitHub: "other's secret"}
	})
	wf := real(t, "github/workflow_run_completed.payload.json")
	ds := real(t, "github/deployment_status_payload.json")
	pl := real(t, "gitlab/pipeline.json")
	tampered := bytes.Replace(wf, []byte(`"conclusion": "success"`), []byte(`"conclusion": "failure"`), 1)
	if bytes.Equal(tampered, wf) {
		t.Fatal("tampering changed nothing")
	}
	sha1sig := func(body []byte) string {
		m := hmac.New(sha1.New, []byte(ghSecret))
		m.Write(body)
		return "sha1=" + hex.EncodeToString(m.Sum(nil))
	}
	cases := []struct {
		name, query, field string
		hdr                http.Header
		body               []byte
	}{
		{"github wrong secret", "tenant=acme", "X-Hub-Signature-256", gitHubHeaders("workflow_run", wf, "not the secret"), wf},
		{"github missing signature", "tenant=acme", "X-Hub-Signature-256", gitHubHeaders("deployment_status", ds, ""), ds},
		{"github body tampered after signing", "tenant=acme", "X-Hub-Signature-256",
			http.Header{"X-Github-Event": {"workflow_run"}, "X-Hub-Signature-256": {sign(wf, ghSecret)}}, tampered},
		{"github sha1 only", "tenant=acme", "X-Hub-Signature-256",
			http.Header{"X-Github-Event": {"workflow_run"}, "X-Hub-Signature": {sha1sig(wf)}}, wf},
		{"github malformed signature", "tenant=acme", "X-Hub-Signature-256",
			http.Header{"X-Github-Event": {"workflow_run"}, "X-Hub-Signature-256": {"sha256=zz"}}, wf},
		{"github bearer token but no signature", "", "X-Hub-Signature-256",
			http.Header{"X-Github-Event": {"workflow_run"}, "Authorization": {"Bearer " + token}}, wf},
		{"github signed with another tenant's secret", "tenant=other", "X-Hub-Signature-256", gitHubHeaders("workflow_run", wf, ghSecret), wf},
		{"gitlab for a tenant without a gitlab secret", "tenant=other", "Authorization", http.Header{"X-Gitlab-Event": {"Pipeline Hook"}, "X-Gitlab-Token": {glSecret}}, pl},
		{"github no tenant named", "", "Authorization", gitHubHeaders("workflow_run", wf, ghSecret), wf},
		{"gitlab wrong token", "tenant=acme", "X-Gitlab-Token", http.Header{"X-Gitlab-Event": {"Pipeline Hook"}, "X-Gitlab-Token": {"guess"}}, pl},
		{"gitlab missing token", "tenant=acme", "X-Gitlab-Token", http.Header{"X-Gitlab-Event": {"Pipeline Hook"}}, pl},
		{"gitlab token of another source", "tenant=acme", "X-Gitlab-Token", http.Header{"X-Gitlab-Event": {"Pipeline Hook"}, "X-Gitlab-Token": {ghSecret}}, pl},
		{"cloudevent without bearer", "tenant=acme", "Authorization", http.Header{"Ce-Specversion": {"1.0"}}, real(t, "cdevents/service_deployed.json")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out := e.post(t, c.query, c.hdr, c.body)
			if code != http.StatusUnauthorized {
				t.Fatalf("%d %s, want 401", code, out)
			}
			var ce collect.Error
			if err := json.Unmarshal(out, &ce); err != nil || ce.Field != c.field {
				t.Fatalf("answer %s names %q, want %q", out, ce.Field, c.field)
			}
			for _, s := range []string{ghSecret, glSecret} {
				if strings.Contains(string(out), s) {
					t.Fatalf("answer reveals a secret: %s", out)
				}
			}
		})
	}
	if evs := natstest.Published(t, e.bus); len(evs) != 0 {
		t.Fatalf("%d events published from refused requests", len(evs))
	}
	// The same deliveries, correctly signed, pass: the refusals were the signatures'.
	if code, out := e.post(t, "tenant=acme", gitHubHeaders("workflow_run", wf, ghSecret), wf); code != http.StatusAccepted {
		t.Fatalf("signed: %d %s", code, out)
	}
	if code, out := e.post(t, "tenant=acme", http.Header{"X-Gitlab-Event": {"Pipeline Hook"}, "X-Gitlab-Token": {glSecret}}, pl); code != http.StatusAccepted {
		t.Fatalf("token: %d %s", code, out)
	}
	if evs := natstest.Published(t, e.bus); len(evs) != 2 {
		t.Fatalf("%d events, want 2", len(evs))
	}
}

// TestGitHubFormEncoded: GitHub's default content type sends the payload in
// a form field and signs the form body.
func TestGitHubFormEncoded(t *testing.T) {
	e := newEnv(t, nil)
	payload := real(t, "github/deployment_status_payload.json")
	form := []byte(url.Values{"payload": {string(payload)}}.Encode())
	hdr := gitHubHeaders("deployment_status", form, ghSecret)
	hdr.Set("Content-Type", "application/x-www-form-urlencoded")
	if code, out := e.post(t, "tenant=acme", hdr, form); code != http.StatusAccepted {
		t.Fatalf("%d %s", code, out)
	}
	// Signed over the payload instead of the form: refused.
	hdr = gitHubHeaders("deployment_status", payload, ghSecret)
	hdr.Set("Content-Type", "application/x-www-form-urlencoded")
	if code, out := e.post(t, "tenant=acme", hdr, form); code != http.StatusUnauthorized {
		t.Fatalf("%d %s, want 401", code, out)
	}
	evs := natstest.Published(t, e.bus)
	if len(evs) != 1 || evs[0].GetChanges().GetChanges()[0].GetId() != "github:deployment:145988746" {
		t.Fatalf("events %v", evs)
	}
}
