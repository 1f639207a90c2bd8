package advisories

import (
	"slices"
	"strings"
	"time"

	"github.com/trilens/trilens/pkg/events"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	scanv1 "github.com/trilens/trilens/proto/trilens/scan/v1"
)

// matchAll is the findings of every scope: one per advisory and component
// version it affects.
func matchAll(recs []Record, comps []component) map[scopeKey][]*scanv1.Finding {
	out := map[scopeKey][]*scanv1.Finding{}
	for _, c := range comps {
		pkg, ok := PackageOf(c.purl, c.version)
		if !ok {
			continue
		}
		for i := range recs {
			if hit, fixed := recs[i].Affects(pkg); hit {
				out[c.scope] = append(out[c.scope], findingOf(&recs[i], c, fixed))
			}
		}
	}
	for _, fs := range out {
		slices.SortFunc(fs, func(a, b *scanv1.Finding) int { return strings.Compare(a.Fingerprint, b.Fingerprint) })
	}
	return out
}

var severities = map[string]scanv1.Severity{
	"LOW": scanv1.Severity_SEVERITY_LOW, "MODERATE": scanv1.Severity_SEVERITY_MEDIUM, "MEDIUM": scanv1.Severity_SEVERITY_MEDIUM,
	"HIGH": scanv1.Severity_SEVERITY_HIGH, "CRITICAL": scanv1.Severity_SEVERITY_CRITICAL,
}

func findingOf(r *Record, c component, fixed string) *scanv1.Finding {
	sev, ok := severities[strings.ToUpper(r.DatabaseSpecific.Severity)]
	if !ok {
		// The Go database and others rate nothing: a known vulnerability
		// in a deployed release is at least worth a look.
		sev = scanv1.Severity_SEVERITY_MEDIUM
	}
	name := c.name
	if name == "" {
		name = c.purl
	}
	return &scanv1.Finding{
		Fingerprint: events.ID(r.ID, c.purl, c.version, c.loc), RuleId: r.ID, Title: r.Summary, Severity: sev,
		Category: scanv1.Category_CATEGORY_VULNERABILITY, Aliases: r.Aliases, PackageName: name, PackageType: c.typ,
		Purl: c.purl, InstalledVersion: c.version, FixedVersion: fixed, Path: c.loc,
		HelpUri: "https://osv.dev/vulnerability/" + r.ID,
	}
}

// reportEvent is the scan report of a scope's matches, dated now, with an
// id derived from its findings.
func reportEvent(s scopeKey, fs []*scanv1.Finding, now time.Time) *eventv1.Event {
	parts := []string{s.tenant, Tool, s.repository, s.commit, s.branch, s.environment, s.service}
	for _, f := range fs {
		parts = append(parts, f.Fingerprint)
	}
	id := events.ID(parts...)
	env := events.NewEnvelope(id, s.tenant, eventv1.Kind_KIND_SCAN, &eventv1.Producer{Collector: "scorer", Tool: Tool},
		&eventv1.Subject{Repository: s.repository, Commit: s.commit, Branch: s.branch, Service: s.service,
			Environment: eventv1.Environment(eventv1.Environment_value["ENVIRONMENT_"+strings.ToUpper(s.environment)])}, now)
	env.Part = &eventv1.Part{ReportId: id, Index: 0, Count: 1}
	return &eventv1.Event{Envelope: env, Payload: &eventv1.Event_Scan{Scan: &scanv1.FindingBatch{Tool: Tool, Format: "osv", Findings: fs}}}
}
