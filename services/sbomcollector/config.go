// Package sbomcollector ingests SBOMs (CycloneDX, SPDX, syft JSON) and
// verifies cosign signatures, DSSE/in-toto attestations and SLSA provenance.
package sbomcollector

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/trilens/trilens/pkg/policy"
)

// Config of the SBOM and provenance collector.
type Config struct {
	// MaxComponentsPerEvent splits an SBOM into events of at most this many components.
	MaxComponentsPerEvent int `yaml:"max_components_per_event"`
	// TempDir holds the copy of a document on its way to the object store ("" = OS default).
	TempDir  string         `yaml:"temp_dir"`
	Verify   VerifyConfig   `yaml:"verify"`
	Sigstore SigstoreConfig `yaml:"sigstore"`
}

// VerifyConfig selects how signatures and attestations are verified. Trust
// comes from Keys and Signers (the policy's security.signers), never from
// the submission.
type VerifyConfig struct {
	// Keys are PEM public key files (cosign.pub) trusted for key-signed artifacts.
	Keys []string `yaml:"keys"`
	// AllowSubmittedKeys trusts a public key sent with the request
	// (single-machine experiments only). Off, a submitted key is recorded
	// with the result but the artifact counts as unverified unless the key
	// is one the policy or Keys trusts.
	AllowSubmittedKeys bool `yaml:"allow_submitted_keys"`
	// Signers are the policy's trusted signers: their keys join Keys, and
	// keyless bundles must carry a certificate identity one of them names
	// for the artifact or its repository.
	Signers []policy.Signer `yaml:"-"`
	// MaxAttestationBytes bounds a signature, bundle or attestation document.
	MaxAttestationBytes int64 `yaml:"max_attestation_bytes"`
}

// SigstoreConfig is the trust material of keyless (Fulcio certificate)
// verification, which runs offline.
type SigstoreConfig struct {
	// TrustedRoot is a trusted_root.json as Sigstore's TUF repository
	// publishes it (Fulcio CAs, Rekor and CT log keys, timestamp
	// authorities); without one, keyless bundles are recorded unverified.
	TrustedRoot string `yaml:"trusted_root"`
}

// RegisterFlags registers the flags under prefix (e.g. "sbom.") and sets defaults.
func (c *Config) RegisterFlags(prefix string, fs *flag.FlagSet) {
	fs.IntVar(&c.MaxComponentsPerEvent, prefix+"max-components-per-event", 1000, "Split an SBOM into events of at most this many components.")
	fs.StringVar(&c.TempDir, prefix+"temp-dir", "", "Directory for documents on their way to the object store (default: the OS temp dir).")
	fs.Func(prefix+"verify.keys", "Comma-separated PEM public key files trusted for key-signed artifacts.", func(s string) error {
		c.Verify.Keys = splitList(s)
		return nil
	})
	fs.BoolVar(&c.Verify.AllowSubmittedKeys, prefix+"verify.allow-submitted-keys", false, "Trust a public key sent with the request (experiments only); otherwise it is recorded, not trusted.")
	fs.Int64Var(&c.Verify.MaxAttestationBytes, prefix+"verify.max-attestation-bytes", 16<<20, "Largest signature, bundle or attestation accepted.")
	fs.StringVar(&c.Sigstore.TrustedRoot, prefix+"sigstore.trusted-root", "", "Sigstore trusted_root.json for offline keyless verification (empty: keyless bundles are recorded unverified).")
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
	if r := c.Sigstore.TrustedRoot; r != "" {
		if _, err := os.Stat(r); err != nil {
			errs = append(errs, fmt.Errorf("sigstore.trusted_root: %w", err))
		}
	}
	return errors.Join(errs...)
}
