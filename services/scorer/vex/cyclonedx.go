package vex

import (
	"bytes"
	"fmt"
	"io"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/trilens/trilens/services/scorer/ledger"
	"github.com/trilens/trilens/services/scorer/scan"
)

// Properties carrying what CycloneDX has no field for.
const (
	propScope   = "trilens:scope"
	propControl = "trilens:compensating_control"
)

var cdxJustifications = []string{
	string(cdx.IAJCodeNotPresent), string(cdx.IAJCodeNotReachable), string(cdx.IAJRequiresConfiguration),
	string(cdx.IAJRequiresDependency), string(cdx.IAJRequiresEnvironment), string(cdx.IAJProtectedByCompiler),
	string(cdx.IAJProtectedAtRuntime), string(cdx.IAJProtectedAtPerimeter), string(cdx.IAJProtectedByMitigatingControl),
}

// WriteCycloneDX writes the active vulnerability waivers (not_affected) and
// the fixed vulnerabilities (resolved) as a CycloneDX VEX document (a BOM
// holding only vulnerabilities and their analysis).
func WriteCycloneDX(out io.Writer, ws []ledger.Waiver, fixed []scan.FixedVulnerability, author string, now time.Time) error {
	bom := cdx.NewBOM()
	bom.Metadata = &cdx.Metadata{Timestamp: now.UTC().Format(time.RFC3339), Authors: &[]cdx.OrganizationalContact{{Name: author}}}
	var vulns []cdx.Vulnerability
	for _, w := range ws {
		c, ok := claimOf(w, cdxJustifications)
		if !ok {
			continue
		}
		var props []cdx.Property
		if c.Product != "" {
			props = append(props, cdx.Property{Name: propScope, Value: c.Product})
		}
		if c.Notes != "" {
			props = append(props, cdx.Property{Name: propControl, Value: c.Notes})
		}
		v := cdx.Vulnerability{BOMRef: c.ID, ID: c.Vulnerability,
			Analysis: &cdx.VulnerabilityAnalysis{State: cdx.IASNotAffected,
				Justification: cdx.ImpactAnalysisJustification(c.Justification), Detail: c.Impact},
			Affects: &[]cdx.Affects{{Ref: packagePURL(c.Package, c.Version, c.Location)}}}
		if len(props) > 0 {
			v.Properties = &props
		}
		vulns = append(vulns, v)
	}
	for _, c := range fixedClaims(fixed) {
		var props []cdx.Property
		if c.Product != "" {
			props = append(props, cdx.Property{Name: propScope, Value: c.Product})
		}
		v := cdx.Vulnerability{BOMRef: c.ID, ID: c.Vulnerability,
			Analysis: &cdx.VulnerabilityAnalysis{State: cdx.IASResolved, Detail: c.notes(), LastUpdated: c.At.Format(time.RFC3339)},
			Affects:  &[]cdx.Affects{{Ref: packagePURL(c.Package, "", c.Location)}}}
		if len(props) > 0 {
			v.Properties = &props
		}
		vulns = append(vulns, v)
	}
	bom.Vulnerabilities = &vulns
	return cdx.NewBOMEncoder(out, cdx.BOMFileFormatJSON).SetPretty(true).Encode(bom)
}

// cyclonedxClaims reads the not_affected analyses of a CycloneDX document.
func cyclonedxClaims(data []byte) (author string, claims []Claim, err error) {
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(data), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return "", nil, fmt.Errorf("cyclonedx: %w", err)
	}
	if bom.Metadata != nil && bom.Metadata.Authors != nil && len(*bom.Metadata.Authors) > 0 {
		author = (*bom.Metadata.Authors)[0].Name
	}
	if bom.Vulnerabilities == nil {
		return author, nil, nil
	}
	for _, v := range *bom.Vulnerabilities {
		if v.Analysis == nil || v.Analysis.State != cdx.IASNotAffected || v.Affects == nil {
			continue
		}
		base := Claim{ID: v.BOMRef, Vulnerability: v.ID, Justification: string(v.Analysis.Justification), Impact: v.Analysis.Detail}
		if v.References != nil {
			for _, r := range *v.References {
				base.Aliases = append(base.Aliases, r.ID)
			}
		}
		if v.Properties != nil {
			for _, p := range *v.Properties {
				switch p.Name {
				case propScope:
					base.Product = p.Value
				case propControl:
					base.Notes = p.Value
				}
			}
		}
		for _, a := range *v.Affects {
			c := base
			c.Package, c.Version, c.Location = packageOf(a.Ref)
			claims = append(claims, c)
		}
	}
	return author, claims, nil
}

// Parse reads an OpenVEX or a CycloneDX VEX document (JSON), telling them
// apart by CycloneDX's bomFormat, and returns its author and claims.
func Parse(data []byte) (author string, claims []Claim, err error) {
	if bytes.Contains(data, []byte(`"bomFormat"`)) {
		return cyclonedxClaims(data)
	}
	return openvexClaims(data)
}
