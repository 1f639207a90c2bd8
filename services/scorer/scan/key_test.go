package scan_test

import (
	"testing"

	"github.com/trilens/trilens/services/scorer/scan"
)

// TestFindingKey: what two tools say of one problem gives one key; what
// differs in the problem (version, file, line, module) gives two.
func TestFindingKey(t *testing.T) {
	key := func(tool, root, category, rule string, aliases []string, pkg, version, path string, line uint32) string {
		return scan.FindingKey(tool, "", root, "fp-"+tool, category, rule, aliases, pkg, version, path, line)
	}
	for _, tc := range []struct {
		name string
		a, b string
		same bool
	}{
		{"grype GHSA with related CVE, trivy CVE, OS package",
			key("grype", "", "vulnerability", "GHSA-4v7x-pqxf-cx7m", []string{"GHSA-4v7x-pqxf-cx7m", "CVE-2023-45288"}, "golang.org/x/net", "v0.17.0", "/var/lib/dpkg/status", 0),
			key("trivy", "", "vulnerability", "CVE-2023-45288", []string{"CVE-2023-45288"}, "golang.org/x/net", "v0.17.0", "debian (debian 10.8)", 0), true},
		{"one jar, with and without a leading slash",
			key("grype", "", "vulnerability", "CVE-2021-44228", nil, "log4j-core", "2.14.1", "/app/lib/log4j-core.jar", 0),
			key("trivy", "", "vulnerability", "CVE-2021-44228", nil, "log4j-core", "2.14.1", "app/lib/log4j-core.jar", 0), true},
		{"another version",
			key("grype", "", "vulnerability", "CVE-2021-44228", nil, "log4j-core", "2.14.1", "", 0),
			key("trivy", "", "vulnerability", "CVE-2021-44228", nil, "log4j-core", "2.15.0", "", 0), false},
		{"another jar",
			key("grype", "", "vulnerability", "CVE-2021-44228", nil, "log4j-core", "2.14.1", "/a.jar", 0),
			key("trivy", "", "vulnerability", "CVE-2021-44228", nil, "log4j-core", "2.14.1", "/b.jar", 0), false},
		{"gitleaks and trivy name an AWS key differently",
			key("gitleaks", "", "secret", "aws-access-token", nil, "", "", "config/app.env", 3),
			key("trivy", "", "secret", "aws-access-key-id", nil, "", "", "./config/app.env", 3), true},
		{"another line",
			key("gitleaks", "", "secret", "aws-access-token", nil, "", "", "config/app.env", 3),
			key("trivy", "", "secret", "aws-access-key-id", nil, "", "", "config/app.env", 4), false},
		{"one secret seen from the module and from the repository root",
			key("gitleaks", "", "secret", "private-key", nil, "", "", "services/api/key.pem", 1),
			key("trivy", "services/api", "secret", "private-key", nil, "", "", "key.pem", 1), true},
		{"code findings of two tools stay apart",
			key("gosec", "", "code", "G101", nil, "", "", "main.go", 3),
			key("semgrep", "", "code", "G101", nil, "", "", "main.go", 3), false},
	} {
		if got := tc.a == tc.b; got != tc.same {
			t.Errorf("%s: %q vs %q: same %v, want %v", tc.name, tc.a, tc.b, got, tc.same)
		}
	}
	// A code finding's key holds its scope: gosec per module may give two
	// modules' findings the same fingerprint (paths are module-relative).
	if scan.FindingKey("gosec", "root=pkg", "pkg", "f", "code", "G104", nil, "", "", "a.go", 1) ==
		scan.FindingKey("gosec", "root=proto", "proto", "f", "code", "G104", nil, "", "", "a.go", 1) {
		t.Error("the same fingerprint in two scopes gives one key")
	}
}
