package scan

import (
	pathpkg "path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The key of a finding names the real problem it is, the same whichever
// tool reported it, so the reports of several tools give one finding with
// several sources:
//
//	vulnerability in a package  vuln|<id>|<package>|<version>|<location>
//	secret                      secret|<rule class>|<file>|<line>
//	anything else               tool|<tool>|<scope>|<fingerprint>
//
// <id> is the smallest CVE among the rule id and aliases, else the smallest
// GHSA, else the smallest id: Grype names a GHSA with its CVE as related,
// Trivy the CVE. <location> is the file holding the package with its
// leading "/" or "./" dropped, and empty for OS packages, which tools place
// differently (Grype at the package database, Trivy at the image's OS).
// Files are under the run's root (scope), which tools run per module leave
// out of their paths. Secrets have no commit in the key: the lifecycle
// already is per branch.

// FindingKey is the key of a finding of tool in a run's scope (root: its root).
func FindingKey(tool, scope, root, fingerprint, category, ruleID string, aliases []string, pkg, version, path string, line uint32) string {
	switch {
	case category == "vulnerability" && pkg != "":
		loc := packageLocation(path)
		if loc != "" && root != "" {
			loc = pathpkg.Join(root, loc)
		}
		return strings.Join([]string{"vuln", vulnID(ruleID, aliases), pkg, version, loc}, "|")
	case category == "secret" && path != "":
		file := pathpkg.Join(root, cleanPath(path))
		return strings.Join([]string{"secret", secretClass(ruleID), file, strconv.FormatUint(uint64(line), 10)}, "|")
	}
	return "tool|" + tool + "|" + scope + "|" + fingerprint
}

func vulnID(ruleID string, aliases []string) string {
	ids := slices.Concat([]string{ruleID}, aliases)
	ids = slices.DeleteFunc(ids, func(s string) bool { return s == "" })
	slices.Sort(ids)
	for _, prefix := range []string{"CVE-", "GHSA-"} {
		if i := slices.IndexFunc(ids, func(s string) bool { return strings.HasPrefix(s, prefix) }); i >= 0 {
			return ids[i]
		}
	}
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// osPackageDB matches the package databases of Debian, Alpine and RPM systems.
var osPackageDB = regexp.MustCompile(`^(var/lib/dpkg/status(\.d/.*)?|lib/apk/db/installed|(var/lib|usr/lib/sysimage)/rpm/.*)$`)

// osTarget matches how Trivy names an image's OS packages: "<target> (<os> <version>)".
var osTarget = regexp.MustCompile(`\S \([a-z][^()]* [^()]+\)$`)

func packageLocation(path string) string {
	p := cleanPath(path)
	if osPackageDB.MatchString(p) || osTarget.MatchString(p) {
		return ""
	}
	return p
}

func cleanPath(p string) string {
	p = strings.TrimPrefix(p, "./")
	return strings.TrimLeft(p, "/")
}

// secretClasses group the rule ids tools give the same kind of secret
// (gitleaks' aws-access-token, Trivy's aws-access-key-id).
var secretClasses = []string{"aws", "azure", "gcp", "github", "gitlab", "slack", "stripe", "twilio", "sendgrid",
	"npm", "pypi", "heroku", "shopify", "dockerconfig", "jwt", "private-key"}

func secretClass(ruleID string) string {
	id := strings.ToLower(strings.NewReplacer("_", "-", " ", "-").Replace(ruleID))
	if strings.HasPrefix(id, "google") || strings.HasPrefix(id, "gcp") {
		return "gcp"
	}
	for _, c := range secretClasses {
		if strings.HasPrefix(id, c) || strings.Contains(id, c) && c == "private-key" {
			return c
		}
	}
	return id
}
