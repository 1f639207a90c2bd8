package sbomcollector

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/collect/collecttest"

	"github.com/trilens/trilens/pkg/events/eventstest"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/natstest"
)

func testConfig() Config {
	var c Config
	c.RegisterFlags("", flag.NewFlagSet("t", flag.ContinueOnError))
	return c
}

func startServer(t *testing.T, b *bus.Bus, cfg Config) *httptest.Server {
	t.Helper()
	fixed := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	c, err := New(cfg, collect.Settings{Publisher: b, Registerer: prometheus.NewRegistry(), Now: func() time.Time { return fixed },
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return collecttest.Serve(t, c)
}

// TestPostSBOMFixtures posts the committed SBOMs made by the real syft CLI
// and checks the events against golden files and the documents' own counts.
func TestPostSBOMFixtures(t *testing.T) {
	for _, tc := range []struct {
		file, format string
	}{
		{"gomod.syft.json", FormatSyft},
		{"gomod.cyclonedx-1.5.json", FormatCycloneDX},
		{"npm.cyclonedx-1.6.json", FormatCycloneDX},
		{"npm.spdx-2.3.json", FormatSPDX},
		{"npm.syft.json", FormatSyft},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b := natstest.Bus(t)
			cfg := testConfig()
			cfg.MaxComponentsPerEvent = 25 // several parts per report
			srv := startServer(t, b, cfg)
			doc, err := os.ReadFile(filepath.Join("testdata", "sboms", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			want := syftPackageCount(t, tc.file)
			q := url.Values{"repo": {testRepo}, "commit": {testCommit}, "env": {"ci"}}
			status, body := collecttest.Post(t, srv.URL+"/v1/sboms?"+q.Encode(), doc)
			if status != http.StatusAccepted {
				t.Fatalf("status %d: %s", status, body)
			}
			var resp SBOMResponse
			if err := json.Unmarshal(body, &resp); err != nil {
				t.Fatal(err)
			}
			evs := natstest.Published(t, b)
			rows := 0
			for i, ev := range evs {
				p := ev.GetEnvelope().GetPart()
				if p.GetReportId() != resp.ReportID || p.GetIndex() != uint32(i) || p.GetCount() != uint32(len(evs)) {
					t.Errorf("event %d part %v", i, p)
				}
				if ev.GetEnvelope().GetDocument().GetSha256() != resp.SHA256 || ev.GetSbom().GetFormat() != tc.format {
					t.Errorf("event %d document %v format %q", i, ev.GetEnvelope().GetDocument(), ev.GetSbom().GetFormat())
				}
				rows += len(ev.GetSbom().GetComponents())
			}
			if rows != want || resp.Rows != want || resp.Events != len(evs) {
				t.Errorf("published %d components in %d events (response %d in %d), syft reported %d", rows, len(evs), resp.Rows, resp.Events, want)
			}
			// The object store holds the document byte for byte.
			rc, err := b.GetDocument(context.Background(), resp.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			stored, _ := io.ReadAll(rc)
			rc.Close()
			if !bytes.Equal(stored, doc) {
				t.Errorf("stored document differs from the one posted (%d vs %d bytes)", len(stored), len(doc))
			}
			eventstest.Golden(t, filepath.Join("testdata", "golden", tc.file), evs, *update)

			// The same submission again publishes the same ids: JetStream drops them.
			if status, body := collecttest.Post(t, srv.URL+"/v1/sboms?"+q.Encode(), doc); status != http.StatusAccepted {
				t.Fatalf("resubmission: %d %s", status, body)
			}
			if again := natstest.Published(t, b); len(again) != len(evs) {
				t.Errorf("resubmission added events: %d, want %d", len(again), len(evs))
			}
		})
	}
}

// syftPackageCount reads the package count syft printed when it made a fixture
// (testdata/sboms/counts.json, written by testdata/make.sh).
func syftPackageCount(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "sboms", "counts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var counts map[string]int
	if err := json.Unmarshal(b, &counts); err != nil {
		t.Fatal(err)
	}
	project, _, _ := strings.Cut(file, ".")
	n, ok := counts[project]
	if !ok || n == 0 {
		t.Fatalf("counts.json has no count for %s", project)
	}
	return n
}

func TestPostSBOMRejectsAndPublishesNothing(t *testing.T) {
	b := natstest.Bus(t)
	srv := startServer(t, b, testConfig())
	for name, tc := range map[string]struct {
		query  string
		body   string
		status int
		want   string
	}{
		"not json":      {"", "hello", 400, "not a CycloneDX JSON, SPDX JSON or tag-value, or syft JSON document"},
		"unknown":       {"", `{"a":1}`, 400, "not a CycloneDX JSON"},
		"truncated":     {"", `{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"name":"x","type":"library"}`, 400, "invalid JSON"},
		"no name":       {"", `{"bomFormat":"CycloneDX","specVersion":"1.6","components":[]}`, 400, "artifact"},
		"bad digest":    {"artifact=a&digest=md5:1", `{"bomFormat":"CycloneDX","specVersion":"1.6","components":[]}`, 400, "digest"},
		"bad env":       {"name=a&env=moon", `{"bomFormat":"CycloneDX","specVersion":"1.6"}`, 400, "env"},
		"old spec":      {"name=a", `{"bomFormat":"CycloneDX","specVersion":"1.1","components":[]}`, 400, "want 1.2 to 1.7"},
		"bad tenant":    {"tenant=Bad!", `{}`, 400, "tenant"},
		"sig as sbom":   {"name=a", `{"payloadType":"x","payload":"","signatures":[]}`, 400, "not a CycloneDX JSON"},
		"mixed formats": {"name=a", `{"spdxVersion":"SPDX-2.3","artifacts":[]}`, 400, "is syft but the document is spdx"},
	} {
		t.Run(name, func(t *testing.T) {
			status, body := collecttest.Post(t, srv.URL+"/v1/sboms?"+tc.query, []byte(tc.body))
			if status != tc.status || !strings.Contains(string(body), tc.want) {
				t.Fatalf("status %d body %s; want %d with %q", status, body, tc.status, tc.want)
			}
		})
	}
	if evs := natstest.Published(t, b); len(evs) != 0 {
		t.Fatalf("rejected documents published %d events", len(evs))
	}
}

func TestPostAttestations(t *testing.T) {
	cs := newCosign(t)
	pub := cs.keyPair("good")
	blob := []byte("release artifact v1.0.0\n")
	cs.write("app.bin", blob)
	cs.write("prov1.json", []byte(strings.ReplaceAll(provenanceV1, "COMMIT", testCommit)))
	att := cs.attest("good", "app.bin", "prov1.json", "slsaprovenance1", "bundle")
	sig := cs.signBlob("good", "app.bin", "raw")

	b := natstest.Bus(t)
	cfg := testConfig()
	cfg.Verify.Keys = []string{filepath.Join(cs.dir, "good.pub")}
	srv := startServer(t, b, cfg)
	key := base64.StdEncoding.EncodeToString(pub)
	for _, tc := range []struct {
		name, query string
		doc         []byte
		status      int
		verified    bool
	}{
		{"attestation", url.Values{"repo": {testRepo}, "commit": {testCommit}, "key": {key}}.Encode(), att, 202, true},
		{"attestation, other commit", url.Values{"repo": {testRepo}, "commit": {strings.Repeat("f", 40)}, "key": {key}}.Encode(), att, 202, false},
		{"signature", url.Values{"artifact": {"app.bin"}, "digest": {digestOf(blob)}, "key": {key}}.Encode(), sig, 202, true},
		{"tampered signature", url.Values{"artifact": {"app.bin"}, "digest": {digestOf([]byte("x"))}, "key": {key}}.Encode(), sig, 202, false},
		{"signature without digest", url.Values{"key": {key}}.Encode(), sig, 400, false},
		{"garbage", "", []byte("{not json"), 400, false},
		{"bad key encoding", "key=%25%25", sig, 400, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(natstest.Published(t, b))
			status, body := collecttest.Post(t, srv.URL+"/v1/attestations?"+tc.query, tc.doc)
			if status != tc.status {
				t.Fatalf("status %d: %s", status, body)
			}
			evs := natstest.Published(t, b)
			if status != 202 {
				if len(evs) != before {
					t.Errorf("a rejected request published %d events", len(evs)-before)
				}
				return
			}
			var resp AttestationResponse
			if err := json.Unmarshal(body, &resp); err != nil {
				t.Fatal(err)
			}
			if len(evs) != before+1 {
				t.Fatalf("want one new event, got %d", len(evs)-before)
			}
			a := evs[len(evs)-1].GetArtifact()
			if a.GetVerified() != tc.verified || resp.Verified != tc.verified || a.GetDigest() != resp.Digest || !a.GetSigned() {
				t.Errorf("artifact %v, response %+v", a, resp)
			}
			if tc.verified && a.GetDigest() != digestOf(blob) {
				t.Errorf("verified artifact digest %q, want %q", a.GetDigest(), digestOf(blob))
			}
			if !tc.verified && a.GetVerificationError() == "" {
				t.Errorf("unverified artifact without a reason: %v", a)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	c := testConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if c.Verify.AllowSubmittedKeys {
		t.Error("submitted keys are trusted by default")
	}
	c.MaxComponentsPerEvent = 0
	c.Sigstore.TrustedRoot = filepath.Join(t.TempDir(), "missing.json")
	err := c.Validate()
	for _, want := range []string{"max_components_per_event", "sigstore.trusted_root"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error naming %s, got %v", want, err)
		}
	}
}
