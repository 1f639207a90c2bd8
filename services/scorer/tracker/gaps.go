package tracker

import (
	"fmt"
	"slices"
	"strings"

	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/services/scorer/scorecard"
)

// markerPrefix starts the label that marks an issue as a gap's, the
// marker the sync searches before it creates one: a create whose answer
// was lost, or whose mapping row was not written, is found, not repeated.
const markerPrefix = "trilens-gap-"

// gap is a blocking scorecard item a rule selects, with its issue's text.
type gap struct {
	id   string
	item scorecard.Item
	d    draft
}

// draft is what an issue of a gap says. digest covers what, when it
// changes, makes the sync update the issue; money is left out, since
// the cost of delay grows by the hour.
type draft struct {
	Title    string
	Body     string
	Labels   []string
	Assignee string
	Marker   string
	digest   string
}

// gapID names a gap for good: the same KPI in the same scope, or the same
// finding, is the same gap across fixes and regressions.
func gapID(tenant string, it scorecard.Item) string {
	return events.ID(tenant, it.Kind, it.Lens, it.Key, it.Scope, it.Service)[:16]
}

// selects says whether the rule covers the item.
func selects(r policy.IssueTracker, it scorecard.Item) bool {
	if !it.Blocking() {
		return false
	}
	if len(r.Lenses) > 0 && !slices.Contains(r.Lenses, it.Lens) {
		return false
	}
	return it.Kind != scorecard.ItemFinding || len(r.Severities) == 0 || slices.Contains(r.Severities, it.Severity)
}

// assignee is the tracker user of the team that owns the item.
func assignee(pol *policy.Policy, tracker, owner string) string {
	for _, t := range pol.Owners.Teams {
		if t.Name != owner {
			continue
		}
		if tracker == policy.TrackerGitHub {
			return t.GitHubAssignee
		}
		return t.JiraAssignee
	}
	return ""
}

// gapsOf picks the rule's gaps from a scorecard.
func gapsOf(pol *policy.Policy, r policy.IssueTracker, tenant string, card *scorecard.Scorecard, scorecardURL string) []gap {
	var out []gap
	for _, it := range card.Items {
		if !selects(r, it) {
			continue
		}
		id := gapID(tenant, it)
		d := draft{Title: "[trilens] " + it.Title, Marker: markerPrefix + id, Assignee: assignee(pol, r.Tracker, it.Owner)}
		d.Labels = append(slices.Clone(r.Labels), d.Marker)
		stable, money := describe(it, card.Currency)
		d.digest = events.ID(d.Title, stable, d.Assignee, strings.Join(d.Labels, ","))[:16]
		d.Body = stable + money
		if scorecardURL != "" {
			d.Body += "\nScorecard: " + scorecardURL + "?tenant=" + tenant + "\n"
		}
		d.Body += "\n<!-- " + d.Marker + " -->\n"
		out = append(out, gap{id: id, item: it, d: d})
	}
	return out
}

// describe is the body of a gap's issue: the lines that change with the
// gap, then the money at risk.
func describe(it scorecard.Item, currency string) (stable, money string) {
	var b strings.Builder
	fmt.Fprintf(&b, "Trilens found a gap that blocks the gate (%s).\n\n", it.Breaks)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "- %s: %s\n", k, v)
		}
	}
	line("Lens", it.Lens)
	line("Kind", it.Kind)
	line("What", it.Key)
	line("Scope", it.Scope)
	line("Service", it.Service)
	line("Journey", it.Journey)
	line("Status", it.Status)
	line("Severity", it.Severity)
	line("Owner", it.Owner)
	if it.Kind == scorecard.ItemKPI {
		line("Value", fmt.Sprintf("%.4g (budget %.4g)", it.Value, it.Budget))
	}
	line("First seen", it.FirstSeen.UTC().Format("2006-01-02 15:04 MST"))
	line("Evidence", strings.Join(it.EvidenceIDs, ", "))
	b.WriteString("\nWhen the gap is fixed, Trilens closes this issue; if it comes back, Trilens reopens it. " +
		"Closing it as won't fix (not planned) proposes a waiver that an admin must accept.\n")
	return b.String(), fmt.Sprintf("\nMoney at risk: %.2f %s\n", it.Risk.Money, currency)
}
