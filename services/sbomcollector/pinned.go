package sbomcollector

import (
	"net/url"
	"path"
	"strings"

	"github.com/anchore/syft/syft/pkg"
)

// floatingVersions name no fixed release: they move with every publication.
var floatingVersions = map[string]bool{
	"latest": true, "*": true, "x": true, "master": true, "main": true,
	"head": true, "snapshot": true, "stable": true, "next": true,
}

// pinned tells whether a component's version is fixed, and returns the
// constraint that makes it float (a range, a floating tag) when it is not.
func pinned(version, constraint, purl string) (bool, string) {
	if constraint != "" && !exactConstraint(constraint) {
		return false, constraint
	}
	if tag := purlTag(purl); tag != "" && floatingVersions[strings.ToLower(tag)] {
		return false, tag
	}
	// An empty version is unknown, not floating: syft reports the main
	// module of a Go project that way.
	v := strings.TrimSpace(version)
	switch {
	case floatingVersions[strings.ToLower(v)]:
		return false, v
	case isRange(v):
		return false, v
	}
	return true, constraint
}

// exactConstraint is a constraint naming one version (==1.2.3, =1.2.3, 1.2.3).
func exactConstraint(c string) bool {
	c = strings.TrimSpace(c)
	c = strings.TrimPrefix(strings.TrimPrefix(c, "=="), "=")
	return c != "" && !isRange(c) && !floatingVersions[strings.ToLower(c)]
}

// isRange spots the range syntaxes of npm, pip, cargo, maven and gems.
func isRange(v string) bool {
	if strings.ContainsAny(v, "^~<>*|, ") || strings.Contains(v, "!=") {
		return true
	}
	if strings.HasPrefix(v, "[") || strings.HasPrefix(v, "(") { // maven [1.0,2.0)
		return true
	}
	// 1.x, 1.2.X
	for _, part := range strings.Split(v, ".") {
		if part == "x" || part == "X" {
			return true
		}
	}
	return false
}

// purlTag is the tag qualifier of an oci or docker purl (pkg:oci/app?tag=latest).
func purlTag(purl string) string {
	if !strings.HasPrefix(purl, "pkg:oci/") && !strings.HasPrefix(purl, "pkg:docker/") {
		return ""
	}
	_, q, ok := strings.Cut(purl, "?")
	if !ok {
		return ""
	}
	vals, err := url.ParseQuery(q)
	if err != nil {
		return ""
	}
	return vals.Get("tag")
}

// lockfiles are the files that pin a whole dependency tree.
var lockfiles = map[string]bool{
	"package-lock.json": true, "npm-shrinkwrap.json": true, "yarn.lock": true, "pnpm-lock.yaml": true,
	"bun.lock": true, "go.sum": true, "Cargo.lock": true, "poetry.lock": true, "Pipfile.lock": true,
	"uv.lock": true, "pdm.lock": true, "Gemfile.lock": true, "composer.lock": true, "packages.lock.json": true,
	"gradle.lockfile": true, "mix.lock": true, "pubspec.lock": true, "Podfile.lock": true, "conan.lock": true,
}

func isLockfile(p string) bool { return p != "" && lockfiles[path.Base(p)] }

// syftConstraint is the version constraint syft records for a requirement
// that names a range instead of a version.
func syftConstraint(md any) string {
	switch m := md.(type) {
	case pkg.PythonRequirementsEntry:
		return m.VersionConstraint
	case *pkg.PythonRequirementsEntry:
		return m.VersionConstraint
	}
	return ""
}
