package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/scan"
	"github.com/trilens/trilens/services/scorer/scorecard"
)

// deltaRow is one line of a pull request comment's table.
type deltaRow struct{ lens, what, owner, money string }

// delta sorts the gate's findings and the lens gaps of the head (the
// branch's gate) and the base (the base branch's gate) into what the
// pull request adds, keeps, fixes and waives.
type delta struct {
	added, open, fixed, waived []deltaRow
}

func newDelta(res *GateResult, head, base *scorecard.Scorecard) delta {
	var d delta
	// The head's blocking items price the findings and name their owners.
	currency, items := "", map[string]scorecard.Item{}
	if head != nil {
		currency = head.Currency
		for _, it := range head.Items {
			items[it.Key] = it
		}
	}
	for _, f := range res.Findings {
		it := items[f.Fingerprint]
		r := deltaRow{evidence.LensSecurity, f.Severity + " · " + describe(f.Finding), it.Owner, money2(it.Risk.Money, currency)}
		switch {
		case f.WaiverID != "":
			r.owner = "waived: " + f.WaiverID
			d.waived = append(d.waived, r)
		case f.Status == scan.StateNew:
			d.added = append(d.added, r)
		case f.Status == scan.StateFixed:
			d.fixed = append(d.fixed, r)
		default:
			d.open = append(d.open, r)
		}
	}
	inBase := map[string]bool{}
	if base != nil {
		for _, it := range base.Items {
			inBase[it.Kind+"|"+it.Key] = true
		}
	}
	inHead := map[string]bool{}
	if head != nil {
		for _, it := range head.Items {
			inHead[it.Kind+"|"+it.Key] = true
			if it.Kind == scorecard.ItemFinding && it.Lens == evidence.LensSecurity {
				continue // listed above, from the scan scorecard
			}
			r := deltaRow{it.Lens, itemTitle(it), it.Owner, money2(it.Risk.Money, currency)}
			if inBase[it.Kind+"|"+it.Key] || base == nil {
				d.open = append(d.open, r)
			} else {
				d.added = append(d.added, r)
			}
		}
	}
	if base != nil {
		for _, it := range base.Items {
			if !inHead[it.Kind+"|"+it.Key] && (it.Kind != scorecard.ItemFinding || it.Lens != evidence.LensSecurity) {
				d.fixed = append(d.fixed, deltaRow{it.Lens, itemTitle(it), it.Owner, money2(it.Risk.Money, base.Currency)})
			}
		}
	}
	return d
}

func money2(v float64, currency string) string {
	if v == 0 {
		return ""
	}
	return money(v, currency)
}

// deltaMarkdown is the pull request comment: the verdict, money at risk
// here and on the base, then new gaps, broken budgets, still open, fixed
// and waived, and the links.
func deltaMarkdown(o *gateOptions, res *GateResult, base *scorecard.Scorecard, page string) string {
	var b strings.Builder
	icon, verdict := ":white_check_mark:", "PASS"
	if !res.Pass {
		icon, verdict = ":x:", "FAIL"
	}
	fmt.Fprintf(&b, "### %s Trilens gate: %s", icon, verdict)
	if o.sub.Service != "" {
		fmt.Fprintf(&b, " · %s", mdEscape(o.sub.Service))
	}
	if o.sub.BaseBranch != "" {
		fmt.Fprintf(&b, " · against `%s`", mdEscape(o.sub.BaseBranch))
	}
	b.WriteString("\n\n")
	if head := res.lensCard; head != nil {
		fmt.Fprintf(&b, "**At risk: %s**", money(head.Money, head.Currency))
		if base != nil {
			sign := "+"
			if head.Money < base.Money {
				sign = "−"
			}
			diff := head.Money - base.Money
			if diff < 0 {
				diff = -diff
			}
			fmt.Fprintf(&b, " (base `%s`: %s, %s%s)", mdEscape(o.sub.BaseBranch), money(base.Money, base.Currency), sign, money(diff, head.Currency))
		}
		b.WriteString("\n\n")
	}
	d := newDelta(res, res.lensCard, base)
	deltaTable(&b, fmt.Sprintf("New gaps (%d)", len(d.added)), d.added, false)
	if len(res.Violations) > 0 {
		fmt.Fprintf(&b, "#### Broken budgets (%d)\n\n", len(res.Violations))
		for _, v := range res.Violations {
			fmt.Fprintf(&b, "- :x: **%s**: %s\n", mdEscape(v.Budget), mdEscape(v.Message))
		}
		b.WriteString("\n")
	}
	deltaTable(&b, fmt.Sprintf("Still open (%d)", len(d.open)), d.open, true)
	deltaTable(&b, fmt.Sprintf("Fixed (%d)", len(d.fixed)), d.fixed, true)
	deltaTable(&b, fmt.Sprintf("Waived (%d)", len(d.waived)), d.waived, false)
	links := []string{fmt.Sprintf("[Trilens page](%s)", page)}
	if run := ciRunURL(); run != "" {
		links = append(links, fmt.Sprintf("[CI run](%s)", run))
	}
	b.WriteString(strings.Join(links, " · ") + "\n")
	return b.String()
}

// deltaTable writes a section; folded ones sit in a <details> block.
func deltaTable(w io.Writer, title string, rows []deltaRow, folded bool) {
	if len(rows) == 0 {
		return
	}
	if folded {
		fmt.Fprintf(w, "<details><summary>%s</summary>\n\n", title)
	} else {
		fmt.Fprintf(w, "#### %s\n\n", title)
	}
	fmt.Fprintln(w, "| Lens | Gap | Owner | At risk |")
	fmt.Fprintln(w, "| --- | --- | --- | ---: |")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", r.lens, mdEscape(r.what), mdEscape(r.owner), r.money)
	}
	if folded {
		fmt.Fprintln(w, "\n</details>")
	}
	fmt.Fprintln(w)
}

// ciRunURL links the CI run that gated: GitHub Actions' or GitLab's pipeline.
func ciRunURL() string {
	if p := os.Getenv("CI_PIPELINE_URL"); p != "" {
		return p
	}
	server, repo, run := os.Getenv("GITHUB_SERVER_URL"), os.Getenv("GITHUB_REPOSITORY"), os.Getenv("GITHUB_RUN_ID")
	if server == "" || repo == "" || run == "" {
		return ""
	}
	return server + "/" + repo + "/actions/runs/" + run
}
