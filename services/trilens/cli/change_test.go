package cli

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/collect/collecttest"
	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/store/chtest"
	"github.com/trilens/trilens/services/changecollector"
)

func changeFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "changecollector", "testdata", "real", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestChangesIntoClickHouse posts the real webhook payloads (signed with
// the tenant's secrets) and a generic file with `trilens submit change`,
// through a real JetStream and the scorer, and reads the changes table.
func TestChangesIntoClickHouse(t *testing.T) {
	st := chtest.Store(t) // TestMain (demo_test.go) runs the package's ClickHouse
	b := natstest.Bus(t)
	var cfg changecollector.Config
	cfg.RegisterFlags("", flag.NewFlagSet("c", flag.ContinueOnError))
	cfg.Secrets = map[string]changecollector.Secrets{"acme": {GitHub: "gh-secret", GitLab: "gl-secret"}}
	coll, err := changecollector.New(cfg, collect.Settings{Logger: slog.New(slog.DiscardHandler), Publisher: b,
		Registerer: prometheus.NewRegistry(), Auth: collect.NewAuth(collecttest.IngestTokens(map[string]string{"tok-acme": "acme"}))})
	if err != nil {
		t.Fatal(err)
	}
	srv := collecttest.Serve(t, coll, startScorer(t, b, st, nil))

	post := func(query string, hdr http.Header, body []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/changes?"+query, bytes.NewReader(body))
		req.Header = hdr
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("%s: %s", query, resp.Status)
		}
	}
	github := func(event, file string) {
		body := changeFixture(t, file)
		m := hmac.New(sha256.New, []byte("gh-secret"))
		m.Write(body)
		post("tenant=acme", http.Header{"X-Github-Event": {event}, "X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(m.Sum(nil))}}, body)
	}
	github("workflow_run", "github/workflow_run_completed.payload.json")
	github("deployment_status", "github/deployment_status_payload.json")
	post("tenant=acme", http.Header{"X-Gitlab-Event": {"Pipeline Hook"}, "X-Gitlab-Token": {"gl-secret"}}, changeFixture(t, "gitlab/pipeline.json"))
	post("tenant=acme", http.Header{"X-Gitlab-Event": {"Deployment Hook"}, "X-Gitlab-Token": {"gl-secret"}}, changeFixture(t, "gitlab/deployment.json"))
	post("repo=acme/myapp", http.Header{"Authorization": {"Bearer tok-acme"}, "Ce-Specversion": {"1.0"}, "Ce-Id": {"271069a8-fc18-44f1-b38f-9d70a1695819"},
		"Ce-Source": {"/event/source/123"}, "Ce-Type": {"dev.cdevents.service.deployed.0.2.0"}}, changeFixture(t, "cdevents/service_deployed.json"))
	for _, f := range []string{"alertmanager/firing.json", "alertmanager/resolved.json"} {
		post("", http.Header{"Authorization": {"Bearer tok-acme"}}, changeFixture(t, f))
	}
	file := filepath.Join(t.TempDir(), "rollback.json")
	if err := os.WriteFile(file, []byte(`{"id":"rb-1","type":"rollback","status":"success","environment":"production",
		"started_at":"2026-11-30T10:00:00Z","finished_at":"2026-11-30T10:03:00Z","rollback_of":"github:deployment:145988746","commit":"c0ffee"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := runCLI("submit", "change", "--url", srv.URL, "--token", "tok-acme", "--repo", "acme/shop", "--service", "checkout-api", file); code != 0 ||
		!strings.Contains(out, "generic rollback rb-1 success") {
		t.Fatalf("submit change: %d %s", code, out)
	}

	// One row per published event: id, type, status, environment class, repository, commit, start, end.
	want := []string{
		"alertmanager:8ac16c595505bc76:1796492235 incident open production  1796492235 0",
		"alertmanager:8ac16c595505bc76:1796492235 incident resolved production  1796492235 1796492237",
		"cdevents:/event/source/123:271069a8-fc18-44f1-b38f-9d70a1695819 deploy success  acme/myapp 0 1679322425",
		"github:deployment:145988746 deploy success production Codertocat/Hello-World 1557933653 1557933655",
		"github:workflow_run:289782451:1 ci_run success ci octo-org/octo-repo 1601915629 1601915629",
		"gitlab:deployment:30:15 deploy success staging root/test-deployment-webhooks 0 1619639400",
		"gitlab:pipeline:1:31 ci_run success ci gitlab-org/gitlab-test 1471015408 1471015589",
		"rb-1 rollback success production acme/shop 1796032800 1796032980",
	}
	q := fmt.Sprintf(`SELECT change_id, type, status, environment, repository,
		toUInt32(started_at), toUInt32(finished_at) FROM %s.changes FINAL WHERE tenant = 'acme' ORDER BY change_id, status`, st.Database())
	var got []string
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		got = got[:0]
		rows, err := st.Conn().Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id, typ, status, env, repo string
			var started, finished uint32
			if err := rows.Scan(&id, &typ, &status, &env, &repo, &started, &finished); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%s %s %s %s %s %d %d", id, typ, status, env, repo, started, finished))
		}
		rows.Close()
		if len(got) >= len(want) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("changes table:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
