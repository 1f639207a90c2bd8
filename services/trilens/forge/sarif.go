package forge

import (
	"bytes"
	"fmt"

	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"
	"github.com/trilens/trilens/services/scorer/scan"
)

// sarifLevel maps a finding's severity onto SARIF's levels, as code scanning shows them.
var sarifLevel = map[string]string{"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}

// SARIF writes the findings still present on the commit (new and open; fixed
// ones are gone from the code) as one SARIF 2.1.0 run of the tool "trilens".
// Each result carries the finding's fingerprint as a partial fingerprint,
// so code scanning tracks it across commits as Trilens does.
func SARIF(findings []scan.Finding) ([]byte, error) {
	run := sarif.NewRunWithInformationURI("trilens", "https://github.com/trilens/trilens")
	run.WithAutomationDetails(sarif.NewRunAutomationDetails().WithID("trilens/"))
	for _, f := range findings {
		if f.Status == scan.StateFixed {
			continue
		}
		rule := f.Tool + "/" + f.RuleID
		run.AddRule(rule).WithName(f.RuleID).WithDescription(f.Title).
			WithProperties(sarif.NewPropertyBag().Add("tags", []string{"security", f.Category, f.Tool}))
		level, ok := sarifLevel[f.Severity]
		if !ok {
			level = "warning"
		}
		// Code scanning wants a location: a dependency's is its package.
		uri := f.Path
		if uri == "" {
			uri = f.Package
		}
		phys := sarif.NewPhysicalLocation().WithArtifactLocation(sarif.NewArtifactLocation().WithURI(uri))
		if f.Line > 0 {
			phys.WithRegion(sarif.NewRegion().WithStartLine(int(f.Line)))
		}
		run.CreateResultForRule(rule).WithLevel(level).
			WithMessage(sarif.NewTextMessage(message(f))).
			AddLocation(sarif.NewLocation().WithPhysicalLocation(phys)).
			WithPartialFingerprints(map[string]string{"trilens/v1": f.Fingerprint})
	}
	var buf bytes.Buffer
	if err := sarif.NewReport().AddRun(run).Write(&buf); err != nil {
		return nil, fmt.Errorf("write SARIF: %w", err)
	}
	return buf.Bytes(), nil
}

func message(f scan.Finding) string {
	m := f.Title
	if m == "" {
		m = f.RuleID
	}
	if f.Package != "" {
		m += fmt.Sprintf(" (%s %s", f.Package, f.InstalledVersion)
		if f.FixedVersion != "" {
			m += ", fixed in " + f.FixedVersion
		}
		m += ")"
	}
	return fmt.Sprintf("%s [%s, %s by %s]", m, f.Severity, f.Status, f.Tool)
}
