package scorer_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/events"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	sbomv1 "github.com/trilens/trilens/proto/trilens/sbom/v1"
	"github.com/trilens/trilens/services/scorer"
)

// TestAdvisoryRaisesFindingOnStoredRelease: an SBOM stored a week ago
// holds golang.org/x/net v0.3.0 and gogo/protobuf v1.3.2. Importing real
// OSV records from the Go vulnerability database (a zip, as osv.dev
// exports them) raises GO-2022-1144 (x/net before 0.4.0) as a finding of
// that release within one sweep, without any new scan, and not
// GO-2021-0053 (gogo/protobuf fixed in 1.3.2); importing the same export
// again is no change; who-uses lists the release.
func TestAdvisoryRaisesFindingOnStoredRelease(t *testing.T) {
	r := newRig(t, func(c *scorer.Config) {
		c.BatchWait = 200 * time.Millisecond
		c.SweepInterval = time.Second
	})
	mux := http.NewServeMux()
	r.scorer.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ctx := context.Background()

	lastWeek := time.Now().Add(-7 * 24 * time.Hour)
	env := events.NewEnvelope(events.ID("acme", "sbom-c1"), "acme", eventv1.Kind_KIND_SBOM, &eventv1.Producer{Collector: "test", Tool: "syft"},
		&eventv1.Subject{Repository: "acme/shop", Branch: "main", Commit: "c1", Service: "checkout", Release: "v1.4.0",
			Environment: eventv1.Environment_ENVIRONMENT_PRODUCTION}, lastWeek)
	sbom := &eventv1.Event{Envelope: env, Payload: &eventv1.Event_Sbom{Sbom: &sbomv1.ComponentBatch{
		ArtifactName: "checkout", Format: "cyclonedx", LockfilePresent: true, Components: []*sbomv1.Component{
			{Purl: "pkg:golang/golang.org/x/net@v0.3.0", Name: "golang.org/x/net", Version: "v0.3.0", Type: "go-module", Location: "go.mod"},
			{Purl: "pkg:golang/github.com/gogo/protobuf@v1.3.2", Name: "github.com/gogo/protobuf", Version: "v1.3.2", Type: "go-module", Location: "go.mod"},
		}}}}
	if err := r.bus.Publish(ctx, sbom); err != nil {
		t.Fatal(err)
	}
	waitCount(t, r.store, "components", "acme", 2)
	if body := getBody(t, srv.URL+"/v1/findings?tenant=acme"); strings.Contains(body, "GO-2022-1144") {
		t.Fatalf("a finding before any advisory:\n%s", body)
	}

	export := osvZip(t, "advisories/testdata/real/Go")
	var res struct{ Records, New any }
	for i, want := range []string{`"records":3,"new":["GO-2021-0053","GO-2022-1144","GO-2024-2937"]`, `"records":3,"new":[]`} {
		body := post(t, srv.URL+"/v1/advisories", export)
		if err := json.Unmarshal([]byte(body), &res); err != nil || !strings.Contains(strings.ReplaceAll(body, " ", ""), want) {
			t.Fatalf("import #%d: %s, want %s", i+1, body, want)
		}
	}

	deadline := time.Now().Add(30 * time.Second)
	body := ""
	for time.Now().Before(deadline) {
		if body = getBody(t, srv.URL+"/v1/findings?tenant=acme&commit=c1&repo=acme/shop"); strings.Contains(body, "CVE-2022-41717") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(body, "CVE-2022-41717") || !strings.Contains(body, "golang.org/x/net") {
		t.Fatalf("no finding of GO-2022-1144 on the stored release:\n%s", body)
	}
	if strings.Contains(body, "CVE-2021-3121") {
		t.Errorf("gogo/protobuf v1.3.2 has the fix of GO-2021-0053, yet:\n%s", body)
	}

	uses := getBody(t, srv.URL+"/v1/components/who-uses?tenant=acme&purl=pkg:golang/golang.org/x/net@v0.3.0")
	if !strings.Contains(uses, `"service":"checkout"`) || !strings.Contains(uses, `"commit":"c1"`) {
		t.Errorf("who-uses x/net v0.3.0: %s", uses)
	}
	if none := getBody(t, srv.URL+"/v1/components/who-uses?tenant=acme&purl=pkg:golang/golang.org/x/net@v0.4.0"); strings.Contains(none, "checkout") {
		t.Errorf("who-uses x/net v0.4.0: %s", none)
	}
}

func osvZip(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		w, _ := zw.Create("Go/" + filepath.Base(f))
		_, _ = w.Write(data)
	}
	if err := zw.Close(); err != nil || len(files) != 3 {
		t.Fatalf("zip of %d records: %v", len(files), err)
	}
	return buf.Bytes()
}

func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", url, resp.Status, data)
	}
	return string(data)
}

func post(t *testing.T, url string, body []byte) string {
	t.Helper()
	resp, err := http.Post(url, "application/zip", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s %s", url, resp.Status, data)
	}
	return string(data)
}
