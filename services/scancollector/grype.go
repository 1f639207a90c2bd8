package scancollector

import (
	"cmp"
	"encoding/json"
	"errors"
	"io"

	scanv1 "github.com/trilens/trilens/proto/trilens/scan/v1"
	"github.com/trilens/trilens/services/scancollector/internal/jsonstream"
)

// Grype JSON: one match per vulnerable package, decoded one at a time.

type grypeCVSS struct {
	Vector  string
	Metrics struct {
		BaseScore float64 `json:"baseScore"`
	}
}

type grypeMatch struct {
	Vulnerability struct {
		ID          string
		Severity    string
		Description string
		URLs        []string `json:"urls"`
		CVSS        []grypeCVSS
		CWEs        []struct {
			CWE string `json:"cwe"`
		} `json:"cwes"`
		Fix struct {
			Versions []string
			State    string
		}
	}
	RelatedVulnerabilities []struct {
		ID   string
		CVSS []grypeCVSS
	} `json:"relatedVulnerabilities"`
	Artifact struct {
		Name, Version, Type, PURL string
		Locations                 []struct {
			Path string
		}
	}
}

func decodeGrype(r io.Reader, limit int) (*Report, error) {
	rep := &Report{Format: FormatGrype, limit: limit}
	var matches []*scanv1.Finding
	var where []string
	var descriptor struct{ Name, Version string }
	scope := &scanv1.ReportScope{}
	seen := false
	d := jsonstream.New(r)
	err := d.Object(func(key string) error {
		switch key {
		case "matches":
			seen = true
			return d.Array(func(int) error {
				if err := rep.reserve(); err != nil {
					return err
				}
				var m grypeMatch
				if err := d.Decode(&m); err != nil {
					return err
				}
				f, loc := grypeFinding(&m)
				matches = append(matches, f)
				where = append(where, loc)
				return nil
			})
		case "descriptor":
			return d.Decode(&descriptor)
		case "source":
			var src struct {
				Target json.RawMessage
			}
			if err := d.Decode(&src); err != nil {
				return err
			}
			scope.Target = grypeTarget(src.Target)
			return nil
		}
		return d.Skip()
	})
	if err != nil {
		return nil, err
	}
	if err := d.End(); err != nil {
		return nil, err
	}
	if !seen {
		return nil, errors.New("at $: no \"matches\" array (want grype -o json)")
	}
	run := rep.newRun(cmp.Or(descriptor.Name, "grype"), descriptor.Version)
	run.Scope = scope
	for i, f := range matches {
		run.addVulnerability(f, where[i])
	}
	return rep, nil
}

// grypeTarget names what grype scanned: a directory or file (a string) or
// an image as the user named it.
func grypeTarget(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var img struct {
		UserInput string `json:"userInput"`
	}
	_ = json.Unmarshal(raw, &img)
	return img.UserInput
}

func grypeFinding(m *grypeMatch) (*scanv1.Finding, string) {
	v := &m.Vulnerability
	f := &scanv1.Finding{
		RuleId: v.ID, Title: firstLine(v.Description), Severity: severityFromWord(v.Severity),
		Category: scanv1.Category_CATEGORY_VULNERABILITY, Aliases: []string{v.ID},
		PackageName: m.Artifact.Name, PackageType: m.Artifact.Type, Purl: m.Artifact.PURL,
		InstalledVersion: m.Artifact.Version, Message: truncate(v.Description, maxMessage),
	}
	if f.Title == "" {
		f.Title = v.ID
	}
	if p := purlType(f.Purl); p != "" {
		f.PackageType = p
	}
	if len(v.URLs) > 0 {
		f.HelpUri = v.URLs[0]
	}
	if v.Fix.State == "fixed" && len(v.Fix.Versions) > 0 {
		f.FixedVersion = v.Fix.Versions[0]
	}
	for _, c := range v.CWEs {
		f.Cwes = append(f.Cwes, cwe(c.CWE))
	}
	scores := [][]grypeCVSS{v.CVSS}
	for _, rv := range m.RelatedVulnerabilities {
		f.Aliases = append(f.Aliases, rv.ID)
		scores = append(scores, rv.CVSS)
	}
	for _, cs := range scores {
		for _, c := range cs {
			if c.Metrics.BaseScore > f.CvssScore {
				f.CvssScore, f.CvssVector = c.Metrics.BaseScore, c.Vector
			}
		}
	}
	loc := ""
	if len(m.Artifact.Locations) > 0 {
		loc = m.Artifact.Locations[0].Path
	}
	f.Path = loc
	return f, loc
}
