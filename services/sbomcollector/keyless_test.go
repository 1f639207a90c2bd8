package sbomcollector

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/trilens/trilens/pkg/policy"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

// Real keyless bundles and the trusted roots they verify against, from
// sigstore-go's test data (testdata/real/README.md).
var (
	realBundles      = filepath.Join("testdata", "real", "bundles")
	publicGoodRoot   = filepath.Join("testdata", "real", "trusted-roots", "public-good.json")
	scaffoldingRoot  = filepath.Join("testdata", "real", "trusted-roots", "scaffolding.json")
	sigstoreJSRepo   = "github.com/sigstore/sigstore-js"
	sigstoreJSSigner = policy.Signer{
		IdentityRegexp: `^https://github\.com/sigstore/sigstore-js/\.github/workflows/release\.yml@`,
		Issuer:         "https://token.actions.githubusercontent.com",
		Repositories:   []string{"github.com/sigstore/*"},
	}
)

func readBundle(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(realBundles, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func keylessVerifier(t *testing.T, root string, signers ...policy.Signer) *Verifier {
	t.Helper()
	v, err := NewVerifier(VerifyConfig{Signers: signers}, SigstoreConfig{TrustedRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sourceCommit reads the commit the bundle's SLSA predicate names, straight
// from the JSON, so the evidence subject can match it.
func sourceCommit(t *testing.T, bundle []byte) string {
	t.Helper()
	var b struct {
		DSSE struct {
			Payload string `json:"payload"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	p, err := base64.StdEncoding.DecodeString(b.DSSE.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Predicate struct {
			Materials []struct {
				Digest map[string]string `json:"digest"`
			} `json:"materials"`
			BuildDefinition struct {
				ResolvedDependencies []struct {
					Digest map[string]string `json:"digest"`
				} `json:"resolvedDependencies"`
			} `json:"buildDefinition"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal(p, &st); err != nil {
		t.Fatal(err)
	}
	for _, d := range append(st.Predicate.Materials, st.Predicate.BuildDefinition.ResolvedDependencies...) {
		for _, k := range []string{"gitCommit", "sha1"} {
			if c := d.Digest[k]; c != "" {
				return c
			}
		}
	}
	t.Fatal("the predicate names no commit")
	return ""
}

func TestKeylessRealBundlesVerifyOffline(t *testing.T) {
	v := keylessVerifier(t, publicGoodRoot, sigstoreJSSigner)
	for _, tc := range []struct {
		file, claimed string
	}{
		// v0.1 bundle, inclusion promise and proof, SLSA v1 (npm, sigstore 2.0.0).
		{"sigstore.js@2.0.0-provenance.sigstore.json", "https://github.com/actions/runner/github-hosted"},
		// v0.1 bundle with only the log's signed promise, SLSA v0.2 (npm, sigstore 1.3.0).
		{"sigstore-1.3.0-provenance.sigstore.json", "https://github.com/actions/runner"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			doc := readBundle(t, tc.file)
			subj := &eventv1.Subject{Repository: sigstoreJSRepo, Commit: sourceCommit(t, doc)}
			a, err := v.Verify(doc, VerifyRequest{Subject: subj})
			if err != nil {
				t.Fatal(err)
			}
			if !a.Verified || a.VerificationError != "" {
				t.Fatalf("want verified, got %v", a)
			}
			if !strings.HasPrefix(a.SignerIdentity, "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@") ||
				a.SignerIssuer != "https://token.actions.githubusercontent.com" || !strings.HasPrefix(a.Digest, "sha512:") ||
				!strings.HasPrefix(a.Name, "pkg:npm/sigstore@") {
				t.Errorf("identity %q issuer %q digest %q name %q", a.SignerIdentity, a.SignerIssuer, a.Digest, a.Name)
			}
			p := a.GetProvenance()
			// The builder is the certificate's build signer; the predicate's claim is kept apart.
			if p.GetBuilderId() != a.SignerIdentity || p.GetClaimedBuilderId() != tc.claimed || p.GetSlsaLevel() != 2 ||
				!p.GetSubjectMatch() || p.GetSourceRepository() != sigstoreJSRepo {
				t.Errorf("provenance %v", p)
			}
		})
	}
	t.Run("message signature, scaffolding root", func(t *testing.T) {
		doc := readBundle(t, "othername.sigstore.json")
		v := keylessVerifier(t, scaffoldingRoot, policy.Signer{Identity: "foo!oidc.local", Issuer: "http://oidc.local:8080"})
		a, err := v.Verify(doc, VerifyRequest{Name: "blob", Digest: messageDigest(t, doc)})
		if err != nil {
			t.Fatal(err)
		}
		if !a.Verified || a.SignerIdentity != "foo!oidc.local" || a.SignerIssuer != "http://oidc.local:8080" {
			t.Fatalf("want verified by foo!oidc.local, got %v", a)
		}
	})
}

// messageDigest is the sha256 a message-signature bundle says it signed.
func messageDigest(t *testing.T, doc []byte) string {
	t.Helper()
	var b struct {
		MessageSignature struct {
			MessageDigest struct {
				Digest string `json:"digest"`
			} `json:"messageDigest"`
		} `json:"messageSignature"`
	}
	if err := json.Unmarshal(doc, &b); err != nil {
		t.Fatal(err)
	}
	d, err := base64.StdEncoding.DecodeString(b.MessageSignature.MessageDigest.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return "sha256:" + hex.EncodeToString(d)
}

// editTlogEntry changes the first transparency log entry of a real bundle.
func editTlogEntry(t *testing.T, doc []byte, edit func(entry map[string]any)) []byte {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(doc, &b); err != nil {
		t.Fatal(err)
	}
	entries := b["verificationMaterial"].(map[string]any)["tlogEntries"].([]any)
	edit(entries[0].(map[string]any))
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestKeylessFailuresHaveReasons(t *testing.T) {
	npm := readBundle(t, "sigstore.js@2.0.0-provenance.sigstore.json")
	other := readBundle(t, "othername.sigstore.json")
	subj := &eventv1.Subject{Repository: sigstoreJSRepo, Commit: sourceCommit(t, npm)}
	for _, tc := range []struct {
		name   string
		v      *Verifier
		doc    []byte
		req    VerifyRequest
		reason string
	}{
		{"identity of another repository's workflow",
			keylessVerifier(t, publicGoodRoot, policy.Signer{IdentityRegexp: `^https://github\.com/acme/shop/`, Issuer: "https://token.actions.githubusercontent.com"}),
			npm, VerifyRequest{Subject: subj},
			`certificate identity "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main" (issuer "https://token.actions.githubusercontent.com") matches none of the policy's signers for artifact "pkg:npm/sigstore@2.0.0" (repository "github.com/sigstore/sigstore-js"): security.signers[0]:`},
		{"right identity, wrong issuer",
			keylessVerifier(t, publicGoodRoot, policy.Signer{IdentityRegexp: sigstoreJSSigner.IdentityRegexp, Issuer: "https://accounts.google.com"}),
			npm, VerifyRequest{Subject: subj}, "matches none of the policy's signers"},
		{"signer scoped to other repositories",
			keylessVerifier(t, publicGoodRoot, policy.Signer{IdentityRegexp: sigstoreJSSigner.IdentityRegexp, Issuer: sigstoreJSSigner.Issuer, Repositories: []string{"github.com/acme/*"}}),
			npm, VerifyRequest{Subject: subj}, `the policy names no keyless signer for artifact "pkg:npm/sigstore@2.0.0" (repository "github.com/sigstore/sigstore-js")`},
		{"no signers in the policy", keylessVerifier(t, publicGoodRoot), npm, VerifyRequest{Subject: subj}, "the policy names no keyless signer"},
		{"no trusted root", keylessVerifier(t, "", sigstoreJSSigner), npm, VerifyRequest{Subject: subj}, "no Sigstore trusted root is configured (sigstore.trusted-root)"},
		{"another trusted root", keylessVerifier(t, scaffoldingRoot, sigstoreJSSigner), npm, VerifyRequest{Subject: subj}, "transparency log"},
		// The log says it saw the signature an hour after the certificate's
		// ten minutes ran out (the promise that signed the real time is
		// removed; the inclusion proof still holds).
		{"expired certificate", keylessVerifier(t, scaffoldingRoot, policy.Signer{Identity: "foo!oidc.local", Issuer: "http://oidc.local:8080"}),
			editTlogEntry(t, other, func(e map[string]any) {
				delete(e, "inclusionPromise")
				it, _ := strconv.ParseInt(e["integratedTime"].(string), 10, 64)
				e["integratedTime"] = strconv.FormatInt(it+3600, 10)
			}), VerifyRequest{Name: "blob", Digest: messageDigest(t, other)}, "certificate expired: it was not valid when the signature was logged"},
		{"missing inclusion proof (v0.3 bundle)", keylessVerifier(t, scaffoldingRoot, policy.Signer{Identity: "foo!oidc.local", Issuer: "http://oidc.local:8080"}),
			editTlogEntry(t, other, func(e map[string]any) { delete(e, "inclusionProof") }),
			VerifyRequest{Name: "blob", Digest: messageDigest(t, other)}, "invalid bundle: inclusion proof missing in bundle"},
		{"neither inclusion proof nor promise (v0.1 bundle)", keylessVerifier(t, publicGoodRoot, sigstoreJSSigner),
			editTlogEntry(t, npm, func(e map[string]any) { delete(e, "inclusionProof"); delete(e, "inclusionPromise") }),
			VerifyRequest{Subject: subj}, "invalid bundle: inclusion promises missing in bundle"},
		{"other artifact", keylessVerifier(t, scaffoldingRoot, policy.Signer{Identity: "foo!oidc.local", Issuer: "http://oidc.local:8080"}),
			other, VerifyRequest{Name: "blob", Digest: digestOf([]byte("another blob"))}, "does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := tc.v.Verify(tc.doc, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if !a.Signed || a.Verified || !strings.Contains(a.VerificationError, tc.reason) {
				t.Fatalf("want unverified with %q, got %q (%v)", tc.reason, a.VerificationError, a)
			}
			if a.GetProvenance().GetSlsaLevel() != 0 || a.GetProvenance().GetBuilderId() != "" {
				t.Errorf("unverified provenance has a level or builder: %v", a.GetProvenance())
			}
			// Who the certificate names is recorded even when it does not count.
			if a.SignerIdentity == "" {
				t.Errorf("certificate identity not recorded: %v", a)
			}
		})
	}
}
