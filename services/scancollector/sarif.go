package scancollector

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"
	"github.com/trilens/trilens/pkg/events"
	scanv1 "github.com/trilens/trilens/proto/trilens/scan/v1"
	"github.com/trilens/trilens/services/scancollector/internal/jsonstream"
)

// decodeSARIF reads SARIF 2.1.0 one result at a time: go-sarif has no
// streaming reader, so the document is walked token by token and each result
// (and each run's tool) is decoded into go-sarif's types alone. Results may
// precede their run's tool object, so they are resolved against the rules
// when the run ends.
func decodeSARIF(r io.Reader, limit int) (*Report, error) {
	rep := &Report{Format: FormatSARIF, limit: limit}
	d := jsonstream.New(r)
	version := ""
	err := d.Object(func(key string) error {
		switch key {
		case "version":
			return d.Decode(&version)
		case "runs":
			return d.Array(func(int) error { return decodeSARIFRun(d, rep) })
		}
		return d.Skip()
	})
	if err != nil {
		return nil, err
	}
	if version != "2.1.0" {
		return nil, fmt.Errorf("at $.version: want \"2.1.0\", got %q", version)
	}
	return rep, d.End()
}

// sarifResult holds the fields of a SARIF result the collector uses, as
// go-sarif's types; the rest of a result (code flows, fixes, graphs, ...) is
// skipped by the decoder rather than built and thrown away, which halves the
// decoding time of large reports.
type sarifResult struct {
	RuleID              *string                             `json:"ruleId,omitempty"`
	RuleIndex           int                                 `json:"ruleIndex"`
	Rule                *sarif.ReportingDescriptorReference `json:"rule,omitempty"`
	Kind                string                              `json:"kind,omitempty"`
	Level               string                              `json:"level,omitempty"`
	Message             *sarif.Message                      `json:"message,omitempty"`
	Locations           []*sarif.Location                   `json:"locations"`
	PartialFingerprints sarifFingerprints                   `json:"partialFingerprints,omitempty"`
	Fingerprints        sarifFingerprints                   `json:"fingerprints,omitempty"`
	BaselineState       *string                             `json:"baselineState,omitempty"`
	Suppressions        []*sarif.Suppression                `json:"suppressions,omitempty"`
	// Properties are read for GitHub's conventions only: tags and security-severity.
	Properties *sarifProps `json:"properties,omitempty"`
}

// sarifFingerprints are strings in SARIF; some tools (Black Duck) nest
// objects, which are kept as their JSON text so they still identify.
type sarifFingerprints map[string]string

func (f *sarifFingerprints) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*f = make(sarifFingerprints, len(raw))
	for k, v := range raw {
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		(*f)[k] = s
	}
	return nil
}

type sarifProps struct {
	Tags             []string `json:"tags"`
	SecuritySeverity any      `json:"security-severity"`
}

// sarifPending is a result decoded before its rule is known.
type sarifPending struct {
	f        *scanv1.Finding
	rule     *sarif.ReportingDescriptorReference
	level    string
	score    float64
	hasScore bool
	cwes     []string
	identity string // hash of what identifies the result besides tool and rule
}

// sarifRule is what a rule contributes to its findings, computed once per rule.
type sarifRule struct {
	id, title, help, level string
	score                  float64
	hasScore               bool
	cwes                   []string
}

func newSarifRule(r *sarif.ReportingDescriptor) *sarifRule {
	if r == nil {
		return nil
	}
	sr := &sarifRule{id: deref(r.ID), help: deref(r.HelpURI)}
	if r.ShortDescription != nil {
		sr.title = firstLine(deref(r.ShortDescription.Text))
	}
	if sr.title == "" {
		sr.title = firstLine(deref(r.Name))
	}
	if r.DefaultConfiguration != nil {
		sr.level = r.DefaultConfiguration.Level
	}
	if r.Properties != nil {
		sr.score, sr.hasScore = parseScore(r.Properties.Properties["security-severity"])
		sr.cwes = cwesOfTags(r.Properties.Tags)
	}
	for _, rel := range r.Relationships {
		if rel != nil && rel.Target != nil && rel.Target.ToolComponent != nil && strings.EqualFold(deref(rel.Target.ToolComponent.Name), "CWE") {
			sr.cwes = append(sr.cwes, cwe(deref(rel.Target.ID)))
		}
	}
	return sr
}

func cwesOfTags(tags []string) []string {
	var out []string
	for _, t := range tags {
		if strings.Contains(strings.ToLower(t), "cwe") {
			out = append(out, cwe(t))
		}
	}
	return out
}

// sarifInvocation is what the collector reads of a run's invocation: whether
// it completed, and the tool's error notifications when it did not.
type sarifInvocation struct {
	ExecutionSuccessful *bool `json:"executionSuccessful"`
	WorkingDirectory    *struct {
		URI string `json:"uri"`
	} `json:"workingDirectory"`
	ExitCode                   *int `json:"exitCode"`
	ToolExecutionNotifications []struct {
		Level   string         `json:"level"`
		Message *sarif.Message `json:"message"`
	} `json:"toolExecutionNotifications"`
}

var sarifLanguageRE = regexp.MustCompile(`(?i)\blanguage:([a-z0-9+#-]+)`)

func decodeSARIFRun(d *jsonstream.Decoder, rep *Report) error {
	var tool sarif.Tool
	var pending []sarifPending
	scope := &scanv1.ReportScope{}
	var invocations []sarifInvocation
	languages := map[string]bool{}
	err := d.Object(func(key string) error {
		switch key {
		case "automationDetails":
			var a struct {
				ID string `json:"id"`
			}
			if err := d.Decode(&a); err != nil {
				return err
			}
			scope.AutomationId = a.ID
			if m := sarifLanguageRE.FindStringSubmatch(a.ID); m != nil {
				scope.Language = strings.ToLower(m[1])
			}
			return nil
		case "invocations":
			return d.Decode(&invocations)
		case "originalUriBaseIds":
			var bases map[string]struct {
				URI string `json:"uri"`
			}
			if err := d.Decode(&bases); err != nil {
				return err
			}
			// SRCROOT is the convention for the root of the analysed sources.
			for _, k := range []string{"SRCROOT", "%SRCROOT%", "PROJECTROOT", "ROOTPATH"} {
				if b, ok := bases[k]; ok && b.URI != "" {
					scope.Root = b.URI
					break
				}
			}
			return nil
		case "artifacts":
			return d.Array(func(int) error {
				var a struct {
					SourceLanguage string `json:"sourceLanguage"`
				}
				if err := d.Decode(&a); err != nil {
					return err
				}
				if a.SourceLanguage != "" {
					languages[strings.ToLower(a.SourceLanguage)] = true
				}
				return nil
			})
		case "tool":
			return d.Decode(&tool)
		case "results":
			return d.Array(func(int) error {
				if err := rep.reserve(); err != nil {
					return err
				}
				res := sarifResult{RuleIndex: -1}
				if err := d.Decode(&res); err != nil {
					return err
				}
				if p, ok := pendingResult(&res); ok {
					pending = append(pending, p)
				}
				return nil
			})
		}
		return d.Skip()
	})
	if err != nil {
		return err
	}
	if tool.Driver == nil || tool.Driver.Name == nil || *tool.Driver.Name == "" {
		return d.Errorf("run has no tool.driver.name")
	}
	drv := tool.Driver
	version := deref(drv.Version)
	if version == "" {
		version = deref(drv.SemanticVersion)
	}
	name := *drv.Name
	run := rep.newRun(name, version)
	if scope.Language == "" && len(languages) > 0 {
		scope.Language = strings.Join(slices.Sorted(maps.Keys(languages)), ",")
	}
	run.Scope = scope
	for _, inv := range invocations {
		// Without a SRCROOT, where the tool ran (staticcheck) is the root.
		if scope.Root == "" && inv.WorkingDirectory != nil {
			scope.Root = inv.WorkingDirectory.URI
		}
		if inv.ExecutionSuccessful == nil || *inv.ExecutionSuccessful {
			continue
		}
		reason := "executionSuccessful is false"
		for _, n := range inv.ToolExecutionNotifications {
			if n.Level == "error" && n.Message != nil && deref(n.Message.Text) != "" {
				reason = deref(n.Message.Text)
				break
			}
		}
		run.fail(reason)
	}
	byID := map[string]*sarif.ReportingDescriptor{}
	for _, c := range append([]*sarif.ToolComponent{drv}, tool.Extensions...) {
		for _, rule := range c.Rules {
			if rule != nil && rule.ID != nil {
				if _, dup := byID[*rule.ID]; !dup {
					byID[*rule.ID] = rule
				}
			}
		}
	}
	category := sarifCategory(name)
	rules := map[*sarif.ReportingDescriptor]*sarifRule{}
	for _, p := range pending {
		rd := lookupRule(&tool, byID, p)
		r, ok := rules[rd]
		if !ok {
			r = newSarifRule(rd)
			rules[rd] = r
		}
		sarifFinish(p, r, category)
		run.addCode(p.f, p.f.RuleId, p.identity)
	}
	return nil
}

// pendingResult turns a result into a pending finding; suppressed, passing or
// absent results are no findings.
func pendingResult(res *sarifResult) (sarifPending, bool) {
	switch res.Kind {
	case "", "fail", "open", "review":
	default:
		return sarifPending{}, false
	}
	if deref(res.BaselineState) == "absent" {
		return sarifPending{}, false
	}
	for _, s := range res.Suppressions {
		if s != nil && (s.Status == nil || *s.Status == "accepted") {
			return sarifPending{}, false
		}
	}
	f := &scanv1.Finding{RuleId: deref(res.RuleID)}
	if f.RuleId == "" && res.Rule != nil {
		f.RuleId = deref(res.Rule.ID)
	}
	if res.Message != nil {
		f.Message = truncate(deref(res.Message.Text), maxMessage)
	}
	var snippet string
	if loc := firstPhysical(res.Locations); loc != nil {
		if loc.ArtifactLocation != nil {
			f.Path = strings.TrimPrefix(deref(loc.ArtifactLocation.URI), "file://")
		}
		if reg := loc.Region; reg != nil {
			if reg.StartLine != nil && *reg.StartLine > 0 {
				f.StartLine = uint32(*reg.StartLine)
				f.EndLine = f.StartLine
			}
			if reg.EndLine != nil && *reg.EndLine > 0 {
				f.EndLine = uint32(*reg.EndLine)
			}
			if reg.Snippet != nil {
				snippet = strings.Join(strings.Fields(deref(reg.Snippet.Text)), " ")
			}
		}
	}
	// Identity: the tool's own partial fingerprints when it gives them (GitHub
	// code scanning convention), else location and content without the line.
	var identity []string
	fps := res.PartialFingerprints
	if len(fps) == 0 {
		fps = res.Fingerprints
	}
	if len(fps) > 0 {
		identity = []string{f.Path}
		for _, k := range slices.Sorted(maps.Keys(fps)) {
			identity = append(identity, k+"="+fps[k])
		}
	} else {
		content := snippet
		if content == "" {
			content = f.Message
		}
		identity = []string{f.Path, content}
	}
	ref := res.Rule
	if ref == nil && res.RuleIndex >= 0 {
		ref = &sarif.ReportingDescriptorReference{Index: res.RuleIndex}
	} else if ref != nil && res.RuleIndex >= 0 && ref.ID == nil {
		ref.Index = res.RuleIndex
	}
	p := sarifPending{f: f, rule: ref, level: res.Level, identity: events.ID(identity...)}
	if res.Properties != nil {
		p.score, p.hasScore = parseScore(res.Properties.SecuritySeverity)
		p.cwes = cwesOfTags(res.Properties.Tags)
	}
	return p, true
}

func firstPhysical(locs []*sarif.Location) *sarif.PhysicalLocation {
	for _, l := range locs {
		if l != nil && l.PhysicalLocation != nil {
			return l.PhysicalLocation
		}
	}
	return nil
}

// lookupRule finds a result's rule: by index in the driver or the extension
// its reference names, else by rule id.
func lookupRule(tool *sarif.Tool, byID map[string]*sarif.ReportingDescriptor, p sarifPending) *sarif.ReportingDescriptor {
	if ref := p.rule; ref != nil && ref.ID == nil {
		comp := tool.Driver
		if tc := ref.ToolComponent; tc != nil && tc.Index >= 0 && tc.Index < len(tool.Extensions) && (tc.Name == nil || *tc.Name != deref(comp.Name)) {
			comp = tool.Extensions[tc.Index]
		}
		if comp != nil && ref.Index >= 0 && ref.Index < len(comp.Rules) {
			return comp.Rules[ref.Index]
		}
	}
	return byID[p.f.RuleId]
}

// sarifFinish applies rule metadata. Severity: security-severity (result,
// then rule) on the CVSS scale; else the level (result, then the rule's
// default, then SARIF's default "warning"): error high, warning medium, note
// low, none info.
func sarifFinish(p sarifPending, rule *sarifRule, category scanv1.Category) {
	f := p.f
	f.Category = category
	score, hasScore, level := p.score, p.hasScore, p.level
	f.Cwes = p.cwes
	if rule != nil {
		if f.RuleId == "" {
			f.RuleId = rule.id
		}
		if !hasScore {
			score, hasScore = rule.score, rule.hasScore
		}
		if level == "" {
			level = rule.level
		}
		f.Title, f.HelpUri = rule.title, rule.help
		f.Cwes = append(f.Cwes, rule.cwes...)
	}
	if f.Title == "" {
		f.Title = firstLine(f.Message)
	}
	if f.RuleId == "" {
		// Neither the result nor a rule names it (gitleaks 7 SARIF): its
		// message does.
		f.RuleId = f.Title
	}
	f.Cwes = mergeStrings(f.Cwes)
	if hasScore {
		f.CvssScore = score
		f.Severity = severityFromScore(score)
		return
	}
	if level == "" {
		level = "warning"
	}
	f.Severity = severityFromWord(level)
}

// parseScore reads a GitHub "security-severity" value, a string or number.
func parseScore(v any) (float64, bool) {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case json.Number:
		s = string(v)
	case float64:
		return v, v >= 0 && v <= 10
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return f, err == nil && f >= 0 && f <= 10
}

// sarifCategory guesses the kind of finding from the tool: secret and
// dependency scanners also speak SARIF.
func sarifCategory(tool string) scanv1.Category {
	switch strings.ToLower(tool) {
	case "gitleaks", "trufflehog", "detect-secrets":
		return scanv1.Category_CATEGORY_SECRET
	case "trivy", "grype", "govulncheck", "osv-scanner", "dependabot":
		return scanv1.Category_CATEGORY_VULNERABILITY
	case "zap", "owasp zap":
		return scanv1.Category_CATEGORY_DYNAMIC
	}
	return scanv1.Category_CATEGORY_CODE
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
