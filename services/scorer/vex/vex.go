// Package vex speaks VEX for the risk ledger: it writes the ledger's
// vulnerability waivers (not_affected) and the vulnerabilities fixed
// wherever they were found (fixed; CycloneDX: resolved) as OpenVEX or
// CycloneDX VEX documents, and reads such documents back, so a supplier's
// not_affected statements become waivers carrying their justification
// (fixed statements waive nothing).
//
// A vulnerability waiver targets a finding key vuln|<id>|<package>|<version>|<location>
// (see scan.FindingKey) in a scope (a service). In a document the vulnerability
// is <id>, the package is a subcomponent purl (pkg:generic/<package>@<version>,
// the location as its file_path qualifier) of the product named by the scope,
// or the product itself when the waiver has no scope. The waiver's id is the
// statement's id, its reason the justification and impact statement, its
// compensating control the status notes, its owner the document's author:
// what a VEX document has no field for (the expiry) the importer chooses.
package vex

import (
	"fmt"
	"strings"
	"time"

	"github.com/package-url/packageurl-go"
	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/ledger"
	"github.com/trilens/trilens/services/scorer/scan"
)

// Formats of a VEX document.
const (
	OpenVEX   = "openvex"
	CycloneDX = "cyclonedx"
)

// Claim is one not_affected statement of a document about one package.
type Claim struct {
	ID            string // statement id (a waiver id), may be empty
	Vulnerability string
	Aliases       []string
	Product       string // the product holding the package; empty when it is the package
	Package       string
	Version       string
	Location      string
	Justification string
	Impact        string
	Notes         string
}

// target is the finding key the claim waives.
func (c Claim) target() string {
	return scan.FindingKey("", "", "", "", "vulnerability", c.Vulnerability, c.Aliases, c.Package, c.Version, c.Location, 0)
}

// reason joins the justification and the impact statement.
func (c Claim) reason() string {
	switch {
	case c.Justification == "":
		return c.Impact
	case c.Impact == "":
		return c.Justification
	}
	return c.Justification + ": " + c.Impact
}

// vulnTarget splits a waiver's finding key; ok is false for other targets.
func vulnTarget(target string) (id, pkg, version, loc string, ok bool) {
	parts := strings.Split(target, "|")
	if len(parts) != 5 || parts[0] != "vuln" || parts[1] == "" || parts[2] == "" {
		return "", "", "", "", false
	}
	return parts[1], parts[2], parts[3], parts[4], true
}

// claimOf is the claim a waiver makes; ok is false for a waiver that is
// not an active one on a vulnerability.
func claimOf(w ledger.Waiver, justifications []string) (Claim, bool) {
	id, pkg, version, loc, ok := vulnTarget(w.Target)
	if !ok || w.State != ledger.WaiverActive {
		return Claim{}, false
	}
	c := Claim{ID: w.ID, Vulnerability: id, Product: w.Scope, Package: pkg, Version: version, Location: loc,
		Impact: w.Reason, Notes: w.CompensatingControl}
	for _, j := range justifications {
		if rest, found := strings.CutPrefix(w.Reason, j); found && (rest == "" || strings.HasPrefix(rest, ": ")) {
			c.Justification, c.Impact = j, strings.TrimPrefix(rest, ": ")
		}
	}
	return c, true
}

// FixedClaim is one fixed statement: the vulnerability in the package is
// fixed in the product (the service; the package itself when none).
type FixedClaim struct {
	ID, Vulnerability, Product, Package, Version, Location, FixedVersion string
	At                                                                   time.Time
}

// fixedClaims turns the fixed findings into statements; keys that are not
// a vulnerability in a package are skipped.
func fixedClaims(fixed []scan.FixedVulnerability) []FixedClaim {
	var out []FixedClaim
	for _, f := range fixed {
		id, pkg, version, loc, ok := vulnTarget(f.Key)
		if !ok {
			continue
		}
		out = append(out, FixedClaim{ID: "fixed-" + events.ID(f.Key, f.Service)[:12], Vulnerability: id, Product: f.Service,
			Package: pkg, Version: version, Location: loc, FixedVersion: f.FixedVersion, At: f.FixedAt.UTC()})
	}
	return out
}

// notes says what was fixed: the vulnerable version and the fix.
func (c FixedClaim) notes() string {
	n := "fixed on every branch that had " + c.Package + "@" + c.Version
	if c.FixedVersion != "" {
		n += "; fix version " + c.FixedVersion
	}
	return n
}

// packagePURL names a package as a purl: the generic type unless known.
func packagePURL(pkg, version, loc string) string {
	var q packageurl.Qualifiers
	if loc != "" {
		q = packageurl.QualifiersFromMap(map[string]string{"file_path": loc})
	}
	ns, name := "", pkg
	if i := strings.LastIndex(pkg, "/"); i > 0 {
		ns, name = pkg[:i], pkg[i+1:]
	}
	return packageurl.NewPackageURL("generic", ns, name, version, q, "").ToString()
}

// packageOf reads a package identifier: a purl, or any other name as is.
func packageOf(id string) (pkg, version, loc string) {
	p, err := packageurl.FromString(id)
	if err != nil || !strings.HasPrefix(id, "pkg:") {
		return id, "", ""
	}
	pkg = p.Name
	if p.Namespace != "" {
		pkg = p.Namespace + "/" + p.Name
	}
	return pkg, p.Version, p.Qualifiers.Map()["file_path"]
}

// Waivers turns claims into waivers of owner until expires; scope, when
// set, replaces the products' names (a product is named by a purl in a
// supplier's document and by a service in the ledger).
func Waivers(claims []Claim, tmpl ledger.Waiver, scope string) ([]ledger.Waiver, error) {
	var out []ledger.Waiver
	for _, c := range claims {
		if c.Package == "" || c.Vulnerability == "" {
			return nil, fmt.Errorf("vex: statement %q names no vulnerability or product", c.ID)
		}
		w := tmpl
		w.Lens, w.Target, w.Scope = evidence.LensSecurity, c.target(), c.Product
		if scope != "" {
			w.Scope = scope
		}
		w.Reason, w.CompensatingControl, w.ID = c.reason(), c.Notes, c.ID
		if w.Reason == "" {
			return nil, fmt.Errorf("vex: statement on %s gives no justification", c.Vulnerability)
		}
		if w.ID == "" || strings.ContainsAny(w.ID, "/: ") {
			w.ID = "vex-" + events.ID(w.Target, w.Scope)[:12]
		}
		out = append(out, w)
	}
	return out, nil
}
