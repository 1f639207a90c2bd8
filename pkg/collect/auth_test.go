package collect_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/trilens/trilens/pkg/collect"
)

func token(id, tenant string, role collect.Role, value string) collect.Token {
	return collect.Token{ID: id, Tenant: tenant, Role: role, SHA256: collect.HashToken(value)}
}

var testTokens = []collect.Token{
	token("ci-acme", "acme", collect.RoleIngest, "ingest-acme"),
	token("viewer-acme", "acme", collect.RoleRead, "read-acme"),
	token("admin-acme", "acme", collect.RoleAdmin, "admin-acme"),
	token("ci-globex", "globex", collect.RoleIngest, "ingest-globex"),
	token("operator", "", collect.RoleSystem, "system"),
}

func TestGuardBindsRequestsToTheTokensTenant(t *testing.T) {
	auth := collect.NewAuth(testTokens)
	var seen, who string
	h := auth.Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.URL.Query().Get("tenant")
		who = r.Header.Get(collect.IdentityHeader)
	}))
	for _, tc := range []struct {
		name, method, path, token, query string
		status                           int
		tenant, who                      string
	}{
		{"no token", "GET", "/v1/scorecard", "", "", http.StatusUnauthorized, "", ""},
		{"unknown token", "GET", "/v1/scorecard", "guess", "", http.StatusUnauthorized, "", ""},
		{"own tenant implied", "GET", "/v1/scorecard", "read-acme", "", http.StatusOK, "acme", "viewer-acme"},
		{"own tenant named", "GET", "/v1/scorecard", "read-acme", "?tenant=acme", http.StatusOK, "acme", "viewer-acme"},
		{"another tenant", "GET", "/v1/scorecard", "read-acme", "?tenant=globex", http.StatusForbidden, "", ""},
		{"ingest may upload", "POST", "/v1/scans", "ingest-acme", "", http.StatusOK, "acme", "ci-acme"},
		{"ingest may read its gate", "GET", "/v1/gate", "ingest-acme", "", http.StatusOK, "acme", "ci-acme"},
		{"ingest may not read findings", "GET", "/v1/findings", "ingest-acme", "", http.StatusForbidden, "", ""},
		{"ingest may not waive", "POST", "/v1/waivers", "ingest-acme", "", http.StatusForbidden, "", ""},
		{"read may not upload", "POST", "/v1/scans", "read-acme", "", http.StatusForbidden, "", ""},
		{"read may not waive", "POST", "/v1/waivers", "read-acme", "", http.StatusForbidden, "", ""},
		{"admin may waive", "POST", "/v1/waivers", "admin-acme", "", http.StatusOK, "acme", "admin-acme"},
		{"admin may not load catalogues", "POST", "/v1/scan/catalogs/kev", "admin-acme", "", http.StatusForbidden, "", ""},
		{"system loads catalogues", "POST", "/v1/scan/catalogs/kev", "system", "", http.StatusOK, "default", "operator"},
		{"system names a tenant", "GET", "/v1/findings", "system", "?tenant=globex", http.StatusOK, "globex", "operator"},
		{"unknown write is admin's", "PUT", "/v1/anything-new", "ingest-acme", "", http.StatusForbidden, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen, who = "", ""
			req := httptest.NewRequest(tc.method, tc.path+tc.query, nil)
			req.Header.Set(collect.IdentityHeader, "forged")
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status || seen != tc.tenant || who != tc.who {
				t.Fatalf("status %d tenant %q identity %q, want %d %q %q (%s)", rec.Code, seen, who, tc.status, tc.tenant, tc.who, rec.Body.String())
			}
		})
	}
}

func TestGuardIsOpenWithoutTokens(t *testing.T) {
	var who string
	h := collect.NewAuth(nil).Guard(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { who = r.Header.Get(collect.IdentityHeader) }))
	req := httptest.NewRequest(http.MethodPost, "/v1/waivers?tenant=any", nil)
	req.Header.Set(collect.IdentityHeader, "forged")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if who != collect.Anonymous.ID {
		t.Fatalf("without tokens every request passes as %q, got identity %q", collect.Anonymous.ID, who)
	}
}

func TestTokenValidation(t *testing.T) {
	for _, tc := range []struct {
		tok collect.Token
		ok  bool
	}{
		{token("ci", "acme", collect.RoleIngest, "x"), true},
		{token("", "acme", collect.RoleIngest, "x"), false},
		{token("ci", "acme", "owner", "x"), false},
		{token("ci", "", collect.RoleRead, "x"), false},
		{token("op", "acme", collect.RoleSystem, "x"), false},
		{collect.Token{ID: "ci", Tenant: "acme", Role: collect.RoleRead, SHA256: "plain-token"}, false},
	} {
		if err := tc.tok.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: Validate() = %v, want ok=%v", tc.tok, err, tc.ok)
		}
	}
}
