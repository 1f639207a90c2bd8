package scancollector

import (
	"cmp"
	"fmt"
	"io"
	"strings"

	scanv1 "github.com/trilens/trilens/proto/trilens/scan/v1"
	"github.com/trilens/trilens/services/scancollector/internal/jsonstream"
)

// OWASP ZAP JSON report (traditional-json): sites, their alerts, and each
// alert's instances. Every instance is a finding: riskcode 3 high, 2
// medium, 1 low, 0 info (ZAP has no critical).

type zapAlert struct {
	PluginID  string `json:"pluginid"`
	AlertRef  string `json:"alertRef"`
	Alert     string `json:"alert"`
	Name      string `json:"name"`
	RiskCode  string `json:"riskcode"`
	Desc      string `json:"desc"`
	Solution  string `json:"solution"`
	Reference string `json:"reference"`
	CWEID     string `json:"cweid"`
	Instances []struct {
		URI    string `json:"uri"`
		Method string `json:"method"`
		Param  string `json:"param"`
	} `json:"instances"`
}

func decodeZAP(r io.Reader, limit int) (*Report, error) {
	rep := &Report{Format: FormatZAP, limit: limit}
	var program, version string
	sites := false
	var findings []*scanv1.Finding
	var identities [][]string
	d := jsonstream.New(r)
	err := d.Object(func(key string) error {
		switch key {
		case "@programName":
			return d.Decode(&program)
		case "@version":
			return d.Decode(&version)
		case "site":
			sites = true
			return d.Array(func(int) error {
				return d.Object(func(key string) error {
					if key != "alerts" {
						return d.Skip()
					}
					return d.Array(func(int) error {
						if err := rep.reserve(); err != nil {
							return err
						}
						var a zapAlert
						if err := d.Decode(&a); err != nil {
							return err
						}
						sev, err := zapSeverity(a.RiskCode)
						if err != nil {
							return d.Errorf("%v", err)
						}
						for _, in := range a.Instances {
							f := &scanv1.Finding{
								RuleId: cmp.Or(a.AlertRef, a.PluginID), Title: firstLine(cmp.Or(a.Name, a.Alert)),
								Severity: sev, Category: scanv1.Category_CATEGORY_DYNAMIC, Cwes: []string{cwe(a.CWEID)},
								Path: in.URI, Message: truncate(stripTags(a.Desc), maxMessage), HelpUri: firstURL(a.Reference),
							}
							f.Cwes = mergeStrings(f.Cwes)
							findings = append(findings, f)
							identities = append(identities, []string{f.RuleId, in.Method, in.URI, in.Param})
						}
						return nil
					})
				})
			})
		}
		return d.Skip()
	})
	if err != nil {
		return nil, err
	}
	if err := d.End(); err != nil {
		return nil, err
	}
	if !sites {
		return nil, fmt.Errorf("at $: no \"site\" array (want a ZAP traditional-json report)")
	}
	run := rep.newRun(cmp.Or(program, "ZAP"), version)
	for i, f := range findings {
		run.addCode(f, identities[i]...)
	}
	return rep, nil
}

func zapSeverity(code string) (scanv1.Severity, error) {
	switch strings.TrimSpace(code) {
	case "3":
		return scanv1.Severity_SEVERITY_HIGH, nil
	case "2":
		return scanv1.Severity_SEVERITY_MEDIUM, nil
	case "1":
		return scanv1.Severity_SEVERITY_LOW, nil
	case "0":
		return scanv1.Severity_SEVERITY_INFO, nil
	}
	return 0, fmt.Errorf("riskcode: want 0-3, got %q", code)
}

// stripTags drops the HTML ZAP puts in descriptions.
func stripTags(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}

func firstURL(s string) string {
	for _, f := range strings.FieldsFunc(stripTags(strings.ReplaceAll(s, "<", " <")), func(r rune) bool { return r == ' ' || r == '\n' }) {
		if strings.HasPrefix(f, "http://") || strings.HasPrefix(f, "https://") {
			return f
		}
	}
	return ""
}
