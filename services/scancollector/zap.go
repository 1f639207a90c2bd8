package scancollector

import (
	"cmp"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	scanv1 "github.com/trilens/trilens/proto/trilens/scan/v1"
	"github.com/trilens/trilens/services/scancollector/internal/jsonstream"
	"github.com/trilens/trilens/services/scancollector/internal/xmlstream"
)

// OWASP ZAP reports, in three shapes: the traditional XML report (ZAP
// 2.9 onward; the version attribute and every number are text), the
// traditional JSON report (sites, their alerts, each alert's instances), and
// alert lists from ZAP's API (each entry one instance, as an array or under
// "alerts"). Every listed instance is a finding: riskcode 3 high, 2 medium,
// 1 low, 0 info (ZAP has no critical). ZAP lists a bounded number of
// instances per alert; its "count" may be larger, and the message says so.

// zapText reads a JSON string or number as text (ZAP writes numbers as
// strings, but not every version or exporter does).
type zapText string

func (t *zapText) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = zapText(s)
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a string or number, got %s", truncate(string(b), 40))
	}
	*t = zapText(n)
	return nil
}

type zapInstance struct {
	URI    string `json:"uri" xml:"uri"`
	Method string `json:"method" xml:"method"`
	Param  string `json:"param" xml:"param"`
}

// zapAlert is an alert of a traditional report, JSON or XML.
type zapAlert struct {
	PluginID  zapText       `json:"pluginid" xml:"pluginid"`
	AlertRef  zapText       `json:"alertRef" xml:"alertRef"`
	Alert     string        `json:"alert" xml:"alert"`
	Name      string        `json:"name" xml:"name"`
	RiskCode  zapText       `json:"riskcode" xml:"riskcode"`
	Desc      string        `json:"desc" xml:"desc"`
	Reference string        `json:"reference" xml:"reference"`
	CWEID     zapText       `json:"cweid" xml:"cweid"`
	Count     zapText       `json:"count" xml:"count"`
	Instances []zapInstance `json:"instances" xml:"instances>instance"`
	// Reports before 2.9 put one instance in the alert itself.
	zapInstance
}

// zapAPIAlert is one entry of an API alert list: one instance of an alert.
type zapAPIAlert struct {
	PluginID    zapText `json:"pluginId"`
	AlertRef    zapText `json:"alertRef"`
	Alert       string  `json:"alert"`
	Name        string  `json:"name"`
	Risk        string  `json:"risk"`
	Description string  `json:"description"`
	Reference   string  `json:"reference"`
	CWEID       zapText `json:"cweid"`
	URL         string  `json:"url"`
	Method      string  `json:"method"`
	Param       string  `json:"param"`
}

// zapCollect gathers a ZAP report's findings and scope while decoding.
type zapCollect struct {
	rep              *Report
	program, version string
	sites            []string
	findings         []*scanv1.Finding
	identities       [][]string
}

func decodeZAP(r io.Reader, limit int) (*Report, error) {
	z := &zapCollect{rep: &Report{Format: FormatZAP, limit: limit}}
	first, r, err := firstByte(r)
	if err != nil {
		return nil, err
	}
	switch first {
	case '<':
		err = z.decodeXML(r)
	case 0, 'n':
		// An empty report: no alerts.
	default:
		err = z.decodeJSON(r, first)
	}
	if err != nil {
		return nil, err
	}
	run := z.rep.newRun(cmp.Or(z.program, "ZAP"), z.version)
	run.Scope.Target = strings.Join(z.sites, ",")
	for i, f := range z.findings {
		run.addCode(f, z.identities[i]...)
	}
	return z.rep, nil
}

func (z *zapCollect) decodeJSON(r io.Reader, first byte) error {
	d := jsonstream.New(r)
	if first == '[' {
		if err := d.Array(func(int) error { return z.apiAlert(d) }); err != nil {
			return err
		}
		return d.End()
	}
	sites, alerts := false, false
	err := d.Object(func(key string) error {
		switch key {
		case "@programName":
			return d.Decode(&z.program)
		case "@version":
			return d.Decode(&z.version)
		case "alerts":
			alerts = true
			return d.Array(func(int) error { return z.apiAlert(d) })
		case "site":
			sites = true
			return d.Array(func(int) error {
				site := ""
				return d.Object(func(key string) error {
					switch key {
					case "@name":
						if err := d.Decode(&site); err != nil {
							return err
						}
						z.sites = append(z.sites, site)
						return nil
					case "alerts":
						return d.Array(func(int) error {
							if err := z.rep.reserve(); err != nil {
								return err
							}
							var a zapAlert
							if err := d.Decode(&a); err != nil {
								return err
							}
							if err := z.alert(&a, site); err != nil {
								return d.Errorf("%v", err)
							}
							return nil
						})
					}
					return d.Skip()
				})
			})
		}
		return d.Skip()
	})
	if err != nil {
		return err
	}
	if err := d.End(); err != nil {
		return err
	}
	if !sites && !alerts {
		return fmt.Errorf(`at $: no "site" array (ZAP traditional-json report) nor "alerts" list (ZAP API)`)
	}
	return nil
}

func (z *zapCollect) decodeXML(r io.Reader) error {
	d := xmlstream.New(r)
	site := ""
	for {
		el, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if d.Depth() == 1 {
			if el.Name.Local != "OWASPZAPReport" {
				return d.Errorf("want the root element <OWASPZAPReport> (ZAP XML report), got <%s>", el.Name.Local)
			}
			z.program = cmp.Or(xmlAttr(el, "programName"), "ZAP")
			z.version = xmlAttr(el, "version")
			continue
		}
		switch el.Name.Local {
		case "site":
			site = xmlAttr(el, "name")
			z.sites = append(z.sites, site)
		case "alertitem":
			if err := z.rep.reserve(); err != nil {
				return err
			}
			var a zapAlert
			if err := d.Decode(&a, el); err != nil {
				return err
			}
			if err := z.alert(&a, site); err != nil {
				return d.Errorf("%v", err)
			}
		}
	}
	if z.version == "" && z.program == "" {
		return errors.New("no <OWASPZAPReport> element (want a ZAP XML report)")
	}
	return nil
}

func xmlAttr(el *xml.StartElement, name string) string {
	for _, a := range el.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// alert adds a traditional report's alert: one finding per listed instance.
func (z *zapCollect) alert(a *zapAlert, site string) error {
	sev, err := zapSeverity(string(a.RiskCode))
	if err != nil {
		return err
	}
	instances := a.Instances
	if len(instances) == 0 {
		// Before 2.9, or an alert whose instances were not listed: the alert
		// itself, where it says or at its site.
		in := a.zapInstance
		in.URI = cmp.Or(in.URI, site)
		instances = []zapInstance{in}
	}
	msg := stripTags(a.Desc)
	if n, err := strconv.Atoi(strings.TrimSpace(string(a.Count))); err == nil && n > len(instances) {
		msg = fmt.Sprintf("ZAP counted %d instances of this alert; the report lists %d. %s", n, len(instances), msg)
	}
	for _, in := range instances {
		f := &scanv1.Finding{
			RuleId: strings.TrimSpace(string(cmp.Or(a.AlertRef, a.PluginID))), Title: firstLine(cmp.Or(a.Name, a.Alert)),
			Severity: sev, Category: scanv1.Category_CATEGORY_DYNAMIC, Cwes: mergeStrings([]string{cwe(string(a.CWEID))}),
			Path: in.URI, Message: truncate(msg, maxMessage), HelpUri: firstURL(a.Reference),
		}
		z.findings = append(z.findings, f)
		z.identities = append(z.identities, []string{f.RuleId, in.Method, in.URI, in.Param})
	}
	return nil
}

// apiAlert adds one entry of an API alert list.
func (z *zapCollect) apiAlert(d *jsonstream.Decoder) error {
	if err := z.rep.reserve(); err != nil {
		return err
	}
	var a zapAPIAlert
	if err := d.Decode(&a); err != nil {
		return err
	}
	sev := severityFromWord(a.Risk)
	if sev == scanv1.Severity_SEVERITY_UNSPECIFIED || sev == scanv1.Severity_SEVERITY_CRITICAL {
		return d.Errorf("risk: want High, Medium, Low or Informational, got %q", a.Risk)
	}
	rule := strings.TrimSpace(string(cmp.Or(a.AlertRef, a.PluginID)))
	if rule == "" {
		return d.Errorf(`alert has no "pluginId" nor "alertRef"`)
	}
	f := &scanv1.Finding{
		RuleId: rule, Title: firstLine(cmp.Or(a.Name, a.Alert)), Severity: sev,
		Category: scanv1.Category_CATEGORY_DYNAMIC, Cwes: mergeStrings([]string{cwe(string(a.CWEID))}),
		Path: a.URL, Message: truncate(stripTags(a.Description), maxMessage), HelpUri: firstURL(a.Reference),
	}
	z.findings = append(z.findings, f)
	z.identities = append(z.identities, []string{rule, a.Method, a.URL, a.Param})
	return nil
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
