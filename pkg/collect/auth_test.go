package collect_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/trilens/trilens/pkg/collect"
)

func TestGuardBindsRequestsToTheTokensTenant(t *testing.T) {
	auth := collect.NewAuth(map[string]string{"s3cret": "acme", "other": "globex"})
	var seen string
	h := auth.Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.URL.Query().Get("tenant") }))
	for _, tc := range []struct {
		name, token, query string
		status             int
		tenant             string
	}{
		{"no token", "", "", http.StatusUnauthorized, ""},
		{"unknown token", "guess", "", http.StatusUnauthorized, ""},
		{"own tenant implied", "s3cret", "", http.StatusOK, "acme"},
		{"own tenant named", "s3cret", "?tenant=acme", http.StatusOK, "acme"},
		{"another tenant", "s3cret", "?tenant=globex", http.StatusForbidden, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen = ""
			req := httptest.NewRequest(http.MethodGet, "/v1/scorecard"+tc.query, nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status || seen != tc.tenant {
				t.Fatalf("status %d tenant %q, want %d %q (%s)", rec.Code, seen, tc.status, tc.tenant, rec.Body.String())
			}
		})
	}
}

func TestGuardIsOpenWithoutTokens(t *testing.T) {
	called := false
	h := collect.NewAuth(nil).Guard(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/scorecard?tenant=any", nil))
	if !called {
		t.Fatal("without tokens every request passes (single-machine mode)")
	}
}
