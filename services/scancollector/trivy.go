package scancollector

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	scanv1 "github.com/trilens/trilens/proto/trilens/scan/v1"
	"github.com/trilens/trilens/services/scancollector/internal/jsonstream"
)

// Trivy JSON: vulnerabilities, misconfigurations and secrets per target,
// decoded one entry at a time. Read: SchemaVersion 2 (trivy -f json), the
// bare results array of trivy before 0.20, and trivy k8s reports (ClusterName
// with Resources, or with Vulnerabilities and Misconfigurations lists of
// resources).

// jsonRaw holds one value undecoded.
type jsonRaw = json.RawMessage

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
	first, r, err := firstByte(r)
	if err != nil || first == 0 {
		return rep, err
	}
	d := jsonstream.New(r)
	if first == '[' || first == 'n' {
		// Before 0.20 trivy wrote the results alone, an array (null when empty).
		if err := d.Array(func(int) error { return decodeTrivyResult(d, rep, run, "") }); err != nil {
			return nil, err
		}
		return rep, d.End()
	}
	schema := 0
	k8s := false
	resources := func() error {
		k8s = true
		return d.Array(func(int) error { return decodeTrivyResource(d, rep, run) })
	}
	err = d.Object(func(key string) error {
		switch key {
		case "SchemaVersion":
			return d.Decode(&schema)
		case "ArtifactName":
			return d.Decode(&run.Scope.Target)
		case "ClusterName":
			k8s = true
			return d.Decode(&run.Scope.Target)
		case "Trivy":
			var t struct{ Version string }
			if err := d.Decode(&t); err != nil {
				return err
			}
			run.ToolVersion = t.Version
			return nil
		case "Results":
			return d.Array(func(int) error { return decodeTrivyResult(d, rep, run, "") })
		case "Resources", "Findings", "Vulnerabilities", "Misconfigurations":
			// trivy k8s: the resources scanned, each with its results. 0.3x
			// split them by kind of finding, later versions list them once.
			return resources()
		}
		return d.Skip()
	})
	if err != nil {
		return nil, err
	}
	if !k8s && schema != 2 {
		return nil, fmt.Errorf("at $.SchemaVersion: want 2 (trivy -f json), ClusterName (trivy k8s) or an array of results (trivy before 0.20), got schema %d", schema)
	}
	return rep, d.End()
}

// decodeTrivyResource reads one Kubernetes resource of a trivy k8s report.
// Its findings carry the resource in their location, so one vulnerability
// in two workloads is two findings. A resource trivy failed to scan marks
// the run failed: its findings are unknown, not fixed.
func decodeTrivyResource(d *jsonstream.Decoder, rep *Report, run *Run) error {
	var ns, kind, name, scanErr string
	var results [][]byte
	err := d.Object(func(key string) error {
		switch key {
		case "Namespace":
			return d.Decode(&ns)
		case "Kind":
			return d.Decode(&kind)
		case "Name":
			return d.Decode(&name)
		case "Error":
			return d.Decode(&scanErr)
		case "Results":
			// The resource's name may follow its results: keep them raw, one
			// result at a time (each bounded by the decoder's value limit).
			return d.Array(func(int) error {
				var raw jsonRaw
				if err := d.Decode(&raw); err != nil {
					return err
				}
				results = append(results, raw)
				return nil
			})
		}
		return d.Skip()
	})
	if err != nil {
		return err
	}
	resource := strings.Trim(ns+"/"+kind+"/"+name, "/")
	if scanErr != "" {
		run.fail(resource + ": " + scanErr)
	}
	for _, raw := range results {
		rd := jsonstream.New(bytes.NewReader(raw))
		if err := decodeTrivyResult(rd, rep, run, resource); err != nil {
			return d.Errorf("resource %s: %v", resource, err)
		}
	}
	return nil
}

// decodeTrivyResult reads one result (a target: image OS packages, a lock
// file, a config file). resource, for trivy k8s, is the workload it belongs to.
func decodeTrivyResult(d *jsonstream.Decoder, rep *Report, run *Run, resource string) error {
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
					// A secret without a rule id still is one: name it by what trivy says.
					RuleId: cmp.Or(s.RuleID, s.Title, s.Category, "secret"), Title: firstLine(s.Title), Severity: severityFromWord(s.Severity),
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
	in := func(p string) string {
		if resource == "" {
			return p
		}
		return resource + ": " + p
	}
	for _, f := range vulns {
		where := target
		if f.Path != "" {
			where = f.Path
		}
		f.Path = in(where)
		run.addVulnerability(f, f.Path)
	}
	for _, c := range code {
		c.f.Path = in(target)
		run.addCode(c.f, c.f.RuleId, c.f.Path, c.identity)
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
