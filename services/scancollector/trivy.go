package scancollector

import (
	"cmp"
	"fmt"
	"io"
	"strings"

	scanv1 "github.com/trilens/trilens/proto/trilens/scan/v1"
	"github.com/trilens/trilens/services/scancollector/internal/jsonstream"
)

// Trivy JSON (SchemaVersion 2): vulnerabilities, misconfigurations and secrets
// per target, decoded one entry at a time.

type trivyVuln struct {
	VulnerabilityID  string
	VendorIDs        []string
	PkgName          string
	PkgPath          string
	PkgIdentifier    struct{ PURL string }
	InstalledVersion string
	FixedVersion     string
	PrimaryURL       string
	Title            string
	Description      string
	Severity         string
	CweIDs           []string
	CVSS             map[string]struct {
		V3Vector string
		V3Score  float64
		V40Score float64
	}
}

type trivyMisconf struct {
	ID, AVDID, Title, Message, Resolution, Severity, PrimaryURL, Status string
	CauseMetadata                                                       struct {
		Resource           string
		StartLine, EndLine uint32
	}
}

type trivySecret struct {
	RuleID, Category, Severity, Title string
	Match                             string // the line, with the secret masked by trivy
	StartLine, EndLine                uint32
}

func decodeTrivy(r io.Reader, limit int) (*Report, error) {
	rep := &Report{Format: FormatTrivy, limit: limit}
	run := rep.newRun("trivy", "")
	d := jsonstream.New(r)
	schema := 0
	err := d.Object(func(key string) error {
		switch key {
		case "SchemaVersion":
			return d.Decode(&schema)
		case "Trivy":
			var t struct{ Version string }
			if err := d.Decode(&t); err != nil {
				return err
			}
			run.ToolVersion = t.Version
			return nil
		case "Results":
			return d.Array(func(int) error { return decodeTrivyResult(d, rep, run) })
		}
		return d.Skip()
	})
	if err != nil {
		return nil, err
	}
	if schema != 2 {
		return nil, fmt.Errorf("at $.SchemaVersion: want 2 (trivy --format json), got %d", schema)
	}
	return rep, d.End()
}

func decodeTrivyResult(d *jsonstream.Decoder, rep *Report, run *Run) error {
	var target string
	var vulns []*scanv1.Finding
	type coded struct {
		f        *scanv1.Finding
		identity string // what, besides rule and target, tells two findings apart
	}
	var code []coded
	err := d.Object(func(key string) error {
		switch key {
		case "Target":
			return d.Decode(&target)
		case "Vulnerabilities":
			return d.Array(func(int) error {
				if err := rep.reserve(); err != nil {
					return err
				}
				var v trivyVuln
				if err := d.Decode(&v); err != nil {
					return err
				}
				vulns = append(vulns, trivyVulnFinding(&v))
				return nil
			})
		case "Misconfigurations":
			return d.Array(func(int) error {
				if err := rep.reserve(); err != nil {
					return err
				}
				var m trivyMisconf
				if err := d.Decode(&m); err != nil {
					return err
				}
				if m.Status == "" || m.Status == "FAIL" {
					code = append(code, coded{&scanv1.Finding{
						RuleId: cmp.Or(m.AVDID, m.ID), Title: firstLine(m.Title),
						Severity: severityFromWord(m.Severity), Category: scanv1.Category_CATEGORY_MISCONFIGURATION,
						StartLine: m.CauseMetadata.StartLine, EndLine: m.CauseMetadata.EndLine,
						HelpUri: m.PrimaryURL, Message: truncate(cmp.Or(m.Message, m.Resolution), maxMessage),
					}, m.CauseMetadata.Resource + "\x00" + m.Message})
				}
				return nil
			})
		case "Secrets":
			return d.Array(func(int) error {
				if err := rep.reserve(); err != nil {
					return err
				}
				var s trivySecret
				if err := d.Decode(&s); err != nil {
					return err
				}
				// The match is never kept: it holds the secret.
				code = append(code, coded{&scanv1.Finding{
					RuleId: s.RuleID, Title: firstLine(s.Title), Severity: severityFromWord(s.Severity),
					Category: scanv1.Category_CATEGORY_SECRET, StartLine: s.StartLine, EndLine: s.EndLine,
					Message: s.Category + " secret: " + s.Title,
				}, s.Match})
				return nil
			})
		}
		return d.Skip()
	})
	if err != nil {
		return err
	}
	for _, f := range vulns {
		where := target
		if f.Path != "" {
			where = f.Path
		}
		f.Path = where
		run.addVulnerability(f, where)
	}
	for _, c := range code {
		c.f.Path = target
		run.addCode(c.f, c.f.RuleId, target, c.identity)
	}
	return nil
}

func trivyVulnFinding(v *trivyVuln) *scanv1.Finding {
	f := &scanv1.Finding{
		RuleId: v.VulnerabilityID, Title: firstLine(cmp.Or(v.Title, v.Description)),
		Severity: severityFromWord(v.Severity), Category: scanv1.Category_CATEGORY_VULNERABILITY,
		Aliases:     append([]string{v.VulnerabilityID}, v.VendorIDs...),
		PackageName: v.PkgName, Purl: v.PkgIdentifier.PURL, PackageType: purlType(v.PkgIdentifier.PURL),
		InstalledVersion: v.InstalledVersion, FixedVersion: v.FixedVersion,
		Path: v.PkgPath, HelpUri: v.PrimaryURL, Message: truncate(v.Description, maxMessage),
	}
	for _, c := range v.CweIDs {
		f.Cwes = append(f.Cwes, cwe(c))
	}
	// Prefer NVD's score, then any vendor's highest.
	if c, ok := v.CVSS["nvd"]; ok && c.V3Score > 0 {
		f.CvssScore, f.CvssVector = c.V3Score, c.V3Vector
	} else {
		for _, c := range v.CVSS {
			if c.V3Score > f.CvssScore {
				f.CvssScore, f.CvssVector = c.V3Score, c.V3Vector
			}
		}
	}
	return f
}

// purlType is the type of a package URL: pkg:golang/... -> golang.
func purlType(purl string) string {
	t, ok := strings.CutPrefix(purl, "pkg:")
	if !ok {
		return ""
	}
	t, _, _ = strings.Cut(t, "/")
	return t
}
