package corpus

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/store/chtest"
	"github.com/trilens/trilens/services/trilens"
)

func TestMain(m *testing.M) { os.Exit(chtest.Run(m, natstest.LeakOptions()...)) }

const tenant = "corpus"

func start(t *testing.T) (*trilens.App, string) {
	var cfg trilens.Config
	cfg.RegisterFlags(flag.NewFlagSet("corpus", flag.ContinueOnError))
	cfg.DataDir = t.TempDir()
	cfg.PolicyFile = "no-policy.yaml"
	cfg.NATS.Listen = ""
	cfg.NATS.StoreDir = t.TempDir()
	cfg.Server.HTTPAddress = "127.0.0.1:0"
	cfg.Trace.GRPCAddress, cfg.Trace.HTTPAddress = "127.0.0.1:0", "127.0.0.1:0"
	cfg.ClickHouse.Start = false
	sc := chtest.Config(t)
	cfg.Store.DSN, cfg.Store.Database = sc.DSN, sc.Database
	app, err := trilens.NewApp(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = app.Stop(ctx)
	})
	return app, "http://" + app.Server.Addr()
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func post(t *testing.T, u string, body []byte) {
	t.Helper()
	resp, err := http.Post(u, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST %s: %d %s", u, resp.StatusCode, out)
	}
}

// waitCount polls q (one count) until it equals want, or fails after a minute.
func waitCount(t *testing.T, app *trilens.App, what string, want uint64, q string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var n uint64
	for {
		if err := app.Store.Conn().QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if n == want || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n != want {
		t.Errorf("%s: %d rows in ClickHouse, want %d", what, n, want)
	}
}

// Every real SBOM (CycloneDX 1.2-1.7, SPDX 2.2-2.3, JSON and tag-value)
// lands in the components table with counts.sh's component count.
func TestRealSBOMsEndToEnd(t *testing.T) {
	dir := "../../sbomcollector/testdata/real"
	var want map[string]uint64
	if err := json.Unmarshal(read(t, filepath.Join(dir, "counts.json")), &want); err != nil {
		t.Fatal(err)
	}
	if len(want) < 10 {
		t.Fatalf("only %d SBOMs in the corpus", len(want))
	}
	app, base := start(t)
	i := 0
	for name, n := range want {
		i++
		commit := fmt.Sprintf("sbom%02d", i)
		q := url.Values{"tenant": {tenant}, "repo": {"corpus/sboms"}, "commit": {commit}, "artifact": {name}}
		post(t, base+"/v1/sboms?"+q.Encode(), read(t, filepath.Join(dir, "sboms", name)))
		waitCount(t, app, name, n, `SELECT count() FROM `+app.Store.Database()+`.components FINAL WHERE tenant = ? AND commit = ?`, tenant, commit)
	}
}

type lighthouseExpectation struct {
	File string `json:"file"`
	Kind string `json:"kind"`
	Runs []map[string]any
}

// Every real Lighthouse report and user flow (3.0 to 13.4) lands in
// web_vitals with one row per run, and the metrics a report lacks are
// stored as absent, never as a value.
func TestRealLighthouseEndToEnd(t *testing.T) {
	dir := "../../loadcollector/testdata/real"
	var exps []lighthouseExpectation
	if err := json.Unmarshal(read(t, filepath.Join(dir, "expected.json")), &exps); err != nil {
		t.Fatal(err)
	}
	app, base := start(t)
	db := app.Store.Database()
	files := 0
	for i, e := range exps {
		if e.Kind != "lighthouse" {
			continue
		}
		files++
		commit := fmt.Sprintf("lh%02d", i)
		q := url.Values{"tenant": {tenant}, "repo": {"corpus/web"}, "commit": {commit}}
		post(t, base+"/v1/webvitals?"+q.Encode(), read(t, filepath.Join(dir, e.File)))
		waitCount(t, app, e.File+" runs", uint64(len(e.Runs)), `SELECT count() FROM `+db+`.web_vitals FINAL WHERE tenant = ? AND commit = ?`, tenant, commit)
		lcpAbsent := uint64(0)
		for _, r := range e.Runs {
			if r["lcp_ms"] == nil {
				lcpAbsent++
			}
		}
		waitCount(t, app, e.File+" runs without LCP", lcpAbsent,
			`SELECT countIf(has(absent, 'lcp_ms') AND lcp_ms = 0) FROM `+db+`.web_vitals FINAL WHERE tenant = ? AND commit = ?`, tenant, commit)
	}
	if files < 10 {
		t.Fatalf("only %d Lighthouse files in the corpus", files)
	}
}
