package collect

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/trilens/trilens/pkg/events"
)

// Auth maps bearer tokens to tenants. With no tokens configured the
// collector is open (single-machine mode) and the tenant comes from the
// `tenant` parameter or X-Trilens-Tenant header, default "default".
type Auth struct {
	tokens map[string]string
}

// NewAuth takes token -> tenant.
func NewAuth(tokens map[string]string) *Auth { return &Auth{tokens: tokens} }

// Tenant authenticates r and returns its tenant.
func (a *Auth) Tenant(r *http.Request) (string, error) {
	if a == nil || len(a.tokens) == 0 {
		t := param(r, "tenant")
		if t == "" {
			t = "default"
		}
		if err := events.ValidateTenant(t); err != nil {
			return "", Errorf(http.StatusBadRequest, "tenant", "%v", err)
		}
		return t, nil
	}
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return "", Errorf(http.StatusUnauthorized, "Authorization", "want a bearer token: Authorization: Bearer <token>")
	}
	for known, tenant := range a.tokens {
		if subtle.ConstantTimeCompare([]byte(known), []byte(tok)) == 1 {
			return tenant, nil
		}
	}
	return "", Errorf(http.StatusUnauthorized, "Authorization", "unknown token")
}

// Guard makes every request to h carry a valid token when tokens are
// configured, and binds it to the token's tenant: a `tenant` parameter or
// X-Trilens-Tenant header naming another tenant is refused with 403, and a
// request naming none gets the token's. Read APIs that take the tenant from
// the request are thereby limited to the caller's own data.
func (a *Auth) Guard(h http.Handler) http.Handler {
	if a == nil || len(a.tokens) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenant, err := a.Tenant(r)
		if err != nil {
			WriteError(w, nil, err)
			return
		}
		if named := param(r, "tenant"); named != "" && named != tenant {
			WriteError(w, nil, Errorf(http.StatusForbidden, "tenant", "the token belongs to tenant %q, not %q", tenant, named))
			return
		}
		q := r.URL.Query()
		q.Set("tenant", tenant)
		r.URL.RawQuery = q.Encode()
		r.Header.Set("X-Trilens-Tenant", tenant)
		h.ServeHTTP(w, r)
	})
}
