package advisories

import (
	"slices"
	"strings"

	"github.com/google/osv-scalibr/semantic"
	"github.com/package-url/packageurl-go"
)

// ecosystems names the OSV ecosystem of a purl type.
var ecosystems = map[string]string{
	"golang": "Go", "npm": "npm", "pypi": "PyPI", "maven": "Maven", "cargo": "crates.io", "gem": "RubyGems",
	"nuget": "NuGet", "composer": "Packagist", "pub": "Pub", "hex": "Hex", "deb": "Debian", "apk": "Alpine",
	"swift": "SwiftURL", "cran": "CRAN", "hackage": "Hackage",
}

// Package is a component version as OSV names it.
type Package struct {
	Ecosystem, Name, Version string
}

// PackageOf names the component of purl (at version, when the purl has
// none) in OSV's terms; ok is false for an ecosystem OSV does not cover.
func PackageOf(purl, version string) (Package, bool) {
	p, err := packageurl.FromString(purl)
	eco, known := ecosystems[p.Type]
	if err != nil || !known {
		return Package{}, false
	}
	name := p.Name
	switch {
	case p.Type == "maven" && p.Namespace != "":
		name = p.Namespace + ":" + p.Name
	case p.Namespace != "" && p.Type != "deb" && p.Type != "apk":
		name = p.Namespace + "/" + p.Name
	}
	v := p.Version
	if v == "" {
		v = version
	}
	if eco == "Go" {
		v = strings.TrimPrefix(v, "v")
	}
	return Package{Ecosystem: eco, Name: name, Version: v}, v != ""
}

// Affects reports whether the record affects pkg, and the first version
// that fixes it ("" when none does).
func (r *Record) Affects(pkg Package) (bool, string) {
	if r.Withdrawn != nil {
		return false, ""
	}
	for _, a := range r.Affected {
		// Debian's and Alpine's ecosystems carry a release ("Debian:12").
		eco, _, _ := strings.Cut(a.Package.Ecosystem, ":")
		if eco != pkg.Ecosystem || a.Package.Name != pkg.Name {
			continue
		}
		if hit, fixed := inRanges(a, pkg); hit {
			return true, fixed
		}
		if slices.Contains(a.Versions, pkg.Version) {
			return true, ""
		}
	}
	return false, ""
}

// inRanges walks the SEMVER and ECOSYSTEM ranges' events in order, as
// the OSV schema defines them (GIT ranges name commits, not versions),
// and returns the version that fixes the range pkg is in.
func inRanges(a Affected, pkg Package) (bool, string) {
	v, err := semantic.Parse(pkg.Version, pkg.Ecosystem)
	if err != nil {
		return false, ""
	}
	atLeast := func(bound string) bool {
		c, err := v.CompareStr(bound)
		return err == nil && c >= 0
	}
	for _, rg := range a.Ranges {
		if rg.Type != "SEMVER" && rg.Type != "ECOSYSTEM" {
			continue
		}
		affected, fix := false, ""
		for _, e := range rg.Events {
			switch {
			case e.Introduced != "":
				if e.Introduced == "0" || atLeast(e.Introduced) {
					affected, fix = true, ""
				}
			case e.Fixed != "" && atLeast(e.Fixed), e.Limit != "" && atLeast(e.Limit):
				affected = false
			case e.Fixed != "" && affected && fix == "":
				fix = e.Fixed
			case e.LastAffected != "":
				if c, err := v.CompareStr(e.LastAffected); err == nil && c > 0 {
					affected = false
				}
			}
		}
		if affected {
			return true, fix
		}
	}
	return false, ""
}
