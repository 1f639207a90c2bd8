package attack

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/services/trilens"
)

// public routes answer without a token: liveness, readiness, the Prometheus
// scrape and the list of services. None carries tenant data.
var public = []string{"GET /healthz", "GET /ready", "GET /metrics", "GET /services"}

// guardMount is where the API mux hangs under the guard; its own routes are
// attacked one by one.
const guardMount = "/v1/"

// Broken authentication (API2): every registered route but the public ones
// refuses a request without a token, or with a forged one.
func TestAttackEveryRouteNeedsAToken(t *testing.T) {
	r := newRig(t)
	before := r.state()
	routes := r.routes()
	attacked := 0
	for _, rt := range routes {
		if slices.Contains(public, rt.pattern) || rt.pattern == guardMount {
			continue
		}
		for _, token := range []string{"", "forged-token"} {
			code, body := r.do(rt.method, rt.path, token, []byte(`{}`))
			if code != http.StatusUnauthorized {
				t.Errorf("%s with token %q: %d, want 401 (%s)", rt.pattern, token, code, body)
			}
		}
		attacked++
	}
	if attacked < 15 {
		t.Fatalf("only %d routes found to attack: %v", attacked, routes)
	}
	if code, _ := r.do(http.MethodGet, "/v1/not-a-route", "", nil); code != http.StatusUnauthorized {
		t.Errorf("an unknown route under /v1/ answers %d before authentication, want 401", code)
	}
	if after := r.state(); after != before {
		t.Errorf("refused requests changed data:\nbefore %s\nafter  %s", before, after)
	}
	t.Logf("attacked %d routes without and with a forged token", attacked)
}

// Broken object-level authorization (API1): with a valid token of acme,
// every route that takes a tenant refuses globex's.
func TestAttackTenantCannotReachAnotherTenant(t *testing.T) {
	r := newRig(t)
	before := r.state()
	attacked := 0
	for _, rt := range r.routes() {
		if slices.Contains(public, rt.pattern) || rt.pattern == guardMount {
			continue
		}
		sep := "?"
		if strings.Contains(rt.path, "?") {
			sep = "&"
		}
		code, body := r.do(rt.method, rt.path+sep+"tenant=globex", "acme-admin", []byte(`{}`))
		if code != http.StatusForbidden {
			t.Errorf("%s as acme's admin naming globex: %d, want 403 (%s)", rt.pattern, code, body)
		}
		attacked++
	}
	if n := r.findings("acme-read", ""); n == 0 || r.findings("globex-read", "") == 0 {
		t.Fatal("the seed is missing")
	}
	// What acme sees is acme's only: its findings name acme's repository.
	code, body := r.do(http.MethodGet, "/v1/findings?kind=finding", "acme-read", nil)
	if code != http.StatusOK || strings.Contains(body, "globex") {
		t.Errorf("acme's findings show globex's data (%d): %.300s", code, body)
	}
	code, body = r.do(http.MethodGet, "/", "acme-read", nil)
	if code != http.StatusOK || strings.Contains(body, "globex") {
		t.Errorf("acme's page names globex (%d)", code)
	}
	if after := r.state(); after != before {
		t.Errorf("refused requests changed data:\nbefore %s\nafter  %s", before, after)
	}
	t.Logf("attacked %d routes across tenants", attacked)
}

// Injection through a badge (XSS in SVG): the service named in the path is
// escaped in the badge, which carries a policy forbidding scripts; a real
// service's badge tells the verdict its gate tells.
func TestAttackBadgeEscapesTheServiceName(t *testing.T) {
	r := newRig(t)
	before := r.state()
	code, body := r.do(http.MethodGet, "/v1/badge/"+url.PathEscape(`<script>alert(1)</script><svg onload="x">`)+".svg", "acme-read", nil)
	if code != http.StatusOK || strings.Contains(body, "<script") || strings.Contains(body, "<svg onload") || !strings.Contains(body, "&lt;script&gt;") || !strings.Contains(body, "no data") {
		t.Errorf("badge of a script-named service: %d\n%s", code, body)
	}
	req, _ := http.NewRequest(http.MethodGet, r.url+"/v1/badge/checkout.svg", nil)
	req.Header.Set("Authorization", "Bearer acme-read")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	svg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "image/svg+xml") || !strings.Contains(csp, "default-src 'none'") {
		t.Fatalf("badge: %d %s, CSP %q", resp.StatusCode, resp.Header.Get("Content-Type"), csp)
	}
	code, body = r.do(http.MethodGet, "/v1/gate?service=checkout", "acme-read", nil)
	var gate struct{ Pass bool }
	if err := json.Unmarshal([]byte(body), &gate); code != http.StatusOK || err != nil {
		t.Fatalf("gate: %d %v", code, err)
	}
	want := map[bool]string{true: ">pass<", false: ">fail<"}[gate.Pass]
	if !strings.Contains(string(svg), want) {
		t.Errorf("badge of checkout (gate pass=%v) lacks %s:\n%s", gate.Pass, want, svg)
	}
	if code, _ := r.do(http.MethodGet, "/v1/badge/checkout.png", "acme-read", nil); code != http.StatusNotFound {
		t.Errorf("badge without .svg: %d, want 404", code)
	}
	if after := r.state(); after != before {
		t.Errorf("badges changed data:\nbefore %s\nafter  %s", before, after)
	}
}

// Broken function-level authorization (API5): each role does its job only.
func TestAttackRolesAreEnforced(t *testing.T) {
	r := newRig(t)
	waiver := []byte(`{"target":"x","owner":"team","reason":"r","expires_at":"` + time.Now().Add(24*time.Hour).UTC().Format(time.RFC3339) + `"}`)
	before := r.state()
	for _, c := range []struct {
		what, method, path, token string
		body                      []byte
		want                      int
	}{
		{"CI reads the findings", "GET", "/v1/findings", "acme-ingest", nil, 403},
		{"CI reads the scorecard", "GET", "/v1/scorecard", "acme-ingest", nil, 403},
		{"CI reads a badge", "GET", "/v1/badge/checkout.svg", "acme-ingest", nil, 403},
		{"CI opens the page", "GET", "/", "acme-ingest", nil, 403},
		{"CI waives its own findings", "POST", "/v1/waivers", "acme-ingest", waiver, 403},
		{"CI revokes a waiver", "DELETE", "/v1/waivers/w1", "acme-ingest", nil, 403},
		{"a viewer uploads evidence", "POST", "/v1/scans?repo=acme/shop", "acme-read", []byte(`{}`), 403},
		{"a viewer waives", "POST", "/v1/waivers", "acme-read", waiver, 403},
		{"a tenant's admin loads the KEV catalogue every tenant reads", "POST", "/v1/scan/catalogs/kev", "acme-admin", kev, 403},
		{"a tenant's admin loads EPSS", "POST", "/v1/scan/catalogs/epss", "acme-admin", []byte("cve,epss,percentile\n"), 403},
	} {
		if code, body := r.do(c.method, c.path, c.token, c.body); code != c.want {
			t.Errorf("%s: %d, want %d (%s)", c.what, code, c.want, body)
		}
	}
	if after := r.state(); after != before {
		t.Errorf("refused requests changed data:\nbefore %s\nafter  %s", before, after)
	}
	// The same requests pass with the right role, so the refusals above are
	// the guard's, not broken routes.
	if code, body := r.do("GET", "/v1/gate", "acme-ingest", nil); code != 200 {
		t.Errorf("CI reads its gate: %d %s", code, body)
	}
	if code, body := r.do("POST", "/v1/scan/catalogs/kev", "operator", kev); code != 200 {
		t.Errorf("the operator loads KEV: %d %s", code, body)
	}
	if code, body := r.do("POST", "/v1/waivers", "acme-admin", waiver); code != 200 {
		t.Errorf("acme's admin waives: %d %s", code, body)
	}
}

var kev = []byte(`{"vulnerabilities":[{"cveID":"CVE-2021-44228","vendorProject":"Apache","product":"Log4j2","vulnerabilityName":"Log4Shell","dateAdded":"2021-12-10","dueDate":"2021-12-24","knownRansomwareCampaignUse":"Known"}]}`)

// A waiver records who made it from the token, whatever the body or a
// forged identity header say.
func TestAttackWaiverIdentityIsNotSelfAsserted(t *testing.T) {
	r := newRig(t)
	body := []byte(`{"id":"w-forged","target":"x","owner":"team","reason":"r","by":"the-ceo","expires_at":"` + time.Now().Add(24*time.Hour).UTC().Format(time.RFC3339) + `"}`)
	if code, out := r.do("POST", "/v1/waivers", "acme-admin", body, "X-Trilens-Identity", "the-ceo"); code != 200 {
		t.Fatalf("waive: %d %s", code, out)
	}
	code, out := r.do("GET", "/v1/waivers", "acme-read", nil)
	var book struct {
		Waivers []struct {
			ID        string `json:"id"`
			ChangedBy string `json:"changed_by"`
		}
	}
	if err := json.Unmarshal([]byte(out), &book); code != 200 || err != nil {
		t.Fatalf("waivers: %d %v %s", code, err, out)
	}
	for _, w := range book.Waivers {
		if w.ID == "w-forged" && w.ChangedBy != "admin-acme" {
			t.Fatalf("the waiver is recorded as made by %q, want the token's identity admin-acme", w.ChangedBy)
		}
		if w.ID == "w-forged" {
			return
		}
	}
	t.Fatalf("the waiver is not in the ledger: %s", out)
}

// Unrestricted resource consumption (API4): answers are bounded, a stalled
// upload releases its ingest slot, and nesting bombs are refused.
func TestAttackUnrestrictedResourceConsumption(t *testing.T) {
	r := newRig(t)
	for _, q := range []string{"/v1/kpis?limit=1000000000", "/v1/verdicts?limit=1000000000", "/v1/findings?limit=99999999",
		"/v1/kpis?since=100000d", "/v1/verdicts?since=876000h", "/v1/report?since=5000d"} {
		if code, body := r.do("GET", q, "acme-read", nil); code != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400 (%s)", q, code, body)
		}
	}
	// Two uploads that stop sending hold both scan slots (max_concurrent 2)
	// until the stall timeout (1 s here) cuts them.
	for range 2 {
		c, err := net.Dial("tcp", r.app.Server.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /v1/scans?repo=acme/shop HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer acme-ingest\r\nContent-Length: 10000000\r\n\r\n{\"version\":\"2.1.0\",")
	}
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if code, body := r.do("POST", "/v1/scans?repo=acme/shop&commit=c2", "acme-ingest", []byte(`{"version":"2.1.0","runs":[]}`)); code >= 500 {
		t.Fatalf("an upload after two stalled ones: %d %s", code, body)
	}
	if waited := time.Since(start); waited > 15*time.Second {
		t.Errorf("an upload waited %v behind two stalled ones (stall timeout 1s)", waited)
	}
	deep := []byte(strings.Repeat("[", 200_000) + strings.Repeat("]", 200_000))
	for _, rt := range r.routes() {
		if rt.method != http.MethodPost || !strings.HasPrefix(rt.path, "/v1/") || strings.Contains(rt.path, "catalogs") || rt.path == "/v1/waivers" {
			continue
		}
		code, body := r.do(rt.method, rt.path+"?repo=acme/shop", "acme-ingest", deep, "Content-Type", "application/json")
		if code < 400 || code >= 500 {
			t.Errorf("%s with JSON nested 200,000 deep: %d, want a 4xx (%s)", rt.pattern, code, body)
		}
	}
	if code, _ := r.do("GET", "/healthz", "", nil); code != 200 {
		t.Fatal("the process is not healthy after the nesting bombs")
	}
}

// A GET never writes: every GET route, as an admin, leaves ClickHouse
// without a single INSERT.
func TestAttackGetNeverWrites(t *testing.T) {
	r := newRig(t)
	before, state := r.inserts(), r.state()
	for _, rt := range r.routes() {
		if rt.method != http.MethodGet {
			continue
		}
		token := "acme-admin"
		if strings.HasPrefix(rt.path, "/v1/gate") {
			token = "acme-ingest"
		}
		r.do(rt.method, rt.path, token, nil)
	}
	if after := r.inserts(); after != before {
		t.Errorf("GET requests made %d INSERT queries", after-before)
	}
	if after := r.state(); after != state {
		t.Errorf("GET requests changed data:\nbefore %s\nafter  %s", state, after)
	}
}

// Security misconfiguration (API8): an open service on the network is
// refused unless asked for by name.
func TestAttackOpenServiceOnTheNetworkIsRefused(t *testing.T) {
	cfg := config(t)
	cfg.Auth.Tokens = nil
	cfg.Server.HTTPAddress = ":0"
	if _, err := trilens.NewApp(cfg, nil); err == nil || !strings.Contains(err.Error(), "--auth.insecure") {
		t.Fatalf("Trilens without tokens on every interface: %v, want a refusal naming --auth.insecure", err)
	}
	cfg.Server.HTTPAddress = "127.0.0.1:0"
	cfg.Trace.HTTPAddress = "0.0.0.0:0"
	if _, err := trilens.NewApp(cfg, nil); err == nil || !strings.Contains(err.Error(), "tracecollector.http_address") {
		t.Fatalf("OTLP without tokens on every interface: %v, want a refusal naming tracecollector.http_address", err)
	}
}

// Security misconfiguration (API8) of the scrape: with auth.metrics_token,
// /metrics joins the guarded routes: no token is refused, so are a tenant's
// tokens (the counters span every tenant), and the scraper's token opens
// /metrics and no other route.
func TestAttackMetricsNeedTheScrapersToken(t *testing.T) {
	cfg := config(t)
	cfg.Auth.MetricsToken = true
	r := startRig(t, cfg)
	before := r.state()
	open := slices.DeleteFunc(slices.Clone(public), func(p string) bool { return p == "GET /metrics" })
	attacked := 0
	for _, rt := range r.routes() {
		if slices.Contains(open, rt.pattern) || rt.pattern == guardMount {
			continue
		}
		if code, body := r.do(rt.method, rt.path, "", []byte(`{}`)); code != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d, want 401 (%s)", rt.pattern, code, body)
		}
		want := http.StatusForbidden
		if rt.pattern == "GET /metrics" {
			want = http.StatusOK
		}
		if code, body := r.do(rt.method, rt.path, "scraper", []byte(`{}`)); code != want {
			t.Errorf("%s with the scraper's token: %d, want %d (%s)", rt.pattern, code, want, body)
		}
		attacked++
	}
	if attacked < 15 {
		t.Fatalf("only %d routes found to attack", attacked)
	}
	for _, token := range []string{"acme-read", "acme-admin", "globex-ingest"} {
		if code, body := r.do(http.MethodGet, "/metrics", token, nil); code != http.StatusForbidden {
			t.Errorf("/metrics with %s's token: %d, want 403 (%s)", token, code, body)
		}
	}
	for _, token := range []string{"scraper", "operator"} {
		if code, body := r.do(http.MethodGet, "/metrics", token, nil); code != http.StatusOK || !strings.Contains(body, "go_goroutines") {
			t.Errorf("/metrics with %s's token: %d, want 200 and the Go metrics (%.200s)", token, code, body)
		}
	}
	if after := r.state(); after != before {
		t.Errorf("refused requests changed data:\nbefore %s\nafter  %s", before, after)
	}
}
