package sbomcollector

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

const (
	testRepo   = "github.com/acme/shop"
	testCommit = "0123456789abcdef0123456789abcdef01234567"
)

const provenanceV1 = `{"buildDefinition":{"buildType":"https://actions.github.io/buildtypes/workflow/v1",
 "externalParameters":{"workflow":{"ref":"refs/heads/main","repository":"https://github.com/acme/shop","path":".github/workflows/release.yml"}},
 "resolvedDependencies":[{"uri":"git+https://github.com/acme/shop@refs/heads/main","digest":{"gitCommit":"COMMIT"}}]},
 "runDetails":{"builder":{"id":"https://github.com/actions/runner/github-hosted"}}}`

const provenanceV02 = `{"builder":{"id":"https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v2.0.0"},
 "buildType":"https://github.com/slsa-framework/slsa-github-generator/generic@v1",
 "invocation":{"configSource":{"uri":"git+https://github.com/acme/shop@refs/tags/v1.0.0","digest":{"sha1":"COMMIT"},"entryPoint":".github/workflows/release.yml"}},
 "materials":[{"uri":"git+https://github.com/acme/shop@refs/tags/v1.0.0","digest":{"sha1":"COMMIT"}}]}`

func subject() *eventv1.Subject { return &eventv1.Subject{Repository: testRepo, Commit: testCommit} }

func newTestVerifier(t *testing.T, cfg VerifyConfig) *Verifier {
	t.Helper()
	v, err := NewVerifier(cfg, SigstoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifyCosignSignaturesAndAttestations(t *testing.T) {
	cs := newCosign(t)
	pub := cs.keyPair("good")
	blob := []byte("release artifact v1.0.0\n")
	cs.write("app.bin", blob)
	digest := digestOf(blob)
	cs.write("prov1.json", []byte(strings.ReplaceAll(provenanceV1, "COMMIT", testCommit)))
	cs.write("prov02.json", []byte(strings.ReplaceAll(provenanceV02, "COMMIT", testCommit[:12])))
	v := newTestVerifier(t, VerifyConfig{AllowSubmittedKeys: true})

	for _, tc := range []struct {
		name, format string
		doc          []byte
		noDigest     bool // attestations name their subject
		level        uint32
		builder      string
	}{
		{name: "raw signature", format: SigLegacy, doc: cs.signBlob("good", "app.bin", "raw")},
		{name: "legacy bundle", format: SigLegacy, doc: cs.signBlob("good", "app.bin", "legacy")},
		{name: "sigstore bundle", format: SigBundle, doc: cs.signBlob("good", "app.bin", "bundle")},
		// A key proves who signed, not the builder the predicate claims: level 1.
		{name: "dsse slsa v1", format: SigDSSE, doc: cs.attest("good", "app.bin", "prov1.json", "slsaprovenance1", "dsse"), noDigest: true, level: 1, builder: "https://github.com/actions/runner/github-hosted"},
		{name: "bundle slsa v0.2", format: SigBundle, doc: cs.attest("good", "app.bin", "prov02.json", "slsaprovenance", "bundle"), level: 1, builder: "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v2.0.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := VerifyRequest{Name: "app.bin", Digest: digest, Key: pub, Subject: subject()}
			if tc.noDigest {
				req.Digest = ""
			}
			a, err := v.Verify(tc.doc, req)
			if err != nil {
				t.Fatal(err)
			}
			if !a.Signed || !a.Verified || a.VerificationError != "" {
				t.Fatalf("want signed and verified, got %v", a)
			}
			if a.Digest != digest || a.SignatureFormat != tc.format || !strings.HasPrefix(a.SignerIdentity, "sha256:") {
				t.Errorf("digest %q format %q identity %q", a.Digest, a.SignatureFormat, a.SignerIdentity)
			}
			p := a.GetProvenance()
			if tc.level == 0 {
				if p != nil {
					t.Errorf("signature has provenance %v", p)
				}
				return
			}
			if p.GetSourceRepository() != testRepo || !sameCommit(p.GetSourceCommit(), testCommit) || !p.GetSubjectMatch() ||
				p.GetSlsaLevel() != tc.level || p.GetBuilderId() != a.SignerIdentity || p.GetClaimedBuilderId() != tc.builder || p.GetBuildType() == "" {
				t.Errorf("provenance %v", p)
			}
		})
	}
}

func TestVerifyFailuresAreResultsWithReasons(t *testing.T) {
	cs := newCosign(t)
	pub := cs.keyPair("good")
	wrong := cs.keyPair("wrong")
	blob := []byte("release artifact v1.0.0\n")
	cs.write("app.bin", blob)
	digest := digestOf(blob)
	otherDigest := digestOf([]byte("another artifact"))
	cs.write("prov1.json", []byte(strings.ReplaceAll(provenanceV1, "COMMIT", testCommit)))
	cs.write("prov-other.json", []byte(strings.ReplaceAll(provenanceV1, "COMMIT", "fedcba9876543210fedcba9876543210fedcba98")))
	dsse := cs.attest("good", "app.bin", "prov1.json", "slsaprovenance1", "dsse")
	bundle := cs.attest("good", "app.bin", "prov1.json", "slsaprovenance1", "bundle")
	v := newTestVerifier(t, VerifyConfig{AllowSubmittedKeys: true})

	for _, tc := range []struct {
		name   string
		doc    []byte
		digest string
		key    []byte
		format string
		reason string
	}{
		{"raw signature, other artifact", cs.signBlob("good", "app.bin", "raw"), otherDigest, pub, SigLegacy, "signature does not verify with key"},
		{"raw signature, wrong key", cs.signBlob("good", "app.bin", "raw"), digest, wrong, SigLegacy, "signature does not verify with key"},
		{"legacy bundle, wrong key", cs.signBlob("good", "app.bin", "legacy"), digest, wrong, SigLegacy, "signature does not verify with key"},
		{"sigstore bundle, other artifact", cs.signBlob("good", "app.bin", "bundle"), otherDigest, pub, SigBundle, "bundle does not verify with key"},
		{"sigstore bundle, wrong key", cs.signBlob("good", "app.bin", "bundle"), digest, wrong, SigBundle, "bundle does not verify with key"},
		{"dsse, tampered payload", tamperDSSE(t, dsse), "", pub, SigDSSE, "DSSE signature does not verify"},
		{"dsse, wrong key", dsse, "", wrong, SigDSSE, "DSSE signature does not verify"},
		{"dsse, other artifact", dsse, otherDigest, pub, SigDSSE, "subjects do not include the artifact digest"},
		{"bundle attestation, tampered payload", tamperBundle(t, bundle), digest, pub, SigBundle, "bundle does not verify with key"},
		{"bundle attestation, wrong key", bundle, digest, wrong, SigBundle, "bundle does not verify with key"},
		{"dsse, commit differs from subject", cs.attest("good", "app.bin", "prov-other.json", "slsaprovenance1", "dsse"), "", pub, SigDSSE,
			`provenance source commit "fedcba9876543210fedcba9876543210fedcba98" differs from subject commit "` + testCommit + `"`},
		{"bundle, commit differs from subject", cs.attest("good", "app.bin", "prov-other.json", "slsaprovenance1", "bundle"), "", pub, SigBundle,
			"provenance source commit"},
		{"no key", cs.signBlob("good", "app.bin", "raw"), digest, nil, SigLegacy, "no public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := v.Verify(tc.doc, VerifyRequest{Name: "app.bin", Digest: tc.digest, Key: tc.key, Subject: subject()})
			if err != nil {
				t.Fatal(err)
			}
			if !a.Signed || a.Verified || a.SignatureFormat != tc.format || !strings.Contains(a.VerificationError, tc.reason) {
				t.Fatalf("want signed, unverified %s with %q, got %v", tc.format, tc.reason, a)
			}
			if strings.Contains(tc.name, "commit differs") && a.GetProvenance().GetSubjectMatch() {
				t.Errorf("provenance marked as matching: %v", a.GetProvenance())
			}
		})
	}
}

func TestVerifyTrustedKeys(t *testing.T) {
	cs := newCosign(t)
	cs.keyPair("good")
	wrong := cs.keyPair("wrong")
	blob := []byte("artifact")
	cs.write("app.bin", blob)
	sig := cs.signBlob("good", "app.bin", "raw")
	v := newTestVerifier(t, VerifyConfig{Keys: []string{filepath.Join(cs.dir, "wrong.pub"), filepath.Join(cs.dir, "good.pub")}})

	a, err := v.Verify(sig, VerifyRequest{Digest: digestOf(blob)})
	if err != nil || !a.Verified {
		t.Fatalf("trusted key: %v %v", a, err)
	}
	good := newTestVerifier(t, VerifyConfig{Keys: []string{filepath.Join(cs.dir, "good.pub")}})
	a, err = good.Verify(sig, VerifyRequest{Digest: digestOf(blob), Key: wrong})
	if err != nil || a.Verified || !strings.Contains(a.VerificationError, "signature does not verify with key") {
		t.Fatalf("submitted key that did not sign: %v %v", a, err)
	}
	// The signer's own key, submitted but not trusted: recorded, not verified.
	closed := newTestVerifier(t, VerifyConfig{})
	a, err = closed.Verify(sig, VerifyRequest{Digest: digestOf(blob), Key: cs.read("good.pub")})
	if err != nil || a.Verified || !a.Signed || !strings.HasPrefix(a.SignerIdentity, "sha256:") ||
		!strings.Contains(a.VerificationError, "which the policy does not trust") {
		t.Fatalf("submitted key, closed verifier: %v %v", a, err)
	}
}

func TestVerifyRejectsWhatIsNoSignature(t *testing.T) {
	v := newTestVerifier(t, VerifyConfig{AllowSubmittedKeys: true})
	for name, tc := range map[string]struct {
		doc    string
		digest string
	}{
		"empty":          {"", "sha256:" + strings.Repeat("a", 64)},
		"not base64":     {"%%%", "sha256:" + strings.Repeat("a", 64)},
		"unknown json":   {`{"hello":"world"}`, ""},
		"broken json":    {`{"payloadType":`, ""},
		"bad digest":     {"MEUCIQ==", "md5:abc"},
		"no digest":      {"MEUCIQ==", ""},
		"broken bundle":  {`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`, ""},
		"dsse not b64":   {`{"payloadType":"x","payload":"%%","signatures":[]}`, ""},
		"message no dig": {`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"x"}},"messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"AA=="},"signature":"AA=="}}`, ""},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify([]byte(tc.doc), VerifyRequest{Digest: tc.digest})
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("want a DecodeError, got %v", err)
			}
		})
	}
}

// tamperDSSE changes the statement inside a DSSE envelope, keeping the signature.
func tamperDSSE(t *testing.T, doc []byte) []byte {
	t.Helper()
	var env map[string]any
	if err := json.Unmarshal(doc, &env); err != nil {
		t.Fatal(err)
	}
	env["payload"] = tamperPayload(t, env["payload"].(string))
	out, _ := json.Marshal(env)
	return out
}

func tamperBundle(t *testing.T, doc []byte) []byte {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(doc, &b); err != nil {
		t.Fatal(err)
	}
	env := b["dsseEnvelope"].(map[string]any)
	env["payload"] = tamperPayload(t, env["payload"].(string))
	out, _ := json.Marshal(b)
	return out
}

func tamperPayload(t *testing.T, b64 string) string {
	t.Helper()
	p, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(p), "github-hosted", "self-hosted!!", 1)
	if s == string(p) {
		t.Fatal("tamper: nothing replaced")
	}
	return base64.StdEncoding.EncodeToString([]byte(s))
}
