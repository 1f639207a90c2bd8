package vex

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

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
		"beta":  func(b *bytes.Buffer) error { return WriteOpenVEX(b, ws, "team-pay", now) },
		"gamma": func(b *bytes.Buffer) error { return WriteCycloneDX(b, ws, "team-pay", now) },
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
