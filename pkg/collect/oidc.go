package collect

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
)

// OIDCConfig lets people sign in with their identity provider's ID tokens
// (as bearer tokens) instead of Trilens tokens; CI keeps Trilens tokens.
// The token's claims name the tenant and the role (read or admin).
type OIDCConfig struct {
	// Issuer is the provider's issuer URL; discovery runs at start.
	Issuer string `yaml:"issuer"`
	// ClientID is the audience the ID tokens must carry.
	ClientID string `yaml:"client_id"`
	// TenantClaim and RoleClaim name the claims read (defaults
	// trilens_tenant and trilens_role).
	TenantClaim string `yaml:"tenant_claim"`
	RoleClaim   string `yaml:"role_claim"`
}

// Enabled says whether an issuer is configured.
func (c OIDCConfig) Enabled() bool { return c.Issuer != "" }

// Validate checks the settings when an issuer is configured.
func (c OIDCConfig) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	if !strings.HasPrefix(c.Issuer, "https://") && !strings.HasPrefix(c.Issuer, "http://127.0.0.1") && !strings.HasPrefix(c.Issuer, "http://localhost") {
		errs = append(errs, fmt.Errorf("issuer %q: want an https URL", c.Issuer))
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("client_id: required: ID tokens are checked for this audience"))
	}
	return errors.Join(errs...)
}

func (c OIDCConfig) claimNames() (tenant, role string) {
	tenant, role = c.TenantClaim, c.RoleClaim
	if tenant == "" {
		tenant = "trilens_tenant"
	}
	if role == "" {
		role = "trilens_role"
	}
	return tenant, role
}

// oidcVerifier turns a verified ID token into an identity.
type oidcVerifier struct {
	cfg      OIDCConfig
	verifier *oidc.IDTokenVerifier
}

// EnableOIDC discovers the provider (its keys are fetched and rotated by
// go-oidc) and accepts its ID tokens from now on.
func (a *Auth) EnableOIDC(ctx context.Context, cfg OIDCConfig) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("auth.oidc: %w", err)
	}
	p, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return fmt.Errorf("auth.oidc: discovery at %s: %w", cfg.Issuer, err)
	}
	a.oidc = &oidcVerifier{cfg: cfg, verifier: p.VerifierContext(context.WithoutCancel(ctx), &oidc.Config{ClientID: cfg.ClientID})}
	return nil
}

// identity verifies raw (signature, issuer, audience, expiry) and maps its
// claims; people get read or admin, never ingest or system.
func (v *oidcVerifier) identity(ctx context.Context, raw string) (Identity, error) {
	tok, err := v.verifier.Verify(ctx, raw)
	if err != nil {
		return Identity{}, err
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return Identity{}, err
	}
	tc, rc := v.cfg.claimNames()
	tenant, _ := claims[tc].(string)
	role, _ := claims[rc].(string)
	if err := validTenant(tenant); err != nil {
		return Identity{}, fmt.Errorf("claim %s: %w", tc, err)
	}
	if Role(role) != RoleRead && Role(role) != RoleAdmin {
		return Identity{}, fmt.Errorf("claim %s: want read or admin, got %q", rc, role)
	}
	id := tok.Subject
	if email, _ := claims["email"].(string); email != "" {
		id = email
	}
	return Identity{ID: "oidc:" + id, Tenant: tenant, Role: Role(role)}, nil
}
