package sbomcollector

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trilens/trilens/pkg/collect/collecttest"
	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/policy"
)

// TestAttackForgedProvenanceCountsAsUnverified submits SLSA provenance that
// claims the SLSA generator's builder (level 3), signed with the attacker's
// own key sent along with it. The policy trusts another key: the published
// artifact is unverified, carries no builder and no SLSA level, and keeps
// the claim only as a claim. The same claim signed with the trusted key
// verifies, but the key proves who signed, not the builder: level 1.
func TestAttackForgedProvenanceCountsAsUnverified(t *testing.T) {
	cs := newCosign(t)
	attacker := cs.keyPair("attacker")
	cs.keyPair("release")
	blob := []byte("release artifact v1.0.0\n")
	cs.write("app.bin", blob)
	cs.write("forged.json", []byte(strings.ReplaceAll(provenanceV02, "COMMIT", testCommit)))
	forged := cs.attest("attacker", "app.bin", "forged.json", "slsaprovenance", "bundle")
	honest := cs.attest("release", "app.bin", "forged.json", "slsaprovenance", "bundle")
	const generator = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v2.0.0"

	cfg := testConfig()
	cfg.Verify.Signers = []policy.Signer{{Key: filepath.Join(cs.dir, "release.pub"), Repositories: []string{testRepo}}}
	subject := url.Values{"repo": {testRepo}, "commit": {testCommit}}

	for _, tc := range []struct {
		name     string
		doc      []byte
		key      []byte
		verified bool
		reason   string
	}{
		{"attacker key submitted with the attestation", forged, attacker, false, "which the policy does not trust"},
		{"no key submitted", forged, nil, false, "bundle does not verify with key"},
		{"trusted key", honest, nil, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One bus each: the same document about the same subject has the same event id.
			b := natstest.Bus(t)
			srv := startServer(t, b, cfg)
			q := url.Values{"repo": subject["repo"], "commit": subject["commit"]}
			if tc.key != nil {
				q.Set("key", base64.StdEncoding.EncodeToString(tc.key))
			}
			before := len(natstest.Published(t, b))
			status, body := collecttest.Post(t, srv.URL+"/v1/attestations?"+q.Encode(), tc.doc)
			if status != http.StatusAccepted {
				t.Fatalf("status %d: %s", status, body)
			}
			evs := natstest.Published(t, b)
			if len(evs) != before+1 {
				t.Fatalf("want one new event, got %d", len(evs)-before)
			}
			a := evs[len(evs)-1].GetArtifact()
			p := a.GetProvenance()
			if a.GetVerified() != tc.verified || !strings.Contains(a.GetVerificationError(), tc.reason) {
				t.Fatalf("verified %v with %q, want %v with %q", a.GetVerified(), a.GetVerificationError(), tc.verified, tc.reason)
			}
			if p.GetClaimedBuilderId() != generator {
				t.Errorf("claimed builder %q, want the predicate's %q", p.GetClaimedBuilderId(), generator)
			}
			switch {
			case !tc.verified && (p.GetSlsaLevel() != 0 || p.GetBuilderId() != ""):
				t.Errorf("forged provenance counts: level %d builder %q", p.GetSlsaLevel(), p.GetBuilderId())
			case tc.verified && (p.GetSlsaLevel() != 1 || p.GetBuilderId() != a.GetSignerIdentity() || !strings.HasPrefix(a.GetSignerIdentity(), "sha256:")):
				t.Errorf("key-signed provenance: level %d builder %q signer %q, want level 1 from the key", p.GetSlsaLevel(), p.GetBuilderId(), a.GetSignerIdentity())
			}
		})
	}
}

// TestPostNPMAttestationList posts npm's attestation document for
// sigstore@1.3.0 (the two real bundles in npm's envelope): the publish
// attestation verifies with the npm registry key the policy trusts, the
// SLSA provenance with the GitHub Actions identity the policy names.
func TestPostNPMAttestationList(t *testing.T) {
	list, err := json.Marshal(map[string]any{"attestations": []map[string]any{
		{"predicateType": "https://github.com/npm/attestation/tree/main/specs/publish/v0.1", "bundle": json.RawMessage(readBundle(t, "sigstore-1.3.0-publish.sigstore.json"))},
		{"predicateType": "https://slsa.dev/provenance/v0.2", "bundle": json.RawMessage(readBundle(t, "sigstore-1.3.0-provenance.sigstore.json"))},
	}})
	if err != nil {
		t.Fatal(err)
	}
	b := natstest.Bus(t)
	cfg := testConfig()
	cfg.Sigstore.TrustedRoot = publicGoodRoot
	cfg.Verify.Signers = []policy.Signer{{Key: filepath.Join(realBundles, "npm-registry-publish-key.pub")}, sigstoreJSSigner}
	srv := startServer(t, b, cfg)
	commit := sourceCommit(t, readBundle(t, "sigstore-1.3.0-provenance.sigstore.json"))
	q := url.Values{"repo": {sigstoreJSRepo}, "commit": {commit}}
	status, body := collecttest.Post(t, srv.URL+"/v1/attestations?"+q.Encode(), list)
	if status != http.StatusAccepted {
		t.Fatalf("status %d: %s", status, body)
	}
	var resp AttestationResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	if !resp.Verified || resp.Events != 2 || len(resp.Results) != 2 {
		t.Fatalf("response %s", body)
	}
	evs := natstest.Published(t, b)
	if len(evs) != 2 {
		t.Fatalf("want 2 events, got %d", len(evs))
	}
	publish, prov := evs[0].GetArtifact(), evs[1].GetArtifact()
	if !publish.GetVerified() || !strings.HasPrefix(publish.GetSignerIdentity(), "sha256:") || publish.GetName() != "pkg:npm/sigstore@1.3.0" {
		t.Errorf("publish attestation %v", publish)
	}
	if !prov.GetVerified() || prov.GetSignerIssuer() != "https://token.actions.githubusercontent.com" || prov.GetProvenance().GetSlsaLevel() != 2 ||
		prov.GetDigest() != publish.GetDigest() || !strings.HasPrefix(prov.GetDigest(), "sha512:") {
		t.Errorf("provenance %v", prov)
	}
	for i, ev := range evs {
		if p := ev.GetEnvelope().GetPart(); p.GetReportId() != resp.ReportID || p.GetIndex() != uint32(i) || p.GetCount() != 2 {
			t.Errorf("event %d part %v", i, p)
		}
	}

	// Without the policy's signers, the same document is recorded, unverified.
	srv2 := startServer(t, natstest.Bus(t), func() Config { c := testConfig(); c.Sigstore.TrustedRoot = publicGoodRoot; return c }())
	status, body = collecttest.Post(t, srv2.URL+"/v1/attestations?"+q.Encode(), list)
	if err := json.Unmarshal(body, &resp); err != nil || status != http.StatusAccepted || resp.Verified ||
		!strings.Contains(resp.VerificationError, "the policy trusts no key") || !strings.Contains(resp.VerificationError, "the policy names no keyless signer") {
		t.Fatalf("no signers: status %d %s", status, body)
	}
}
