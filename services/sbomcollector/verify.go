package sbomcollector

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	"github.com/sigstore/sigstore/pkg/signature/options"

	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	sbomv1 "github.com/trilens/trilens/proto/trilens/sbom/v1"
)

// Signature formats recorded on artifacts.
const (
	SigBundle = "bundle" // Sigstore bundle (cosign --new-bundle-format)
	SigLegacy = "legacy" // cosign sign-blob signature or its old bundle
	SigDSSE   = "dsse"   // bare DSSE envelope (cosign attest-blob --output-signature)
)

// Verifier checks signatures and attestations in process: sigstore-go for
// Sigstore bundles, sigstore/sigstore for legacy signatures and bare DSSE.
type Verifier struct {
	keys           []*publicKey
	allowSubmitted bool
	keyless        *verify.Verifier
	identity       verify.CertificateIdentity
}

type publicKey struct {
	fingerprint string // sha256:<hex of the DER SubjectPublicKeyInfo>
	pub         crypto.PublicKey
	verifier    signature.Verifier
}

// VerifyRequest is what a submission says about the artifact.
type VerifyRequest struct {
	Name string
	// Digest is "sha256:<hex>"; bare signatures need it, attestations name their subjects.
	Digest string
	// Key is a PEM public key sent with the request, if any.
	Key     []byte
	Subject *eventv1.Subject
}

// NewVerifier loads the trusted keys and, when keyless is on, the trusted root.
func NewVerifier(cfg VerifyConfig) (*Verifier, error) {
	v := &Verifier{allowSubmitted: cfg.AllowSubmittedKeys}
	for _, path := range cfg.Keys {
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("verify.keys: %w", err)
		}
		k, err := loadKey(pem)
		if err != nil {
			return nil, fmt.Errorf("verify.keys: %s: %w", path, err)
		}
		v.keys = append(v.keys, k)
	}
	if cfg.Keyless.Enabled {
		if err := v.setupKeyless(cfg.Keyless); err != nil {
			return nil, fmt.Errorf("verify.keyless: %w", err)
		}
	}
	return v, nil
}

func (v *Verifier) setupKeyless(k KeylessConfig) error {
	var tm root.TrustedMaterial
	var err error
	if k.TrustedRoot != "" {
		tm, err = root.NewTrustedRootFromPath(k.TrustedRoot)
	} else {
		tm, err = root.FetchTrustedRoot()
	}
	if err != nil {
		return fmt.Errorf("trusted root: %w", err)
	}
	v.keyless, err = verify.NewVerifier(tm, verify.WithSignedCertificateTimestamps(1), verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1))
	if err != nil {
		return err
	}
	v.identity, err = verify.NewShortCertificateIdentity(k.Issuer, k.IssuerRegexp, k.Identity, k.IdentityRegexp)
	return err
}

func loadKey(pem []byte) (*publicKey, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pem)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	der, err := cryptoutils.MarshalPublicKeyToDER(pub)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	sv, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return &publicKey{fingerprint: "sha256:" + hex.EncodeToString(sum[:]), pub: pub, verifier: sv}, nil
}

// Verify checks a signature, bundle or attestation. Verification failures
// are results (verified=false with the reason); only input that is no
// signature at all, or a request that cannot be checked, is an error
// (*DecodeError).
func (v *Verifier) Verify(doc []byte, req VerifyRequest) (*sbomv1.Artifact, error) {
	if req.Digest != "" {
		d, err := parseDigest(req.Digest)
		if err != nil {
			return nil, err
		}
		req.Digest = "sha256:" + hex.EncodeToString(d)
	}
	var probe struct {
		MediaType       string          `json:"mediaType"`
		PayloadType     string          `json:"payloadType"`
		Signatures      json.RawMessage `json:"signatures"`
		Base64Signature *string         `json:"base64Signature"`
		Cert            string          `json:"cert"`
	}
	trimmed := bytes.TrimSpace(doc)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		if err := json.Unmarshal(trimmed, &probe); err != nil {
			return nil, decodeErrorf("invalid JSON: %v", err)
		}
		switch {
		case strings.HasPrefix(probe.MediaType, "application/vnd.dev.sigstore.bundle"):
			return v.verifyBundle(trimmed, req)
		case probe.PayloadType != "" && probe.Signatures != nil:
			return v.verifyDSSE(trimmed, req)
		case probe.Base64Signature != nil:
			if probe.Cert != "" {
				return v.failed(req, SigLegacy, "", "legacy keyless bundles are not supported: sign with --new-bundle-format"), nil
			}
			return v.verifyBlobSignature(*probe.Base64Signature, req)
		}
		return nil, decodeErrorf("not a Sigstore bundle, DSSE envelope or cosign signature bundle")
	}
	return v.verifyBlobSignature(string(trimmed), req)
}

func parseDigest(d string) ([]byte, error) {
	alg, h, ok := strings.Cut(d, ":")
	if !ok || alg != "sha256" {
		return nil, decodeErrorf("digest: want sha256:<64 hex digits>, got %q", d)
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return nil, decodeErrorf("digest: want sha256:<64 hex digits>, got %q", d)
	}
	return b, nil
}

// failed is a signed artifact that did not verify.
func (v *Verifier) failed(req VerifyRequest, format, identity, reason string) *sbomv1.Artifact {
	return &sbomv1.Artifact{
		Name: req.Name, Digest: req.Digest, Signed: true, SignatureFormat: format,
		SignerIdentity: identity, VerificationError: reason,
	}
}

// candidates are the keys a request may be verified with, or why there are none.
func (v *Verifier) candidates(req VerifyRequest) ([]*publicKey, string) {
	if len(req.Key) > 0 {
		k, err := loadKey(req.Key)
		if err != nil {
			return nil, "submitted " + err.Error()
		}
		if len(v.keys) == 0 {
			if !v.allowSubmitted {
				return nil, "submitted keys are not accepted and no trusted key is configured"
			}
			return []*publicKey{k}, ""
		}
		for _, t := range v.keys {
			if t.fingerprint == k.fingerprint {
				return []*publicKey{t}, ""
			}
		}
		return nil, fmt.Sprintf("key %s is not among the trusted keys", k.fingerprint)
	}
	if len(v.keys) == 0 {
		return nil, "no public key: send one with the request or configure trusted keys"
	}
	return v.keys, ""
}

// verifyBlobSignature checks a cosign sign-blob signature over the artifact digest.
func (v *Verifier) verifyBlobSignature(b64 string, req VerifyRequest) (*sbomv1.Artifact, error) {
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil || len(sig) == 0 {
		return nil, decodeErrorf("not a Sigstore bundle, DSSE envelope or base64 cosign signature")
	}
	if req.Digest == "" {
		return nil, decodeErrorf("digest: a bare signature needs the digest of the signed artifact")
	}
	digest, _ := parseDigest(req.Digest)
	keys, why := v.candidates(req)
	if why != "" {
		return v.failed(req, SigLegacy, "", why), nil
	}
	var reasons []string
	for _, k := range keys {
		if _, ok := k.pub.(ed25519.PublicKey); ok {
			reasons = append(reasons, k.fingerprint+": ed25519 signatures cannot be checked against a digest")
			continue
		}
		err := k.verifier.VerifySignature(bytes.NewReader(sig), nil, options.WithDigest(digest))
		if err == nil {
			return &sbomv1.Artifact{Name: req.Name, Digest: req.Digest, Signed: true, Verified: true,
				SignatureFormat: SigLegacy, SignerIdentity: k.fingerprint}, nil
		}
		reasons = append(reasons, fmt.Sprintf("signature does not verify with key %s over %s: %v", k.fingerprint, req.Digest, err))
	}
	return v.failed(req, SigLegacy, "", strings.Join(reasons, "; ")), nil
}

// verifyDSSE checks a bare DSSE envelope (an in-toto attestation) with a key.
func (v *Verifier) verifyDSSE(doc []byte, req VerifyRequest) (*sbomv1.Artifact, error) {
	var env struct {
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal(doc, &env); err != nil {
		return nil, decodeErrorf("DSSE envelope: %v", err)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, decodeErrorf("DSSE envelope: payload is not base64: %v", err)
	}
	st, stErr := parseStatement(payload)
	if stErr == nil && req.Digest == "" {
		req.Digest, _ = st.firstDigest()
	}
	keys, why := v.candidates(req)
	if why != "" {
		return v.withStatement(v.failed(req, SigDSSE, "", why), st, req), nil
	}
	var reasons []string
	var signer *publicKey
	for _, k := range keys {
		if err := dsse.WrapVerifier(k.verifier).VerifySignature(bytes.NewReader(doc), nil); err != nil {
			reasons = append(reasons, fmt.Sprintf("DSSE signature does not verify with key %s: %v", k.fingerprint, err))
			continue
		}
		signer = k
		break
	}
	if signer == nil {
		return v.withStatement(v.failed(req, SigDSSE, "", strings.Join(reasons, "; ")), st, req), nil
	}
	a := &sbomv1.Artifact{Name: req.Name, Digest: req.Digest, Signed: true, Verified: true, SignatureFormat: SigDSSE, SignerIdentity: signer.fingerprint}
	if stErr != nil {
		a.Verified, a.VerificationError = false, stErr.Error()
		return a, nil
	}
	if !st.hasDigest(req.Digest) {
		a.Verified, a.VerificationError = false, fmt.Sprintf("the attestation's subjects do not include the artifact digest %s", req.Digest)
	}
	return v.withStatement(a, st, req), nil
}

// verifyBundle checks a Sigstore bundle: a key-signed one offline, a
// certificate-signed one against the trusted root and the identity policy.
func (v *Verifier) verifyBundle(doc []byte, req VerifyRequest) (*sbomv1.Artifact, error) {
	var b bundle.Bundle
	if err := b.UnmarshalJSON(doc); err != nil {
		return nil, decodeErrorf("Sigstore bundle: %v", err)
	}
	var st *statement
	if env, err := b.Envelope(); err == nil && env != nil {
		payload, err := base64.StdEncoding.DecodeString(env.RawEnvelope().Payload)
		if err != nil {
			return nil, decodeErrorf("Sigstore bundle: DSSE payload is not base64: %v", err)
		}
		var stErr error
		if st, stErr = parseStatement(payload); stErr != nil {
			return v.failed(req, SigBundle, "", stErr.Error()), nil
		}
		if req.Digest == "" {
			req.Digest, _ = st.firstDigest()
		}
	}
	if req.Digest == "" {
		return nil, decodeErrorf("digest: a message signature bundle needs the digest of the signed artifact")
	}
	digest, _ := parseDigest(req.Digest)
	artifact := verify.WithArtifactDigest("sha256", digest)

	vc, err := b.VerificationContent()
	if err != nil {
		return v.failed(req, SigBundle, "", err.Error()), nil
	}
	if vc.Certificate() != nil {
		if v.keyless == nil {
			return v.withStatement(v.failed(req, SigBundle, "", "the bundle is signed with a certificate but keyless verification is disabled"), st, req), nil
		}
		res, err := v.keyless.Verify(&b, verify.NewPolicy(artifact, verify.WithCertificateIdentity(v.identity)))
		if err != nil {
			return v.withStatement(v.failed(req, SigBundle, "", err.Error()), st, req), nil
		}
		a := &sbomv1.Artifact{Name: req.Name, Digest: req.Digest, Signed: true, Verified: true, SignatureFormat: SigBundle}
		if id := res.VerifiedIdentity; id != nil {
			a.SignerIdentity, a.SignerIssuer = id.SubjectAlternativeName.SubjectAlternativeName, id.Issuer.Issuer
		}
		return v.withStatement(a, st, req), nil
	}
	keys, why := v.candidates(req)
	if why != "" {
		return v.withStatement(v.failed(req, SigBundle, "", why), st, req), nil
	}
	var reasons []string
	for _, k := range keys {
		// The bundle's key hint is unauthenticated: the candidate is the key.
		tm := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
			return root.NewExpiringKey(k.verifier, time.Time{}, time.Time{}), nil
		})
		ver, err := verify.NewVerifier(tm, verify.WithNoObserverTimestamps())
		if err != nil {
			return nil, err
		}
		if _, err := ver.Verify(&b, verify.NewPolicy(artifact, verify.WithKey())); err != nil {
			reasons = append(reasons, fmt.Sprintf("bundle does not verify with key %s: %v", k.fingerprint, err))
			continue
		}
		a := &sbomv1.Artifact{Name: req.Name, Digest: req.Digest, Signed: true, Verified: true, SignatureFormat: SigBundle, SignerIdentity: k.fingerprint}
		return v.withStatement(a, st, req), nil
	}
	return v.withStatement(v.failed(req, SigBundle, "", strings.Join(reasons, "; ")), st, req), nil
}

// withStatement adds the provenance an attestation carries and checks it
// against the evidence subject: a mismatch makes the artifact unverified.
func (v *Verifier) withStatement(a *sbomv1.Artifact, st *statement, req VerifyRequest) *sbomv1.Artifact {
	if st == nil {
		return a
	}
	if a.Name == "" {
		_, a.Name = st.firstDigest()
	}
	p, err := parseProvenance(st)
	if err != nil {
		if a.Verified {
			a.Verified, a.VerificationError = false, err.Error()
		}
		return a
	}
	if p == nil {
		return a
	}
	a.Provenance = p
	mismatch, comparable := matchSubject(p, req.Subject)
	p.SubjectMatch = mismatch == ""
	p.MismatchReason = mismatch
	if comparable && mismatch != "" && a.Verified {
		a.Verified, a.VerificationError = false, mismatch
	}
	if a.Verified {
		p.SlsaLevel = slsaLevel(p.BuilderId)
	}
	return a
}
