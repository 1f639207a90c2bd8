package vex

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	govex "github.com/openvex/go-vex/pkg/vex"

	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store/chtest"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/internal/scorertest"
	"github.com/trilens/trilens/services/scorer/ledger"
	"github.com/trilens/trilens/services/scorer/scan"
)

func TestMain(m *testing.M) { os.Exit(chtest.Run(m)) }

// TestVEXRoundTrip: the vulnerability waivers of one tenant, exported as
// OpenVEX and as CycloneDX and imported into other tenants, are the same
// waivers there (KPI waivers are not vulnerabilities and stay out), they
// waive the same findings, and importing again records nothing.
func TestVEXRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	clk := &scorertest.Clock{T: now}
	l := ledger.New(evidence.Settings{Store: chtest.Store(t), Policy: policy.Default(), Logger: slog.New(slog.DiscardHandler), Now: clk.Now})
	ctx := context.Background()
	until := now.Add(30 * 24 * time.Hour)
	key := scan.FindingKey("grype", ".", "", "", "vulnerability", "GHSA-5rcv-m4m3-hfh7", []string{"CVE-2020-14040"},
		"golang.org/x/text", "v0.3.2", "go.mod", 0)
	originals := []ledger.Waiver{
		{ID: "w-text", Lens: evidence.LensSecurity, Target: key, Scope: "checkout", Owner: "team-pay",
			Reason: "vulnerable_code_not_in_execute_path: only ASCII input reaches the decoder", CompensatingControl: "input is validated", ExpiresAt: until},
		{ID: "w-log4j", Lens: evidence.LensSecurity, Target: "vuln|CVE-2021-44228|org.apache.logging.log4j:log4j-core|2.14.1|", Owner: "team-pay",
			Reason: "JNDI lookups disabled by configuration", ExpiresAt: until},
		{ID: "w-p95", Lens: evidence.LensPerformance, Target: "journey_p95_ms", Scope: "pay", Owner: "team-pay", Reason: "CDN", ExpiresAt: until},
	}
	for _, w := range originals {
		w.Source, w.CreatedAt = ledger.WaiverSourceLedger, now
		if err := l.Record(ctx, "acme", w, ledger.WaiverCreated, "alice", now); err != nil {
			t.Fatal(err)
		}
	}
	ws, err := l.List(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for tenant, write := range map[string]func(*bytes.Buffer) error{
		"beta":  func(b *bytes.Buffer) error { return WriteOpenVEX(b, ws, nil, "team-pay", now) },
		"gamma": func(b *bytes.Buffer) error { return WriteCycloneDX(b, ws, nil, "team-pay", now) },
	} {
		var doc bytes.Buffer
		if err := write(&doc); err != nil {
			t.Fatal(err)
		}
		importDoc(t, l, tenant, doc.Bytes(), until, 2)
		got, err := l.List(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("%s: %d waivers after import, want the 2 vulnerability waivers: %+v\n%s", tenant, len(got), got, doc.String())
		}
		for i, w := range got { // both lists are ordered by id: w-log4j, w-text
			o := originals[1-i]
			if w.ID != o.ID || w.Target != o.Target || w.Scope != o.Scope || w.Owner != o.Owner || w.Reason != o.Reason ||
				w.CompensatingControl != o.CompensatingControl || w.Lens != o.Lens || !w.ExpiresAt.Equal(o.ExpiresAt) || w.State != ledger.WaiverActive {
				t.Errorf("%s: imported %+v, want the terms of %+v", tenant, w, o)
			}
		}
		if !got[1].Covers(key, now, "checkout") {
			t.Errorf("%s: imported waiver does not cover the finding %s in checkout", tenant, key)
		}
		importDoc(t, l, tenant, doc.Bytes(), until, 0) // again: nothing new
	}
}

func importDoc(t *testing.T, l *ledger.Ledger, tenant string, doc []byte, until time.Time, wantRecorded int) []ledger.Waiver {
	t.Helper()
	author, claims, err := Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := Waivers(claims, ledger.Waiver{Owner: author, ExpiresAt: until}, "")
	if err != nil {
		t.Fatal(err)
	}
	now := until.Add(-30 * 24 * time.Hour)
	recorded, err := Import(context.Background(), l, tenant, ws, "bob", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(recorded) != wantRecorded {
		t.Fatalf("%s: import recorded %d waivers, want %d: %+v", tenant, len(recorded), wantRecorded, recorded)
	}
	return recorded
}

// TestRealOpenVEXImports: govulncheck's OpenVEX output (testdata/real)
// imports as one waiver, its not_affected statement, with the
// justification and impact statement as the reason, keyed by the CVE
// alias as scan findings are; its affected statements waive nothing.
func TestRealOpenVEXImports(t *testing.T) {
	data, err := os.ReadFile("testdata/real/govulncheck-binary.openvex.json")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	l := ledger.New(evidence.Settings{Store: chtest.Store(t), Policy: policy.Default(), Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return now }})
	recorded := importDoc(t, l, "acme", data, now.Add(30*24*time.Hour), 1)
	w := recorded[0]
	if want := "vuln|CVE-2020-14040|Unknown Product||"; w.Target != want {
		t.Errorf("target %q, want %q", w.Target, want)
	}
	if want := "vulnerable_code_not_present: Govulncheck determined that the vulnerable code isn't called"; w.Reason != want {
		t.Errorf("reason %q, want %q", w.Reason, want)
	}
	if w.Owner != "Unknown Author" || w.Lens != evidence.LensSecurity || w.Scope != "" {
		t.Errorf("waiver %+v: want owner Unknown Author, security lens, every scope", w)
	}
}

// TestVEXExportsFixedStates: a vulnerability fixed on every branch that had
// it is exported as fixed (OpenVEX) and resolved (CycloneDX) for its
// service; one still open on a branch, a fixed secret and another tenant's
// fixes are not; a fixed statement imports as no waiver.
func TestVEXExportsFixedStates(t *testing.T) {
	st := chtest.Store(t)
	ctx := context.Background()
	fixedAt := time.Date(2026, 11, 18, 9, 30, 0, 0, time.UTC)
	const fixedKey = "vuln|CVE-2023-45288|golang.org/x/net|v0.17.0|go.mod"
	batch, err := st.Conn().PrepareBatch(ctx, `INSERT INTO `+st.Database()+`.finding_lifecycle (tenant, repository, service, branch, tool,
		fingerprint, state, fixed_at, category, finding_key, package_name, installed_version, fixed_version, path)`)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ tenant, branch, fp, state, category, key string }{
		{"acme", "main", "f1", "fixed", "vulnerability", fixedKey},
		{"acme", "feature", "f1", "fixed", "vulnerability", fixedKey},
		{"acme", "main", "f2", "fixed", "vulnerability", "vuln|CVE-2023-39325|golang.org/x/net|v0.17.0|go.mod"},
		{"acme", "feature", "f2", "open", "vulnerability", "vuln|CVE-2023-39325|golang.org/x/net|v0.17.0|go.mod"},
		{"acme", "main", "f3", "fixed", "secret", "secret|aws|config.yaml|3"},
		{"globex", "main", "f4", "fixed", "vulnerability", "vuln|CVE-2021-44228|org.apache.logging.log4j:log4j-core|2.14.1|"},
	} {
		if err := batch.Append(r.tenant, "acme/shop", "checkout", r.branch, "grype", r.fp, r.state, fixedAt, r.category, r.key,
			"golang.org/x/net", "v0.17.0", "v0.23.0", "go.mod"); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	fixed, err := scan.FixedVulnerabilities(ctx, st, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(fixed) != 1 || fixed[0].Key != fixedKey || fixed[0].Service != "checkout" || !fixed[0].FixedAt.Equal(fixedAt) || fixed[0].FixedVersion != "v0.23.0" {
		t.Fatalf("fixed vulnerabilities %+v, want only %s in checkout, fixed at %s in v0.23.0", fixed, fixedKey, fixedAt)
	}
	now := fixedAt.Add(48 * time.Hour)
	var ov bytes.Buffer
	if err := WriteOpenVEX(&ov, nil, fixed, "team-pay", now); err != nil {
		t.Fatal(err)
	}
	doc, err := govex.Parse(ov.Bytes())
	if err != nil {
		t.Fatalf("%v\n%s", err, ov.String())
	}
	if len(doc.Statements) != 1 {
		t.Fatalf("%d OpenVEX statements, want 1:\n%s", len(doc.Statements), ov.String())
	}
	s := doc.Statements[0]
	if s.Status != govex.StatusFixed || s.Vulnerability.Name != "CVE-2023-45288" || len(s.Products) != 1 || s.Products[0].ID != "checkout" ||
		len(s.Products[0].Subcomponents) != 1 || s.Products[0].Subcomponents[0].ID != "pkg:generic/golang.org/x/net?file_path=go.mod" ||
		s.Timestamp == nil || !s.Timestamp.Equal(fixedAt) {
		t.Errorf("OpenVEX statement %+v, want CVE-2023-45288 fixed in checkout's golang.org/x/net at %s", s, fixedAt)
	}
	var cd bytes.Buffer
	if err := WriteCycloneDX(&cd, nil, fixed, "team-pay", now); err != nil {
		t.Fatal(err)
	}
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(cd.Bytes()), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatal(err)
	}
	if bom.Vulnerabilities == nil || len(*bom.Vulnerabilities) != 1 {
		t.Fatalf("CycloneDX vulnerabilities, want 1:\n%s", cd.String())
	}
	v := (*bom.Vulnerabilities)[0]
	if v.ID != "CVE-2023-45288" || v.Analysis == nil || v.Analysis.State != cdx.IASResolved || !strings.Contains(v.Analysis.Detail, "v0.23.0") {
		t.Errorf("CycloneDX vulnerability %+v, want CVE-2023-45288 resolved", v)
	}
	for name, data := range map[string][]byte{"OpenVEX": ov.Bytes(), "CycloneDX": cd.Bytes()} {
		if _, claims, err := Parse(data); err != nil || len(claims) != 0 {
			t.Errorf("%s: fixed statements parse as %d claims (%v), want none: they waive nothing", name, len(claims), err)
		}
	}
}
