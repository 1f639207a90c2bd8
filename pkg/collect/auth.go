package collect

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/trilens/trilens/pkg/events"
)

// Role is what a token may do. Roles are not a ladder: ingest and read are
// disjoint, admin covers both within its tenant, system covers everything.
type Role string

const (
	// RoleIngest submits evidence and reads its own gate: the CI token.
	RoleIngest Role = "ingest"
	// RoleRead reads the scorecard, findings, verdicts, report and page.
	RoleRead Role = "read"
	// RoleAdmin also creates and revokes waivers and changes the policy of
	// its tenant.
	RoleAdmin Role = "admin"
	// RoleSystem is an operator's token: any tenant (named in the request)
	// and the global catalogues (KEV, EPSS) that every tenant's scores read.
	RoleSystem Role = "system"
	// RoleMetrics is a Prometheus scraper's token: /metrics, when
	// auth.metrics_token closes it, and nothing else. The metrics count
	// every tenant's work, so it has no tenant, and a tenant's admin does not
	// qualify.
	RoleMetrics Role = "metrics"
)

// Roles lists every role, for validation and help texts.
var Roles = []Role{RoleIngest, RoleRead, RoleAdmin, RoleSystem, RoleMetrics}

// Token is one configured bearer token. Only the SHA-256 of its value is
// kept in configuration, so a leaked config file leaks no token; `trilens
// token hash` prints the digest of a new token.
type Token struct {
	// ID names the holder (a CI system, a person): it is recorded on the
	// waivers the token creates and in logs, never the token itself.
	ID     string `yaml:"id"`
	Tenant string `yaml:"tenant"`
	Role   Role   `yaml:"role"`
	SHA256 string `yaml:"sha256"`
}

// HashToken is the digest stored for a token value.
func HashToken(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])
}

// Validate checks one configured token.
func (t Token) Validate() error {
	var errs []error
	if t.ID == "" {
		errs = append(errs, errors.New("id: required (names the holder on waivers and in logs)"))
	}
	switch t.Role {
	case RoleIngest, RoleRead, RoleAdmin:
		if err := events.ValidateTenant(t.Tenant); err != nil {
			errs = append(errs, fmt.Errorf("tenant: %w", err))
		}
	case RoleSystem:
		if t.Tenant != "" && t.Tenant != "*" {
			errs = append(errs, fmt.Errorf("tenant: a system token covers every tenant: leave it empty or \"*\", not %q", t.Tenant))
		}
	case RoleMetrics:
		if t.Tenant != "" {
			errs = append(errs, fmt.Errorf("tenant: a metrics token reads every tenant's counters and acts for none: leave it empty, not %q", t.Tenant))
		}
	default:
		errs = append(errs, fmt.Errorf("role: want one of %v, got %q", Roles, t.Role))
	}
	if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != sha256.Size {
		errs = append(errs, errors.New("sha256: want the 64 hex digits of the token's SHA-256 (trilens token hash)"))
	}
	return errors.Join(errs...)
}

// Identity is who made a request, as the guard established it.
type Identity struct {
	ID     string
	Tenant string
	Role   Role
}

// Anonymous is the identity of every request when no tokens are configured
// (single machine, loopback only): it may do anything.
var Anonymous = Identity{ID: "anonymous", Role: RoleSystem}

type identityKey struct{}

// IdentityFrom is the identity the guard attached to a request's context.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// WithIdentity attaches id to ctx (the guard does; tests of handlers too).
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// Auth maps bearer tokens to identities. With no tokens configured the
// collector is open (single-machine mode, loopback only) and the tenant
// comes from the `tenant` parameter or X-Trilens-Tenant header, default
// "default".
type Auth struct {
	tokens []Token
	hashes [][]byte
	oidc   *oidcVerifier
}

// NewAuth takes the configured tokens; they must be valid (Token.Validate).
func NewAuth(tokens []Token) *Auth {
	a := &Auth{tokens: tokens}
	for _, t := range tokens {
		b, _ := hex.DecodeString(t.SHA256)
		a.hashes = append(a.hashes, b)
	}
	return a
}

// Open says whether no tokens are configured.
func (a *Auth) Open() bool { return a == nil || (len(a.tokens) == 0 && a.oidc == nil) }

// Authenticate returns the identity of r's bearer token. Every configured
// digest is compared, in constant time, so timing tells nothing.
func (a *Auth) Authenticate(r *http.Request) (Identity, error) {
	if a.Open() {
		return Anonymous, nil
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return Identity{}, Errorf(http.StatusUnauthorized, "Authorization", "want a bearer token: Authorization: Bearer <token>")
	}
	sum := sha256.Sum256([]byte(tok))
	found := -1
	for i, h := range a.hashes {
		if subtle.ConstantTimeCompare(h, sum[:]) == 1 {
			found = i
		}
	}
	if found < 0 && a.oidc != nil && strings.Count(tok, ".") == 2 {
		id, err := a.oidc.identity(r.Context(), tok)
		if err != nil {
			return Identity{}, Errorf(http.StatusUnauthorized, "Authorization", "ID token refused: %v", err)
		}
		return id, nil
	}
	if found < 0 {
		return Identity{}, Errorf(http.StatusUnauthorized, "Authorization", "unknown token")
	}
	t := a.tokens[found]
	return Identity{ID: t.ID, Tenant: t.Tenant, Role: t.Role}, nil
}

// Tenant authenticates an evidence upload and returns its tenant: the
// token must have a role that may ingest, and a tenant named in the request
// must be the token's (a system token must name one).
func (a *Auth) Tenant(r *http.Request) (string, error) {
	id, err := a.Authenticate(r)
	if err != nil {
		return "", err
	}
	if !id.may(access{roles: []Role{RoleIngest}}) {
		return "", Errorf(http.StatusForbidden, "Authorization", "token %q has role %s, which may not submit evidence", id.ID, id.Role)
	}
	return resolveTenant(r, id)
}

// resolveTenant is the tenant a request acts for: the token's, or for the
// anonymous and system identities the one the request names.
func resolveTenant(r *http.Request, id Identity) (string, error) {
	named := param(r, "tenant")
	if id.Role == RoleSystem {
		if named == "" {
			named = "default"
		}
		if err := events.ValidateTenant(named); err != nil {
			return "", Errorf(http.StatusBadRequest, "tenant", "%v", err)
		}
		return named, nil
	}
	if named != "" && named != id.Tenant {
		return "", Errorf(http.StatusForbidden, "tenant", "the token belongs to tenant %q, not %q", id.Tenant, named)
	}
	return id.Tenant, nil
}

// access is what a route asks of a token: one of roles (system always
// qualifies; admin too unless systemOnly or allTenants).
type access struct {
	roles      []Role
	systemOnly bool
	// allTenants: the route shows every tenant's figures, beyond an admin's.
	allTenants bool
}

func (id Identity) may(a access) bool {
	switch {
	case id.Role == RoleSystem:
		return true
	case a.systemOnly:
		return false
	case id.Role == RoleAdmin && !a.allTenants:
		return true
	}
	for _, r := range a.roles {
		if r == id.Role {
			return true
		}
	}
	return false
}

// ingestRoutes are the evidence uploads: POSTs the ingest role may make.
var ingestRoutes = []string{"/v1/scans", "/v1/sboms", "/v1/attestations", "/v1/loadruns", "/v1/webvitals", "/v1/traces", "/v1/changes"}

// gateReads are the reads `trilens gate` makes with the CI's ingest token:
// the gate, the scan scorecard of its reports, the ledger and the policy.
var gateReads = []string{"/v1/gate", "/v1/scorecard/scans", "/v1/waivers", "/v1/policy"}

// systemRoutes change state every tenant shares.
var systemRoutes = []string{"/v1/scan/catalogs/", "/v1/advisories"}

// requiredAccess is the one place that says which role a route needs:
// reads need read (the gate's reads also ingest, so CI can gate its own evidence),
// evidence uploads need ingest, shared catalogues need system, and every
// other write (waivers, policy, anything added later) needs admin, so a new
// route is closed until someone opens it here.
func requiredAccess(method, path string) access {
	for _, p := range systemRoutes {
		if strings.HasPrefix(path, p) {
			return access{systemOnly: true}
		}
	}
	if method == http.MethodGet || method == http.MethodHead {
		if slices.Contains(gateReads, path) {
			return access{roles: []Role{RoleRead, RoleIngest}}
		}
		return access{roles: []Role{RoleRead}}
	}
	if method == http.MethodPost {
		for _, p := range ingestRoutes {
			if path == p {
				return access{roles: []Role{RoleIngest}}
			}
		}
	}
	return access{roles: []Role{RoleAdmin}}
}

// RequiredRoles describes what a route under /v1/ needs, for documentation
// and tests.
func RequiredRoles(method, path string) []Role { return requiredAccess(method, path).qualifying() }

// qualifying lists the roles that pass a.
func (a access) qualifying() []Role {
	switch {
	case a.systemOnly:
		return []Role{RoleSystem}
	case a.allTenants:
		return append(append([]Role{}, a.roles...), RoleSystem)
	}
	return append(append([]Role{}, a.roles...), RoleAdmin, RoleSystem)
}

// IdentityHeader carries the guard's identity to handlers that record who
// acted (waivers): set by the guard only, any client value is dropped.
const IdentityHeader = "X-Trilens-Identity"

// Guard authenticates every request to h, checks the role its route needs
// and binds it to the token's tenant: a `tenant` parameter or
// X-Trilens-Tenant header naming another tenant is refused with 403, and a
// request naming none gets the token's. Read APIs that take the tenant from
// the request are thereby limited to the caller's own data. Without tokens
// every request passes as Anonymous.
func (a *Auth) Guard(h http.Handler) http.Handler {
	return a.guard(h, func(r *http.Request) access { return requiredAccess(r.Method, r.URL.Path) })
}

// GuardAs guards a route outside /v1/ (the page) that needs role.
func (a *Auth) GuardAs(role Role, h http.Handler) http.Handler {
	return a.guard(h, func(*http.Request) access { return access{roles: []Role{role}} })
}

// GuardMetrics guards /metrics: a metrics or system token only, since the
// counters span every tenant.
func (a *Auth) GuardMetrics(h http.Handler) http.Handler {
	return a.guard(h, func(*http.Request) access { return access{roles: []Role{RoleMetrics}, allTenants: true} })
}

func (a *Auth) guard(h http.Handler, need func(*http.Request) access) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del(IdentityHeader)
		id, err := a.Authenticate(r)
		if err != nil {
			WriteError(w, nil, err)
			return
		}
		if needed := need(r); !id.may(needed) {
			WriteError(w, nil, Errorf(http.StatusForbidden, "Authorization", "token %q has role %s; %s %s needs one of %v",
				id.ID, id.Role, r.Method, r.URL.Path, needed.qualifying()))
			return
		}
		if !a.Open() {
			tenant, err := resolveTenant(r, id)
			if err != nil {
				WriteError(w, nil, err)
				return
			}
			q := r.URL.Query()
			q.Set("tenant", tenant)
			r.URL.RawQuery = q.Encode()
			r.Header.Set("X-Trilens-Tenant", tenant)
		}
		r.Header.Set(IdentityHeader, id.ID)
		h.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
	})
}

func validTenant(t string) error { return events.ValidateTenant(t) }
