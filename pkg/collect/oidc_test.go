package collect_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/trilens/trilens/pkg/collect"
)

// issuer is an OpenID provider on loopback: discovery, keys, and ID tokens
// signed with its key (or another one, for forgeries).
type issuer struct {
	*httptest.Server
	key *rsa.PrivateKey
}

func newIssuer(t *testing.T) *issuer {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &issuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": is.URL, "jwks_uri": is.URL + "/keys",
			"authorization_endpoint": is.URL + "/auth", "token_endpoint": is.URL + "/token", "id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	is.Server = httptest.NewServer(mux)
	t.Cleanup(is.Close)
	return is
}

func (is *issuer) token(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]any{"iss": is.URL, "aud": "trilens", "sub": "u-123", "email": "ana@acme.example",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range claims {
		base[k] = v
	}
	payload, _ := json.Marshal(base)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOIDCIDTokensMapToTenantAndRole(t *testing.T) {
	is := newIssuer(t)
	auth := collect.NewAuth(nil)
	if err := auth.EnableOIDC(context.Background(), collect.OIDCConfig{Issuer: is.URL, ClientID: "trilens"}); err != nil {
		t.Fatal(err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	var who, tenant string
	h := auth.Guard(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		who, tenant = r.Header.Get(collect.IdentityHeader), r.URL.Query().Get("tenant")
	}))
	for _, c := range []struct {
		name, method, path, token string
		want                      int
		who, tenant               string
	}{
		{"a viewer reads", "GET", "/v1/findings", is.token(t, is.key, map[string]any{"trilens_tenant": "acme", "trilens_role": "read"}), 200, "oidc:ana@acme.example", "acme"},
		{"a viewer may not waive", "POST", "/v1/waivers", is.token(t, is.key, map[string]any{"trilens_tenant": "acme", "trilens_role": "read"}), 403, "", ""},
		{"an admin waives", "POST", "/v1/waivers", is.token(t, is.key, map[string]any{"trilens_tenant": "acme", "trilens_role": "admin"}), 200, "oidc:ana@acme.example", "acme"},
		{"people never ingest or run the system", "GET", "/v1/findings", is.token(t, is.key, map[string]any{"trilens_tenant": "acme", "trilens_role": "system"}), 401, "", ""},
		{"another tenant", "GET", "/v1/findings?tenant=globex", is.token(t, is.key, map[string]any{"trilens_tenant": "acme", "trilens_role": "read"}), 403, "", ""},
		{"signed by another key", "GET", "/v1/findings", is.token(t, other, map[string]any{"trilens_tenant": "acme", "trilens_role": "read"}), 401, "", ""},
		{"for another audience", "GET", "/v1/findings", is.token(t, is.key, map[string]any{"aud": "grafana", "trilens_tenant": "acme", "trilens_role": "read"}), 401, "", ""},
		{"expired", "GET", "/v1/findings", is.token(t, is.key, map[string]any{"exp": time.Now().Add(-time.Hour).Unix(), "trilens_tenant": "acme", "trilens_role": "read"}), 401, "", ""},
		{"no tenant claim", "GET", "/v1/findings", is.token(t, is.key, map[string]any{"trilens_role": "read"}), 401, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			who, tenant = "", ""
			req := httptest.NewRequest(c.method, c.path, nil)
			req.Header.Set("Authorization", "Bearer "+c.token)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != c.want || who != c.who || tenant != c.tenant {
				t.Fatalf("%d identity %q tenant %q, want %d %q %q (%s)", rec.Code, who, tenant, c.want, c.who, c.tenant, rec.Body.String())
			}
		})
	}
}
