package sbomcollector

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/trilens/trilens/pkg/policy"

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
// Only the keys and signers of the configuration and the policy are
// trusted; a key sent with a submission is recorded, never trusted unless
// AllowSubmittedKeys says so.
type Verifier struct {
	keys           []*publicKey
	allowSubmitted bool
	keyless        *verify.Verifier // nil without a trusted root
	signers        []keylessSigner
}

type publicKey struct {
	fingerprint string // sha256:<hex of the DER SubjectPublicKeyInfo>
	pub         crypto.PublicKey
	verifier    signature.Verifier
	// scope is the policy signer the key comes from; nil trusts it for every artifact.
	scope *policy.Signer
}

// keylessSigner is a policy signer of Fulcio certificates.
type keylessSigner struct {
	identity verify.CertificateIdentity
	scope    *policy.Signer
	index    int // in security.signers, for reasons
}

// VerifyRequest is what a submission says about the artifact.
type VerifyRequest struct {
	Name string
	// Digest is "sha256:<hex>" or "sha512:<hex>"; bare signatures need it,
	// attestations name their subjects.
	Digest string
	// Key is a PEM public key sent with the request, if any.
	Key     []byte
	Subject *eventv1.Subject
}

// NewVerifier loads the trusted keys (configuration and policy signers) and,
// when a trusted root is configured, the keyless verifier.
func NewVerifier(cfg VerifyConfig, sig SigstoreConfig) (*Verifier, error) {
	v := &Verifier{allowSubmitted: cfg.AllowSubmittedKeys}
	add := func(path string, scope *policy.Signer) error {
		pem, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		k, err := loadKey(pem)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		k.scope = scope
		v.keys = append(v.keys, k)
		return nil
	}
	for _, path := range cfg.Keys {
		if err := add(path, nil); err != nil {
			return nil, fmt.Errorf("verify.keys: %w", err)
		}
	}
	for i := range cfg.Signers {
		s := &cfg.Signers[i]
		if s.Key != "" {
			if err := add(s.Key, s); err != nil {
				return nil, fmt.Errorf("security.signers[%d].key: %w", i, err)
			}
			continue
		}
		id, err := verify.NewShortCertificateIdentity(s.Issuer, s.IssuerRegexp, s.Identity, s.IdentityRegexp)
		if err != nil {
			return nil, fmt.Errorf("security.signers[%d]: %w", i, err)
		}
		v.signers = append(v.signers, keylessSigner{identity: id, scope: s, index: i})
	}
	if sig.TrustedRoot != "" {
		tr, err := root.NewTrustedRootFromPath(sig.TrustedRoot)
		if err != nil {
			return nil, fmt.Errorf("sigstore.trusted_root: %w", err)
		}
		// A Fulcio certificate lives minutes: it must have been valid when
		// the transparency log (or a timestamp authority) saw the signature,
		// and the log entry must be proven (inclusion proof, or the signed
		// promise of v0.1 bundles).
		v.keyless, err = verify.NewVerifier(tr, verify.WithSignedCertificateTimestamps(1), verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1))
		if err != nil {
			return nil, fmt.Errorf("sigstore.trusted_root: %w", err)
		}
	}
	return v, nil
}

// covers tells whether a key or signer scope applies to the request.
func covers(scope *policy.Signer, req VerifyRequest) bool {
	return scope == nil || scope.Covers(req.Name, normalizeRepo(req.Subject.GetRepository()))
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
		alg, d, err := parseDigest(req.Digest)
		if err != nil {
			return nil, err
		}
		req.Digest = alg + ":" + hex.EncodeToString(d)
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

// parseDigest reads "sha256:<hex>" or "sha512:<hex>" (npm's attestations
// name packages by sha512).
func parseDigest(d string) (string, []byte, error) {
	alg, h, _ := strings.Cut(d, ":")
	size := map[string]int{"sha256": sha256.Size, "sha512": sha512.Size}[strings.ToLower(alg)]
	b, err := hex.DecodeString(h)
	if size == 0 || err != nil || len(b) != size {
		return "", nil, decodeErrorf("digest: want sha256:<64 hex digits> or sha512:<128 hex digits>, got %q", d)
	}
	return strings.ToLower(alg), b, nil
}

// failed is a signed artifact that did not verify.
func (v *Verifier) failed(req VerifyRequest, format, identity, reason string) *sbomv1.Artifact {
	return &sbomv1.Artifact{
		Name: req.Name, Digest: req.Digest, Signed: true, SignatureFormat: format,
		SignerIdentity: identity, VerificationError: reason,
	}
}

// candidates are the keys a request may be verified with and whether the
// policy trusts them, or why there are none. A submitted key the policy
// does not list is still checked, so the result records who signed, but
// it is not trusted.
func (v *Verifier) candidates(req VerifyRequest) (keys []*publicKey, trusted bool, why string) {
	if len(req.Key) > 0 {
		k, err := loadKey(req.Key)
		if err != nil {
			return nil, false, "submitted " + err.Error()
		}
		for _, t := range v.keys {
			if t.fingerprint != k.fingerprint {
				continue
			}
			if !covers(t.scope, req) {
				return nil, false, fmt.Sprintf("key %s is trusted by the policy, but not for artifact %q (repository %q)", k.fingerprint, req.Name, req.Subject.GetRepository())
			}
			return []*publicKey{t}, true, ""
		}
		return []*publicKey{k}, v.allowSubmitted, ""
	}
	for _, k := range v.keys {
		if covers(k.scope, req) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, false, fmt.Sprintf("no public key: the policy trusts no key for artifact %q (repository %q)", req.Name, req.Subject.GetRepository())
	}
	return keys, true, ""
}

// untrusted is the reason a signature made with a submitted key does not count.
func untrusted(k *publicKey) string {
	return fmt.Sprintf("signed by the submitted key %s, which the policy does not trust (submitted keys are recorded, never trusted)", k.fingerprint)
}

// signedBy is a signature that verifies with key k: verified when the key
// is trusted, else recorded with the reason it does not count.
func signedBy(req VerifyRequest, format string, k *publicKey, trusted bool) *sbomv1.Artifact {
	a := &sbomv1.Artifact{Name: req.Name, Digest: req.Digest, Signed: true, Verified: trusted, SignatureFormat: format, SignerIdentity: k.fingerprint}
	if !trusted {
		a.VerificationError = untrusted(k)
	}
	return a
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
	_, digest, _ := parseDigest(req.Digest)
	keys, trusted, why := v.candidates(req)
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
			return signedBy(req, SigLegacy, k, trusted), nil
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
	if stErr == nil {
		req = st.fill(req)
	}
	keys, trusted, why := v.candidates(req)
	if why != "" {
		return v.withStatement(v.failed(req, SigDSSE, "", why), st, req, ""), nil
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
		return v.withStatement(v.failed(req, SigDSSE, "", strings.Join(reasons, "; ")), st, req, ""), nil
	}
	a := signedBy(req, SigDSSE, signer, trusted)
	if stErr != nil {
		a.Verified, a.VerificationError = false, stErr.Error()
		return a, nil
	}
	if a.Verified && !st.hasDigest(req.Digest) {
		a.Verified, a.VerificationError = false, fmt.Sprintf("the attestation's subjects do not include the artifact digest %s", req.Digest)
	}
	return v.withStatement(a, st, req, signer.fingerprint), nil
}

// verifyBundle checks a Sigstore bundle: a key-signed one offline, a
// certificate-signed one against the trusted root and the policy's signers.
func (v *Verifier) verifyBundle(doc []byte, req VerifyRequest) (*sbomv1.Artifact, error) {
	var pb protobundle.Bundle
	if err := protojson.Unmarshal(doc, &pb); err != nil {
		return nil, decodeErrorf("Sigstore bundle: %v", err)
	}
	// A bundle that parses but breaks its version's rules (a v0.2+ bundle
	// without inclusion proof) is a signature that fails, not bad input.
	b, bundleErr := bundle.NewBundle(&pb)
	var st *statement
	if env := pb.GetDsseEnvelope(); env != nil {
		var stErr error
		if st, stErr = parseStatement(env.GetPayload()); stErr != nil {
			return v.failed(req, SigBundle, "", stErr.Error()), nil
		}
		req = st.fill(req)
	}
	if req.Digest == "" {
		return nil, decodeErrorf("digest: a message signature bundle needs the digest of the signed artifact")
	}
	alg, digest, _ := parseDigest(req.Digest)
	artifact := verify.WithArtifactDigest(alg, digest)
	if bundleErr != nil {
		a := v.failed(req, SigBundle, "", "invalid bundle: "+bundleErr.Error())
		recordCertificate(a, bundleCertificate(&pb))
		return v.withStatement(a, st, req, ""), nil
	}
	vc, err := b.VerificationContent()
	if err != nil {
		return v.failed(req, SigBundle, "", err.Error()), nil
	}
	if cert := vc.Certificate(); cert != nil {
		return v.verifyKeyless(b, cert, artifact, st, req), nil
	}
	keys, trusted, why := v.candidates(req)
	if why != "" {
		return v.withStatement(v.failed(req, SigBundle, "", why), st, req, ""), nil
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
		if _, err := ver.Verify(b, verify.NewPolicy(artifact, verify.WithKey())); err != nil {
			reasons = append(reasons, fmt.Sprintf("bundle does not verify with key %s: %v", k.fingerprint, err))
			continue
		}
		return v.withStatement(signedBy(req, SigBundle, k, trusted), st, req, k.fingerprint), nil
	}
	return v.withStatement(v.failed(req, SigBundle, "", strings.Join(reasons, "; ")), st, req, ""), nil
}

// verifyKeyless checks a bundle signed with a Fulcio certificate offline:
// the chain to the trusted root's CA, the SCT, the transparency log entry
// (inclusion proof or promise), the certificate's validity at the time the
// log or a timestamp authority saw the signature, the signature over the
// artifact; then that one of the policy's signers for this artifact or
// repository names the certificate's identity.
func (v *Verifier) verifyKeyless(b *bundle.Bundle, cert *x509.Certificate, artifact verify.ArtifactPolicyOption, st *statement, req VerifyRequest) *sbomv1.Artifact {
	fail := func(reason string) *sbomv1.Artifact {
		a := v.failed(req, SigBundle, "", reason)
		recordCertificate(a, cert)
		return v.withStatement(a, st, req, "")
	}
	if v.keyless == nil {
		return fail("the bundle is signed with a Fulcio certificate but no Sigstore trusted root is configured (sigstore.trusted-root)")
	}
	res, err := v.keyless.Verify(b, verify.NewPolicy(artifact, verify.WithoutIdentitiesUnsafe()))
	if err != nil {
		return fail(keylessReason(err))
	}
	sum := res.Signature.Certificate
	var reasons []string
	for _, s := range v.signers {
		if !covers(s.scope, req) {
			continue
		}
		if err := s.identity.Verify(*sum); err != nil {
			reasons = append(reasons, fmt.Sprintf("security.signers[%d]: %v", s.index, err))
			continue
		}
		a := &sbomv1.Artifact{Name: req.Name, Digest: req.Digest, Signed: true, Verified: true, SignatureFormat: SigBundle,
			SignerIdentity: sum.SubjectAlternativeName, SignerIssuer: sum.Extensions.Issuer}
		a = v.withStatement(a, st, req, certBuilder(sum))
		if p := a.GetProvenance(); p != nil && a.Verified {
			p.SlsaLevel = certLevel(sum)
			// The certificate names the source the workflow ran from: the
			// predicate may not claim another.
			uri, commit := normalizeRepo(sum.Extensions.SourceRepositoryURI), strings.ToLower(sum.Extensions.SourceRepositoryDigest)
			if uri != "" && commit != "" && (p.SourceRepository != uri || !sameCommit(p.SourceCommit, commit)) {
				a.Verified, p.SlsaLevel, p.BuilderId = false, 0, ""
				a.VerificationError = fmt.Sprintf("the predicate's source %s@%s differs from the certificate's %s@%s", p.SourceRepository, p.SourceCommit, uri, commit)
			}
		}
		return a
	}
	id := fmt.Sprintf("certificate identity %q (issuer %q)", sum.SubjectAlternativeName, sum.Extensions.Issuer)
	if len(reasons) == 0 {
		return fail(fmt.Sprintf("%s: the policy names no keyless signer for artifact %q (repository %q)", id, req.Name, req.Subject.GetRepository()))
	}
	return fail(fmt.Sprintf("%s matches none of the policy's signers for artifact %q (repository %q): %s", id, req.Name, req.Subject.GetRepository(), strings.Join(reasons, "; ")))
}

// recordCertificate notes who a certificate names on a result that does
// not count, so the failure says who signed.
func recordCertificate(a *sbomv1.Artifact, cert *x509.Certificate) {
	if cert == nil {
		return
	}
	if sum, err := certificate.SummarizeCertificate(cert); err == nil {
		a.SignerIdentity, a.SignerIssuer = sum.SubjectAlternativeName, sum.Extensions.Issuer
	}
}

// bundleCertificate is the leaf certificate of a bundle, if it has one.
func bundleCertificate(pb *protobundle.Bundle) *x509.Certificate {
	vm := pb.GetVerificationMaterial()
	raw := vm.GetCertificate().GetRawBytes()
	if certs := vm.GetX509CertificateChain().GetCertificates(); raw == nil && len(certs) > 0 {
		raw = certs[0].GetRawBytes()
	}
	cert, err := x509.ParseCertificate(raw)
	if err != nil {
		return nil
	}
	return cert
}

// keylessReason names which check of a keyless bundle failed.
func keylessReason(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "integrated time outside certificate validity"),
		strings.Contains(msg, "certificate has expired or is not yet valid"):
		return "certificate expired: it was not valid when the signature was logged or timestamped: " + msg
	case strings.Contains(msg, "inclusion proof"), strings.Contains(msg, "inclusion promise"),
		strings.Contains(msg, "log entr"), strings.Contains(msg, "log inclusion"):
		return "transparency log: " + msg
	case strings.Contains(msg, "timestamp"):
		return "signed timestamp: " + msg
	case strings.Contains(msg, "leaf certificate"), strings.Contains(msg, "signed certificate timestamp"):
		return "certificate chain: " + msg
	}
	return msg
}

// certBuilder is the build identity a Fulcio certificate proves: its
// build signer (the workflow that ran), else its subject.
func certBuilder(s *certificate.Summary) string {
	if u := s.Extensions.BuildSignerURI; u != "" {
		return u
	}
	return s.SubjectAlternativeName
}

// githubActions is the OIDC issuer of GitHub Actions workflows.
const githubActions = "https://token.actions.githubusercontent.com"

// certLevel is the SLSA build level the certificate itself shows: the SLSA
// generator's reusable workflow isolates signing from the build (3); any
// other workflow on a GitHub-hosted runner is a hosted build (2).
func certLevel(s *certificate.Summary) uint32 {
	if s.Extensions.Issuer != githubActions {
		return 1
	}
	if l := slsaLevel(certBuilder(s)); l > 1 {
		return l
	}
	if s.Extensions.RunnerEnvironment == "github-hosted" {
		return 2
	}
	return 1
}

// withStatement adds the provenance an attestation carries and checks it
// against the evidence subject: a mismatch makes the artifact unverified.
// builder is the identity that verified the signature (a trusted key's
// fingerprint or the certificate's build signer); the predicate's own
// builder is kept only as a claim and never sets the SLSA level.
func (v *Verifier) withStatement(a *sbomv1.Artifact, st *statement, req VerifyRequest, builder string) *sbomv1.Artifact {
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
	p.ClaimedBuilderId, p.BuilderId = p.BuilderId, ""
	mismatch, comparable := matchSubject(p, req.Subject)
	p.SubjectMatch = mismatch == ""
	p.MismatchReason = mismatch
	if comparable && mismatch != "" && a.Verified {
		a.Verified, a.VerificationError = false, mismatch
	}
	if a.Verified {
		// A key proves who signed, not how the build ran: level 1. The
		// keyless path raises it from the certificate.
		p.BuilderId, p.SlsaLevel = builder, 1
	}
	return a
}
