package web

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
)

func TestMain(m *testing.M) { os.Exit(chtest.Run(m)) }

// seedDemo writes KPI points like the demo's: a few weeks of history per
// lens, the checkout journey failing its p95 budget now.
func seedDemo(t *testing.T, st *store.Store, now time.Time) {
	t.Helper()
	var rows store.KPIPointRows
	add := func(id string, ago time.Duration, lens, kpi, scope, owner, status string, value, budget float64) {
		rows.Append(store.KPIPoint{
			Scope: store.Scope{Tenant: "shop", EventID: id, Repository: "github.com/shop/checkout-api", Branch: "main", ObservedAt: now.Add(-ago)},
			Lens:  lens, KPI: kpi, KPIScope: scope, Value: value, Budget: budget, Status: status, Owner: owner,
		})
	}
	for week := 5; week >= 1; week-- {
		ago := time.Duration(week) * 7 * 24 * time.Hour
		status := "pass"
		if week%2 == 0 {
			status = "fail"
		}
		add(fmt.Sprint("p", week), ago, "performance", "journey.p95_ms", "checkout", "team-checkout", status, 250+float64(week*20), 300)
		add(fmt.Sprint("s", week), ago, "security", "security.critical_open", "payments", "team-payments", "pass", 0, 0)
		add(fmt.Sprint("c", week), ago, "scalability", "load.headroom", "catalog", "team-catalog", "pass", 0.3, 0.2)
	}
	add("now-p", time.Hour, "performance", "journey.p95_ms", "checkout", "team-checkout", "fail", 420, 300)
	add("now-b", time.Hour, "performance", "journey.p95_ms", "browse", "team-catalog", "pass", 150, 200)
	add("now-k", time.Hour, "security", "security.kev_open", "payments", "team-payments", "fail", 1, 0)
	add("now-w", time.Hour, "security", "sbom.signed_share", "checkout-api", "team-checkout", "warn", 0.8, 1)
	if err := st.Insert(context.Background(), &rows); err != nil {
		t.Fatal(err)
	}
}

func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: run `make deps` (scripts/deps.d/80-grafana.sh installs Debian's chromium)")
	return ""
}

// headless runs Chromium on url with the given mode flag (--dump-dom or
// --screenshot=...) in a profile of its own.
func headless(t *testing.T, bin, url string, mode ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-dev-shm-usage", "--no-first-run", "--user-data-dir=" + t.TempDir(), "--window-size=1280,1000"}, mode...)
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", mode, err, stderr.String())
	}
	return stdout.Bytes()
}

func TestPageRendersInHeadlessChromium(t *testing.T) {
	st := chtest.Store(t)
	seedDemo(t, st, time.Now().UTC())
	srv := httptest.NewServer(Handler(st, nil))
	defer srv.Close()
	bin := chromium(t)

	dom := string(headless(t, bin, srv.URL+"/", "--dump-dom"))
	for _, want := range []string{
		`<h1>Trilens scorecard — shop</h1>`,
		`id="lens-performance"`, `id="lens-security"`, `id="lens-scalability"`,
		`data-kpi="journey.p95_ms" data-scope="checkout" data-status="fail"`,
		`data-kpi="journey.p95_ms" data-scope="browse" data-status="pass"`,
		`data-kpi="sbom.signed_share" data-scope="checkout-api" data-status="warn"`,
		`<span class="c-fail">1 fail</span>`,
		`<svg class="trend" data-lens="performance"`,
		`<polyline points="`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered DOM lacks %s", want)
		}
	}
	// Top risks: the furthest over budget first (420/300 = 1.4).
	risks := dom[strings.Index(dom, `id="risks"`):]
	if i, j := strings.Index(risks, "journey.p95_ms"), strings.Index(risks, "security.kev_open"); i < 0 || j < 0 || i > j || !strings.Contains(risks, ">1.4<") {
		t.Errorf("top risks not ordered by how far over budget:\n%s", risks)
	}
	if n := strings.Count(dom, "<circle "); n < 10 {
		t.Errorf("trend charts have %d points, want a point per lens and week (at least 10)", n)
	}

	dir := os.Getenv("TRILENS_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	shot := filepath.Join(dir, "scorecard.png")
	headless(t, bin, srv.URL+"/", "--screenshot="+shot, "--hide-scrollbars")
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	if len(png) < 10_000 || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot %s is not a rendered page (%d bytes)", shot, len(png))
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
}

func TestPageAnswersWithoutData(t *testing.T) {
	st := chtest.Store(t)
	rec := httptest.NewRecorder()
	Handler(st, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "No KPI points yet") || !strings.Contains(rec.Body.String(), "no data yet") {
		t.Fatalf("empty store: %d %s", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	Handler(st, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/other", nil))
	if rec.Code != 404 {
		t.Fatalf("GET /other: %d, want 404", rec.Code)
	}
}
