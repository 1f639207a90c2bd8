package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, doc string) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func attrs(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestJourneyFor(t *testing.T) {
	p := mustParse(t, `
journeys:
  - name: checkout
    match:
      - http_route: /api/checkout
      - root_span: POST /pay
        service: web
  - name: browse
    match:
      - attributes: { http.request.method: GET, app.area: shop }
  - name: anything-from-web
    match:
      - service: web
  - name: products
    match:
      - http_route: /api/products/*
        service: "catalog-*"
`)
	for _, tc := range []struct {
		service, root, route string
		attr                 map[string]string
		want                 string
	}{
		{"web", "GET /x", "/api/checkout", nil, "checkout"},
		{"api", "POST /pay", "", nil, ""},         // root_span needs service web too
		{"web", "POST /pay", "", nil, "checkout"}, // the first journey wins
		{"web", "GET /", "", nil, "anything-from-web"},
		{"edge", "GET /", "", map[string]string{"http.request.method": "GET", "app.area": "shop"}, "browse"},
		{"edge", "GET /", "", map[string]string{"http.request.method": "GET"}, ""},
		{"edge", "GET /", "/api/checkout/", nil, ""},
		{"catalog-eu", "GET", "/api/products/{id}", nil, "products"},
		{"catalog", "GET", "/api/products/{id}", nil, ""},
	} {
		var a func(string) (string, bool)
		if tc.attr != nil {
			a = attrs(tc.attr)
		}
		j, ok := p.JourneyFor(tc.service, tc.root, tc.route, a)
		got := ""
		if ok {
			got = j.Name
		}
		if got != tc.want {
			t.Errorf("JourneyFor(%q, %q, %q, %v) = %q, want %q", tc.service, tc.root, tc.route, tc.attr, got, tc.want)
		}
	}
}

func TestOwners(t *testing.T) {
	p := mustParse(t, `
services:
  - { name: web, owner: web-team }
  - { name: billing }
  - { name: misc }
journeys:
  - { name: search, service: web, match: [{ service: web }] }
  - { name: pay, service: billing, owner: pay-team, match: [{ service: billing }] }
  - { name: refund, service: billing, match: [{ service: billing }] }
  - { name: orphan, match: [{ service: x }] }
owners:
  default_team: platform
  rules:
    - { team: search-team, journeys: [search], paths: ["*.go"] }
    - { team: billing-team, services: [billing, web], paths: [/services/billing/, docs/**/*.md] }
    - { team: override, paths: [/services/billing/legacy/**] }
`)
	for _, tc := range []struct{ kind, name, want string }{
		{"service", "web", "web-team"},         // its own owner beats a rule
		{"service", "billing", "billing-team"}, // a rule
		{"service", "misc", "platform"},        // the default
		{"service", "unknown", "platform"},
		{"journey", "search", "search-team"},  // a rule beats the service's owner
		{"journey", "pay", "pay-team"},        // its own owner
		{"journey", "refund", "billing-team"}, // its service's owner
		{"journey", "orphan", "platform"},
		{"path", "cmd/main.go", "search-team"},
		{"path", "services/billing/main.go", "billing-team"}, // later rules win
		{"path", "services/billing/legacy/old.go", "override"},
		{"path", "docs/guide/intro.md", "billing-team"},
		{"path", "README.md", "platform"},
	} {
		var got string
		switch tc.kind {
		case "service":
			got = p.OwnerOfService(tc.name)
		case "journey":
			got = p.OwnerOfJourney(tc.name)
		case "path":
			got = p.OwnerOfPath(tc.name)
		}
		if got != tc.want {
			t.Errorf("owner of %s %q = %q, want %q", tc.kind, tc.name, got, tc.want)
		}
	}
}

func TestMatchPattern(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "a/b/c.go", true},
		{"*.js", "web/app.js", true},
		{"*.js", "app.js", true},
		{"*.js", "app.jsx", false},
		{"/build/logs/", "build/logs/x.log", true},
		{"/build/logs/", "build/logs", false}, // a file, not the directory
		{"/build/logs/", "src/build/logs/x", false},
		{"docs/*", "docs/getting-started.md", true},
		{"docs/*", "docs/build-app/troubleshooting.md", false},
		{"docs/", "a/docs/x.md", true}, // no slash but the last: any depth
		{"apps/", "apps/x/y", true},
		{"/apps", "apps/x", true}, // a directory matches what is below it
		{"/apps", "src/apps/x", false},
		{"**/logs", "deep/down/logs/x", true},
		{"**/logs", "logs/x", true},
		{"docs/**", "docs/a/b", true},
		{"docs/**", "docs", false},
		{"a/**/b", "a/b", true},
		{"a/**/b", "a/x/y/b", true},
		{"a/**/b", "a/x/y/c", false},
		{"/scripts/", "./scripts/deps.sh", true},
		{"?.go", "a.go", true},
		{"?.go", "ab.go", false},
	} {
		if got := matchPattern(tc.pattern, tc.name); got != tc.want {
			t.Errorf("matchPattern(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func TestActiveWaiver(t *testing.T) {
	p := mustParse(t, `
waivers:
  - { id: A, fingerprint: f1, owner: o, reason: r, expires: 2026-06-30 }
  - { id: B, kpi: p95_ms, scope: checkout, owner: o, reason: r, expires: "2026-06-01T12:00:00Z" }
  - { id: C, kpi: lcp_ms, owner: o, reason: r, expires: 2026-06-30 }
`)
	june := func(day, hour int) time.Time { return time.Date(2026, 6, day, hour, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		key, scope string
		now        time.Time
		want       string
	}{
		{"f1", "", june(30, 23), "A"}, // a date holds through that day
		{"f1", "", june(30, 24), ""},
		{"f1", "anything", june(1, 0), "A"},
		{"p95_ms", "checkout", june(1, 11), "B"},
		{"p95_ms", "checkout", june(1, 12), ""}, // expired at the instant
		{"p95_ms", "browse", june(1, 0), ""},
		{"lcp_ms", "any-page", june(1, 0), "C"}, // no scope: every scope
		{"", "", june(1, 0), ""},
		{"f2", "", june(1, 0), ""},
	} {
		w, ok := p.ActiveWaiver(tc.key, tc.scope, tc.now)
		got := ""
		if ok {
			got = w.ID
		}
		if got != tc.want {
			t.Errorf("ActiveWaiver(%q, %q, %v) = %q, want %q", tc.key, tc.scope, tc.now, got, tc.want)
		}
	}
}

func TestWarnings(t *testing.T) {
	p := mustParse(t, `
journeys:
  - name: ghost
waivers:
  - { id: OLD, fingerprint: f, owner: o, reason: r, expires: 2025-01-31 }
  - { id: NEW, fingerprint: g, owner: o, reason: r, expires: 2030-01-31 }
`)
	w := p.Warnings(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	want := []string{
		`test.yaml:3: journeys[0]: journey "ghost" has no match rules, so no trace is assigned to it`,
		`test.yaml:5: waivers[0].expires: waiver "OLD" expired at 2025-02-01T00:00:00Z; what it waived counts again`,
	}
	if len(w) != len(want) {
		t.Fatalf("warnings %v, want %q", w, want)
	}
	for i := range want {
		if w[i].Error() != want[i] {
			t.Errorf("warning %d:\n got %s\nwant %s", i, w[i], want[i])
		}
	}
}

func TestScalabilityAndWebVitalsFor(t *testing.T) {
	p := mustParse(t, `
scalability:
  default: { utilisation_ceiling: 0.6 }
  targets:
    - { name: checkout-api, peak_rps: 400 }
    - { name: soak, peak_rps: 50, utilisation_ceiling: 0.9 }
web_vitals:
  default: { lcp_ms: 3000 }
  pages:
    - { url: "https://shop.example/checkout*", lcp_ms: 2000 }
    - { url: "*/search?*", inp_ms: 100 }
`)
	if tg, ok := p.ScalabilityFor("soak", "checkout-api"); !ok || tg.PeakRPS != 50 || tg.UtilisationCeiling != 0.9 {
		t.Errorf("test name first: %+v %v", tg, ok)
	}
	if tg, ok := p.ScalabilityFor("smoke", "checkout-api"); !ok || tg.PeakRPS != 400 || tg.UtilisationCeiling != 0.6 {
		t.Errorf("service, inheriting the default ceiling: %+v %v", tg, ok)
	}
	if tg, ok := p.ScalabilityFor("", "catalog"); ok || tg.UtilisationCeiling != 0.6 || tg.MinHeadroom != 0.2 {
		t.Errorf("default: %+v %v", tg, ok)
	}
	for url, want := range map[string]PageBudget{
		"https://shop.example/checkout/pay": {URL: "https://shop.example/checkout*", LCPMs: 2000, INPMs: 200, TBTMs: 200, CLS: 0.1, TTFBMs: 800, MinPerformanceScore: 90},
		"https://shop.example/search?q=x":   {URL: "*/search?*", LCPMs: 3000, INPMs: 100, TBTMs: 200, CLS: 0.1, TTFBMs: 800, MinPerformanceScore: 90},
		"https://shop.example/":             {LCPMs: 3000, INPMs: 200, TBTMs: 200, CLS: 0.1, TTFBMs: 800, MinPerformanceScore: 90},
	} {
		if got, _ := p.WebVitalsFor(url); got != want {
			t.Errorf("WebVitalsFor(%q) = %+v, want %+v", url, got, want)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"abc", "abc", true}, {"abc", "abcd", false}, {"*", "", true}, {"a*", "a/b/c", true},
		{"*c", "abc", true}, {"*c", "abd", false}, {"a*b*c", "a-b-c", true}, {"a*b*c", "acb", false},
		{"ab*ba", "aba", false}, {"*x*", "axb", true},
	} {
		if got := globMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestIsThirdParty(t *testing.T) {
	listed := Detections{SyncThirdParty: SyncThirdParty{Hosts: []string{"stripe.com", "*.twilio.com"}}}
	anyExt := Detections{SyncThirdParty: SyncThirdParty{Hosts: []string{"stripe.com"}, AnyExternalHost: true, InternalDomains: []string{"shop.internal", ".svc.cluster.local"}}}
	for _, tc := range []struct {
		d    Detections
		host string
		want bool
	}{
		{listed, "stripe.com", true},
		{listed, "API.Stripe.com:443", true},
		{listed, "notstripe.com", false},
		{listed, "api.twilio.com", true},
		{listed, "example.com", false},
		{anyExt, "example.com", true},
		{anyExt, "db.shop.internal", false},
		{anyExt, "payments.default.svc.cluster.local:8080", false},
		{anyExt, "payments", false},
		{anyExt, "localhost:5432", false},
		{anyExt, "10.1.2.3", false},
		{anyExt, "[::1]:80", false},
		{anyExt, "redis.default.svc", false},
		{anyExt, "metadata.google.internal", false},
		{anyExt, "8.8.8.8", true},
		{anyExt, "", false},
		{anyExt, "8.8.8.8:53", true},
		{anyExt, "[2001:4860::8888]:443", true},
		{anyExt, "fe80::1", false},
	} {
		if got := tc.d.IsThirdParty(tc.host); got != tc.want {
			t.Errorf("IsThirdParty(%q) with %+v = %v, want %v", tc.host, tc.d.SyncThirdParty, got, tc.want)
		}
	}
}

func TestLookupsByName(t *testing.T) {
	p := mustParse(t, `
services: [{ name: api }]
journeys: [{ name: j, hops: { api: 50, db: 20 }, p95_ms: 100 }]
security: { deny_licences: [GPL-3.0-only] }
owners: { teams: [{ name: t, webhook: "http://127.0.0.1:1/x" }] }
hop_rules:
  - { service: cdn-*, hop: cdn }
  - { service: envoy, hop: edge }
`)
	if _, ok := p.Service("api"); !ok {
		t.Error("Service(api)")
	}
	if _, ok := p.Service("nope"); ok {
		t.Error("Service(nope)")
	}
	if tm, ok := p.Team("t"); !ok || tm.Webhook != "http://127.0.0.1:1/x" {
		t.Errorf("Team(t) = %+v", tm)
	}
	j, _ := p.Journey("j")
	if b, ok := j.Hops.Budget("db"); !ok || b != 20 {
		t.Errorf("db budget %v %v", b, ok)
	}
	if _, ok := j.Hops.Budget("cdn"); ok {
		t.Error("cdn budget set")
	}
	var none *Hops
	if _, ok := none.Budget("db"); ok {
		t.Error("nil hops")
	}
	if !p.Security.LicenceDenied("gpl-3.0-only") || p.Security.LicenceDenied("MIT") {
		t.Error("LicenceDenied")
	}
	if p.HopFor("cdn-eu") != "cdn" || p.HopFor("envoy") != "edge" || p.HopFor("web") != "" {
		t.Errorf("HopFor: %q %q %q", p.HopFor("cdn-eu"), p.HopFor("envoy"), p.HopFor("web"))
	}
	if p.Severity.BlastRadius.Tier(1) != 3 || p.Severity.BlastRadius.Tier(7) != 1 || p.Severity.BlastRadius.Exposure(ExposureInternet) != 1.5 {
		t.Error("blast radius weights")
	}
}

// BenchmarkJourneyFor measures the per-trace cost for the trace collector.
func BenchmarkJourneyFor(b *testing.B) {
	p, err := Load("../../trilens.yaml")
	if err != nil {
		b.Fatal(err)
	}
	attr := attrs(map[string]string{"http.request.method": "GET"})
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := p.JourneyFor("catalog", "GET /api/products/{id}", "/api/products/{id}", attr); !ok {
			b.Fatal("no journey")
		}
	}
}

func BenchmarkIsThirdParty(b *testing.B) {
	d := Default().Detections
	b.ReportAllocs()
	for b.Loop() {
		if !d.IsThirdParty("api.stripe.com:443") {
			b.Fatal("not third party")
		}
	}
}

func TestSignerKeysAreResolvedAndUnique(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "trilens.yaml")
	doc := `version: 1
security:
  signers:
    - key: keys/cosign.pub
    - identity: https://github.com/acme/shop/.github/workflows/release.yml@refs/heads/main
      issuer: https://token.actions.githubusercontent.com
    - key: keys/cosign.pub
`
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	got := p.SignerKeys()
	if len(got) != 1 || got[0] != filepath.Join(dir, "keys/cosign.pub") {
		t.Fatalf("SignerKeys() = %v, want the one key, resolved against the policy's directory", got)
	}
}

func TestSignerCovers(t *testing.T) {
	p := mustParse(t, `
security:
  signers:
    - identity_regexp: ^https://github.com/acme/
      issuer: https://token.actions.githubusercontent.com
      repositories: [github.com/Acme/*]
    - key: cosign.pub
      artifacts: ["shop-*", registry.example.com/web]
    - identity: ops@example.com
      issuer: https://accounts.google.com
`)
	s := p.Security.Signers
	for _, tc := range []struct {
		signer         int
		artifact, repo string
		want           bool
	}{
		{0, "anything", "github.com/acme/shop", true},
		{0, "anything", "github.com/other/shop", false},
		{0, "anything", "", false},
		{1, "shop-web", "", true},
		{1, "registry.example.com/web", "github.com/acme/shop", true},
		{1, "web", "github.com/acme/shop", false},
		{2, "", "", true},
	} {
		if got := s[tc.signer].Covers(tc.artifact, tc.repo); got != tc.want {
			t.Errorf("signer %d Covers(%q, %q) = %v, want %v", tc.signer, tc.artifact, tc.repo, got, tc.want)
		}
	}
}

func TestSignerScopeIsValidated(t *testing.T) {
	_, err := Parse([]byte(`
security:
  signers:
    - key: cosign.pub
      artifacts: [""]
      repositories: [https://github.com/acme/shop]
`), "scope.yaml")
	if err == nil {
		t.Fatal("an empty artifact pattern and a URL as repository were accepted")
	}
	for _, want := range []string{"security.signers[0].artifacts[0]", "security.signers[0].repositories[0]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}
