package trilens_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/trilens/trilens/pkg/collect/collecttest"
	"github.com/trilens/trilens/services/trilens"
)

// TestChangeCollectorTarget runs -target=changecollector with bearer tokens:
// a signed GitHub webhook gets in without a token (the guard in front of
// the other /v1/ routes would refuse it), an unsigned one does not, and
// other routes still want a token.
func TestChangeCollectorTarget(t *testing.T) {
	cfg := defaults(t)
	cfg.Target = "changecollector"
	cfg.DataDir = t.TempDir()
	cfg.NATS.Listen = ""
	cfg.NATS.StoreDir = t.TempDir()
	cfg.Server.HTTPAddress = "127.0.0.1:0"
	cfg.Auth.Tokens = collecttest.IngestTokens(map[string]string{"tok-acme": "acme"})
	if err := cfg.LoadYAML("testdata/config/changecollector.yaml", false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cfg.Redacted(), "github: REDACTED") || strings.Contains(cfg.Redacted(), "gh-secret") {
		t.Fatalf("-config.print shows the webhook secret:\n%s", cfg.Redacted())
	}
	app, err := trilens.NewApp(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := app.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	srv := httptest.NewServer(app.Server.Mux)
	t.Cleanup(srv.Close)

	body, err := os.ReadFile("../changecollector/testdata/real/github/workflow_run_completed.payload.json")
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, []byte("gh-secret"))
	m.Write(body)
	post := func(path string, hdr map[string]string, body []byte) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	signed := map[string]string{"X-GitHub-Event": "workflow_run", "X-Hub-Signature-256": "sha256=" + hex.EncodeToString(m.Sum(nil))}
	if code := post("/v1/changes?tenant=acme", signed, body); code != http.StatusAccepted {
		t.Fatalf("signed webhook: %d", code)
	}
	if code := post("/v1/changes?tenant=acme", map[string]string{"X-GitHub-Event": "workflow_run"}, body); code != http.StatusUnauthorized {
		t.Fatalf("unsigned webhook: %d, want 401", code)
	}
	generic := []byte(`{"id":"d1","type":"deploy","status":"success"}`)
	if code := post("/v1/changes", nil, generic); code != http.StatusUnauthorized {
		t.Fatalf("generic change without a token: %d, want 401", code)
	}
	if code := post("/v1/changes", map[string]string{"Authorization": "Bearer tok-acme"}, generic); code != http.StatusAccepted {
		t.Fatalf("generic change with a token: %d", code)
	}
	if code := post("/v1/scans?tenant=acme", signed, body); code != http.StatusUnauthorized {
		t.Fatalf("a webhook signature opened another route: %d", code)
	}
}
