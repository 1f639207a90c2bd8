package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/events"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	sbomv1 "github.com/trilens/trilens/proto/trilens/sbom/v1"
)

// TestAdvisoriesImportAndWhoUses: `trilens advisories import` of a
// directory of real OSV records reports them new once and not again, and
// `trilens components who-uses` lists the release whose SBOM holds the package.
func TestAdvisoriesImportAndWhoUses(t *testing.T) {
	srv, b := newScorerStack(t, scorecardCLIPolicy)
	env := events.NewEnvelope(events.ID("acme", "sbom"), "acme", eventv1.Kind_KIND_SBOM, &eventv1.Producer{Collector: "test"},
		&eventv1.Subject{Repository: "acme/shop", Branch: "main", Commit: "c1", Service: "checkout"}, time.Now().Add(-7*24*time.Hour))
	if err := b.Publish(context.Background(), &eventv1.Event{Envelope: env, Payload: &eventv1.Event_Sbom{Sbom: &sbomv1.ComponentBatch{
		Components: []*sbomv1.Component{{Purl: "pkg:golang/golang.org/x/image@v0.17.0", Name: "golang.org/x/image", Version: "v0.17.0"}}}}}); err != nil {
		t.Fatal(err)
	}
	flags := []string{"--scorer-url", srv.URL, "--tenant", "acme"}
	deadline := time.Now().Add(time.Minute)
	var out string
	for time.Now().Before(deadline) && !strings.Contains(out, "c1") {
		_, out = runCLI(append([]string{"components", "who-uses", "pkg:golang/golang.org/x/image@v0.17.0"}, flags...)...)
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(out, "checkout") || !strings.Contains(out, "c1") || !strings.Contains(out, "v0.17.0") {
		t.Fatalf("who-uses before the import:\n%s", out)
	}
	for i, want := range []string{"3 records, 3 new or updated", "3 records, 0 new or updated"} {
		code, out := runCLI(append([]string{"advisories", "import", "../../scorer/advisories/testdata/real"}, flags...)...)
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("import #%d: exit %d, want %q\n%s", i+1, code, want, out)
		}
	}
	if code, out := runCLI(append([]string{"components", "who-uses", "pkg:golang/golang.org/x/image@v0.18.0"}, flags...)...); code != 0 || !strings.Contains(out, "no stored SBOM") {
		t.Errorf("who-uses of a version nobody holds: exit %d\n%s", code, out)
	}
}
