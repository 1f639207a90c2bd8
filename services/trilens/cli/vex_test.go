package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestVEXExportImport drives `trilens vex` against a scorer on real NATS
// and ClickHouse: a vulnerability waiver of one tenant, exported as OpenVEX
// and CycloneDX, imports into other tenants as the same waiver, once; a
// real govulncheck OpenVEX document imports its not_affected statement.
func TestVEXExportImport(t *testing.T) {
	srv, _ := newScorerStack(t, scorecardCLIPolicy)
	flags := func(tenant string) []string { return []string{"--scorer-url", srv.URL, "--tenant", tenant} }
	target := "vuln|CVE-2022-32149|golang.org/x/text|v0.3.7|go.mod"
	expires := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	if code, out := runCLI(append([]string{"waive", target, "--scope", "checkout", "--owner", "team-payments",
		"--reason", "vulnerable_code_not_in_execute_path: no Accept-Language parsing", "--expires", expires, "--id", "w-text"}, flags("acme")...)...); code != 0 {
		t.Fatalf("waive: exit %d\n%s", code, out)
	}
	dir := t.TempDir()
	for tenant, format := range map[string]string{"beta": "openvex", "gamma": "cyclonedx"} {
		file := filepath.Join(dir, format+".json")
		if code, out := runCLI(append([]string{"vex", "export", "--format", format, "--author", "team-payments", "-o", file}, flags("acme")...)...); code != 0 {
			t.Fatalf("vex export --format %s: exit %d\n%s", format, code, out)
		}
		doc, err := os.ReadFile(file)
		if err != nil || !strings.Contains(string(doc), "CVE-2022-32149") || !strings.Contains(string(doc), "not_affected") {
			t.Fatalf("%s document: %v\n%s", format, err, doc)
		}
		for i, want := range []string{"1 not_affected statements, 1 waivers recorded", "1 not_affected statements, 0 waivers recorded"} {
			code, out := runCLI(append([]string{"vex", "import", file, "--expires", expires}, flags(tenant)...)...)
			if code != 0 || !strings.Contains(out, want) {
				t.Fatalf("vex import %s (#%d) into %s: exit %d, want %q\n%s", format, i+1, tenant, code, want, out)
			}
		}
		code, out := runCLI(append([]string{"waivers"}, flags(tenant)...)...)
		if code != 0 || !strings.Contains(out, "w-text") || !strings.Contains(out, target) || !strings.Contains(out, "checkout") ||
			!strings.Contains(out, "no Accept-Language parsing") {
			t.Errorf("waivers of %s after the %s import: exit %d\n%s", tenant, format, code, out)
		}
	}
	code, out := runCLI(append([]string{"vex", "import", "../../scorer/vex/testdata/real/govulncheck-binary.openvex.json", "--scope", "checkout"}, flags("delta")...)...)
	if code != 0 || !strings.Contains(out, "vuln|CVE-2020-14040|Unknown Product||") || !strings.Contains(out, "1 waivers recorded") {
		t.Errorf("import of govulncheck's OpenVEX: exit %d\n%s", code, out)
	}
}
