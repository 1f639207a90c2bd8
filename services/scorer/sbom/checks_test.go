package sbom

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	sbomv1 "github.com/trilens/trilens/proto/trilens/sbom/v1"
	"github.com/trilens/trilens/services/scorer/evidence"
)

const sbomPolicy = `
version: 1
owners: { default_team: team-sec }
security:
  require_signed: true
  require_provenance: true
  min_slsa_level: 2
  deny_licences: [AGPL-3.0-only]
  require_pinned_dependencies: true
`

// sbomReport is one SBOM report split into parts of at most per components.
func sbomReport(report string, at time.Time, lockfile bool, per int, cs ...*sbomv1.Component) []*eventv1.Event {
	var evs []*eventv1.Event
	n := (len(cs) + per - 1) / per
	for i := 0; i < n; i++ {
		env := events.NewEnvelope(events.ID("shop", report, fmt.Sprint(i)), "shop", eventv1.Kind_KIND_SBOM, &eventv1.Producer{Collector: "sbomcollector", Tool: "syft"},
			&eventv1.Subject{Repository: "acme/shop", Commit: "abc", Branch: "main"}, at)
		env.Part = &eventv1.Part{ReportId: report, Index: uint32(i), Count: uint32(n)}
		part := cs[i*per : min(len(cs), (i+1)*per)]
		evs = append(evs, &eventv1.Event{Envelope: env, Payload: &eventv1.Event_Sbom{Sbom: &sbomv1.ComponentBatch{
			ArtifactName: "shop-web", ArtifactDigest: "sha256:web", Format: "cyclonedx", SpecVersion: "1.6", LockfilePresent: lockfile, Components: part}}})
	}
	return evs
}

func artifactEvent(id string, at time.Time, a *sbomv1.Artifact) *eventv1.Event {
	env := events.NewEnvelope(events.ID("shop", id), "shop", eventv1.Kind_KIND_ARTIFACT, &eventv1.Producer{Collector: "sbomcollector", Tool: "sigstore-go"},
		&eventv1.Subject{Repository: "acme/shop", Commit: "abc", Branch: "main"}, at)
	return &eventv1.Event{Envelope: env, Payload: &eventv1.Event_Artifact{Artifact: a}}
}

// ingest stores events as the scorer does (rows, then the processor), twice:
// a replay must change nothing.
func ingest(t *testing.T, st *store.Store, p evidence.Processor, evs ...*eventv1.Event) {
	t.Helper()
	ctx := context.Background()
	for range 2 {
		var rows evidence.Rows
		for _, ev := range evs {
			rows.Add(ev, "", 0)
		}
		if err := st.Insert(ctx, rows.Tables()...); err != nil {
			t.Fatal(err)
		}
		if err := p.Process(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
}

func queryStrings(t *testing.T, st *store.Store, q string) []string {
	t.Helper()
	rows, err := st.Conn().Query(context.Background(), strings.ReplaceAll(q, "{db}", st.Database()))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// trustedKey writes a public key file for the policy's signers and returns
// its path and the fingerprint the collector records as the signer.
func trustedKey(t *testing.T) (path, fingerprint string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "cosign.pub")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return path, "sha256:" + hex.EncodeToString(sum[:])
}

func TestSBOMChecks(t *testing.T) {
	keyFile, keyFP := trustedKey(t)
	pol, err := policy.Parse([]byte(sbomPolicy+"  signers: [{key: "+keyFile+"}]\n"), "trilens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := chtest.Store(t)
	p := New(evidence.Settings{Store: st, Policy: pol})
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

	first := sbomReport("r1", t0, true, 2,
		&sbomv1.Component{Purl: "pkg:npm/express@4.21.2", Name: "express", Version: "4.21.2", Type: "npm", Licenses: []string{"MIT"}, Pinned: true, Location: "/package-lock.json"},
		&sbomv1.Component{Purl: "pkg:npm/left-pad@1.3.0", Name: "left-pad", Version: "1.3.0", Type: "npm", Licenses: []string{"WTFPL"}, Pinned: true},
		&sbomv1.Component{Purl: "pkg:npm/qs@6.13.0", Name: "qs", Version: "6.13.0", Type: "npm", Pinned: true},
	)
	// The first part alone is an incomplete report: nothing is checked yet.
	ingest(t, st, p, first[0])
	if got := queryStrings(t, st, "SELECT kpi FROM {db}.kpi_points FINAL WHERE kpi LIKE 'sbom_unpinned%'"); len(got) != 0 {
		t.Fatalf("incomplete report checked: %q", got)
	}
	ingest(t, st, p, first[1])

	second := sbomReport("r2", t0.Add(time.Hour), false, 10,
		&sbomv1.Component{Purl: "pkg:npm/express@5.0.0", Name: "express", Version: "5.0.0", Type: "npm", Licenses: []string{"MIT"}, Pinned: true, Location: "/package.json"},
		&sbomv1.Component{Purl: "pkg:npm/qs@6.13.0", Name: "qs", Version: "6.13.0", Type: "npm", Pinned: true},
		&sbomv1.Component{Purl: "pkg:npm/axios", Name: "axios", Version: "latest", Type: "npm", Pinned: false, VersionConstraint: "latest"},
		&sbomv1.Component{Purl: "pkg:npm/ghostscript@1.0.0", Name: "ghostscript", Version: "1.0.0", Type: "npm", Licenses: []string{"MIT OR AGPL-3.0-only"}, Pinned: true},
	)
	signed := artifactEvent("sig-web", t0.Add(2*time.Hour), &sbomv1.Artifact{Name: "shop-web", Digest: "sha256:web", Signed: true, Verified: true, SignatureFormat: "bundle", SignerIdentity: keyFP})
	attested := artifactEvent("att-api", t0.Add(2*time.Hour), &sbomv1.Artifact{Name: "shop-api", Digest: "sha256:api", Signed: true, Verified: false, SignatureFormat: "dsse",
		VerificationError: `provenance source commit "fff" differs from subject commit "abc"`,
		Provenance:        &sbomv1.Provenance{PredicateType: "https://slsa.dev/provenance/v1", BuilderId: "https://github.com/actions/runner/github-hosted", SourceCommit: "fff", SubjectMatch: false, MismatchReason: "commit differs"}})
	ingest(t, st, p, append(second, signed, attested)...)

	got := queryStrings(t, st, "SELECT concat(report_id, ' ', check, ' ', component) FROM {db}.sbom_violations FINAL")
	want := []string{
		"r2 denied_licence ghostscript", "r2 missing_lockfile /package.json", "r2 unpinned axios",
		events.ID("shop", "att-api") + " provenance_mismatch ", events.ID("shop", "att-api") + " signature_unverified ",
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("violations\n got %q\nwant %q", got, want)
	}
	got = queryStrings(t, st, "SELECT concat(report_id, '<', previous_report_id, ' ', change, ' ', component_key, ' ', old_version, '>', new_version) FROM {db}.sbom_diffs FINAL")
	want = []string{"r2<r1 added pkg:npm/axios >latest", "r2<r1 added pkg:npm/ghostscript >1.0.0", "r2<r1 changed pkg:npm/express 4.21.2>5.0.0", "r2<r1 removed pkg:npm/left-pad 1.3.0>"}
	if !slices.Equal(got, want) {
		t.Errorf("diffs\n got %q\nwant %q", got, want)
	}
	k := latestKPIs(t, st)
	for key, v := range map[string]string{
		"sbom_unpinned_dependencies shop-web":            "2/0 fail", // r2 (newest point): axios + missing lock file
		"sbom_denied_licences shop-web":                  "1/0 fail",
		"sbom_artifacts_signed_verified_share acme/shop": "0.5/1 fail", // web verified, api not
		"sbom_artifacts_provenance_share acme/shop":      "0/1 fail",
		"sbom_slsa_level shop-api":                       "0/2 fail",
	} {
		if k[key] != v {
			t.Errorf("%s = %q, want %q", key, k[key], v)
		}
	}
}

func TestDiffAndLicenceRules(t *testing.T) {
	if got := licenceIDs([]string{"MIT OR (GPL-2.0-only WITH Classpath-exception-2.0)", "Apache-2.0"}); !slices.Equal(got, []string{"MIT", "GPL-2.0-only", "Classpath-exception-2.0", "Apache-2.0"}) {
		t.Errorf("licenceIDs: %q", got)
	}
	if d := deniedLicence(sbomComponent{Licenses: []string{"agpl-3.0-only"}}, []string{"AGPL-3.0-only"}); d != "agpl-3.0-only" {
		t.Errorf("deny list must ignore case, got %q", d)
	}
	for purl, key := range map[string]string{
		"pkg:npm/%40scope/x@1.0.0?arch=x#sub": "pkg:npm/%40scope/x",
		"pkg:golang/github.com/a/b@v1.2.3":    "pkg:golang/github.com/a/b",
		"pkg:npm/axios":                       "pkg:npm/axios",
	} {
		if got := (sbomComponent{Purl: purl}).key(); got != key {
			t.Errorf("key(%s) = %s, want %s", purl, got, key)
		}
	}
	ch := diffComponents(
		[]sbomComponent{{Purl: "pkg:npm/ms@2.0.0", Version: "2.0.0"}, {Purl: "pkg:npm/ms@2.1.3", Version: "2.1.3"}},
		[]sbomComponent{{Purl: "pkg:npm/ms@2.1.3", Version: "2.1.3"}, {Purl: "pkg:npm/ms@2.0.0", Version: "2.0.0"}})
	if len(ch) != 0 {
		t.Errorf("same versions in another order: %v", ch)
	}
}

// latestKPIs is the newest point of every KPI series: "value/budget status".
func latestKPIs(t *testing.T, st *store.Store) map[string]string {
	t.Helper()
	rows, err := st.Conn().Query(context.Background(), "SELECT kpi, scope, value, budget, status, observed_at FROM "+st.Database()+".kpi_points FINAL ORDER BY observed_at")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var kpi, scope, status string
		var v, b float64
		var at time.Time
		if err := rows.Scan(&kpi, &scope, &v, &b, &status, &at); err != nil {
			t.Fatal(err)
		}
		out[kpi+" "+scope] = fmt.Sprintf("%.4g/%.4g %s", v, b, status)
	}
	return out
}

// An attestation signed with a key the policy does not trust, claiming the
// SLSA generator's level-3 builder: whatever the collector recorded, it
// scores as neither signed nor provenance, at SLSA level 0; the same
// provenance signed by the policy's key scores its level.
func TestAttackForgedProvenanceScoresAsUnsignedAtLevelZero(t *testing.T) {
	keyFile, keyFP := trustedKey(t)
	_, attackerFP := trustedKey(t)
	pol, err := policy.Parse([]byte(sbomPolicy+"  signers: [{key: "+keyFile+"}]\n"), "trilens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := chtest.Store(t)
	p := New(evidence.Settings{Store: st, Policy: pol})
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	slsa3 := func() *sbomv1.Provenance {
		return &sbomv1.Provenance{PredicateType: "https://slsa.dev/provenance/v1", SlsaLevel: 3, SubjectMatch: true,
			BuilderId: "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v2.1.0"}
	}
	forged := artifactEvent("forged", t0, &sbomv1.Artifact{Name: "shop-api", Digest: "sha256:api", Signed: true, Verified: true,
		SignatureFormat: "dsse", SignerIdentity: attackerFP, Provenance: slsa3()})
	ingest(t, st, p, forged)
	k := latestKPIs(t, st)
	for key, want := range map[string]string{
		"sbom_slsa_level shop-api":                       "0/2 fail",
		"sbom_artifacts_signed_verified_share acme/shop": "0/1 fail",
		"sbom_artifacts_provenance_share acme/shop":      "0/1 fail",
	} {
		if k[key] != want {
			t.Errorf("forged: %s = %q, want %q", key, k[key], want)
		}
	}
	if got := queryStrings(t, st, "SELECT check FROM {db}.sbom_violations FINAL"); !slices.Equal(got, []string{CheckSignerUntrusted}) {
		t.Errorf("forged: violations %q, want [%s]", got, CheckSignerUntrusted)
	}

	trusted := artifactEvent("trusted", t0.Add(time.Hour), &sbomv1.Artifact{Name: "shop-api", Digest: "sha256:api2", Signed: true, Verified: true,
		SignatureFormat: "dsse", SignerIdentity: keyFP, Provenance: slsa3()})
	ingest(t, st, p, trusted)
	if k := latestKPIs(t, st); k["sbom_slsa_level shop-api"] != "3/2 pass" {
		t.Errorf("signed by the policy's key: sbom_slsa_level = %q, want 3/2 pass", k["sbom_slsa_level shop-api"])
	}
}
