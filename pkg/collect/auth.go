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
