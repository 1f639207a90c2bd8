// Package sbomcollector ingests SBOMs (CycloneDX, SPDX, syft JSON) and
// verifies cosign signatures, DSSE/in-toto attestations and SLSA provenance.
package sbomcollector

import (
	"errors"
	"flag"
	"fmt"
	"strings"
)

// Config of the SBOM and provenance collector.
type Config struct {
	// MaxComponentsPerEvent splits an SBOM into events of at most this many components.
	MaxComponentsPerEvent int `yaml:"max_components_per_event"`
	// TempDir holds the copy of a document on its way to the object store ("" = OS default).
	TempDir string       `yaml:"temp_dir"`
	Verify  VerifyConfig `yaml:"verify"`
}

// VerifyConfig selects how signatures and attestations are verified.
type VerifyConfig struct {
	// Keys are PEM public key files (cosign.pub) trusted for key-signed artifacts.
	Keys []string `yaml:"keys"`
	// AllowSubmittedKeys lets a request name its own public key when no trusted
	// key is configured (single-machine mode); the key's fingerprint is
	// recorded as the signer identity so policy can still tell keys apart.
	AllowSubmittedKeys bool          `yaml:"allow_submitted_keys"`
	Keyless            KeylessConfig `yaml:"keyless"`
	// MaxAttestationBytes bounds a signature, bundle or attestation document.
	MaxAttestationBytes int64 `yaml:"max_attestation_bytes"`
}

// KeylessConfig verifies Fulcio certificates against a Sigstore trusted root;
// it needs the transparency log's entries in the bundle.
type KeylessConfig struct {
	Enabled bool `yaml:"enabled"`
	// TrustedRoot is a trusted_root.json file; empty fetches the public-good
	// root over TUF at start (needs the network).
	TrustedRoot    string `yaml:"trusted_root"`
	Identity       string `yaml:"identity"`
	IdentityRegexp string `yaml:"identity_regexp"`
	Issuer         string `yaml:"issuer"`
	IssuerRegexp   string `yaml:"issuer_regexp"`
}

// RegisterFlags registers the flags under prefix (e.g. "sbom.") and sets defaults.
func (c *Config) RegisterFlags(prefix string, fs *flag.FlagSet) {
	fs.IntVar(&c.MaxComponentsPerEvent, prefix+"max-components-per-event", 1000, "Split an SBOM into events of at most this many components.")
	fs.StringVar(&c.TempDir, prefix+"temp-dir", "", "Directory for documents on their way to the object store (default: the OS temp dir).")
	fs.Func(prefix+"verify.keys", "Comma-separated PEM public key files trusted for key-signed artifacts.", func(s string) error {
		c.Verify.Keys = splitList(s)
		return nil
	})
	fs.BoolVar(&c.Verify.AllowSubmittedKeys, prefix+"verify.allow-submitted-keys", true, "Verify with a public key sent with the request when no trusted key is configured.")
	fs.Int64Var(&c.Verify.MaxAttestationBytes, prefix+"verify.max-attestation-bytes", 16<<20, "Largest signature, bundle or attestation accepted.")
	k := &c.Verify.Keyless
	fs.BoolVar(&k.Enabled, prefix+"verify.keyless", false, "Verify keyless (Fulcio certificate) bundles; needs transparency log entries.")
	fs.StringVar(&k.TrustedRoot, prefix+"verify.keyless.trusted-root", "", "Sigstore trusted_root.json (default: fetch the public-good root over TUF).")
	fs.StringVar(&k.Identity, prefix+"verify.keyless.identity", "", "Certificate identity (SAN) keyless signatures must carry.")
	fs.StringVar(&k.IdentityRegexp, prefix+"verify.keyless.identity-regexp", "", "Regular expression the certificate identity must match.")
	fs.StringVar(&k.Issuer, prefix+"verify.keyless.issuer", "", "OIDC issuer keyless certificates must name.")
	fs.StringVar(&k.IssuerRegexp, prefix+"verify.keyless.issuer-regexp", "", "Regular expression the OIDC issuer must match.")
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Validate reports every invalid setting with its key.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxComponentsPerEvent < 1 {
		errs = append(errs, fmt.Errorf("max_components_per_event: must be at least 1, got %d", c.MaxComponentsPerEvent))
	}
	if c.Verify.MaxAttestationBytes < 1 {
		errs = append(errs, fmt.Errorf("verify.max_attestation_bytes: must be positive, got %d", c.Verify.MaxAttestationBytes))
	}
	if k := c.Verify.Keyless; k.Enabled {
		if k.Identity == "" && k.IdentityRegexp == "" {
			errs = append(errs, errors.New("verify.keyless.identity: keyless verification needs identity or identity_regexp"))
		}
		if k.Issuer == "" && k.IssuerRegexp == "" {
			errs = append(errs, errors.New("verify.keyless.issuer: keyless verification needs issuer or issuer_regexp"))
		}
	}
	return errors.Join(errs...)
}
