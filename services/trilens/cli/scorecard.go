package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/trilens/trilens/pkg/kpinames"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/ledger"
	"github.com/trilens/trilens/services/scorer/scorecard"
)

// scorerClient calls the scorer API.
type scorerClient struct {
	URL, Token, Tenant string
	Timeout            time.Duration
}

func (c *scorerClient) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.URL, "scorer-url", env("TRILENS_SCORER_URL", env("TRILENS_URL", "http://127.0.0.1:7070")), "base URL of the scorer API (TRILENS_SCORER_URL, else TRILENS_URL)")
	f.StringVar(&c.Token, "token", os.Getenv("TRILENS_TOKEN"), "bearer token of the tenant (TRILENS_TOKEN)")
	f.StringVar(&c.Tenant, "tenant", env("TRILENS_TENANT", ""), "tenant (default: the token's, else \"default\")")
	f.DurationVar(&c.Timeout, "timeout", time.Minute, "bound of one request")
}

// call sends a request and decodes a 200 answer into out; any failure is
// an infrastructure error (exit 2) carrying the scorer's message.
func (c *scorerClient) call(ctx context.Context, method, path string, q url.Values, body, out any) error {
	if q == nil {
		q = url.Values{}
	}
	if c.Tenant != "" {
		q.Set("tenant", c.Tenant)
	}
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	u := strings.TrimRight(c.URL, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("scorer unreachable: %w", err)}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("scorer: %s", e.Error)}
		}
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("scorer answered %s: %s", resp.Status, strings.TrimSpace(string(data)))}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("unreadable scorer answer: %w", err)}
	}
	return nil
}

type scorecardOptions struct {
	client                                 scorerClient
	repo, service, branch, commit, release string
	format                                 string
	top                                    int
	gate                                   bool
}

// newScorecardCommand is `trilens scorecard`.
func newScorecardCommand() *cobra.Command {
	var o scorecardOptions
	cmd := &cobra.Command{
		Use:   "scorecard",
		Short: "Print the scorecard: every gap of the three lenses, most expensive first",
		Long: `scorecard asks the scorer for every gap across the performance, security and
scalability lenses: KPIs over budget, open findings and regression verdicts,
each with its owner ("unowned" when no rule claims it), a 0-100 severity
score and its cost in the policy's currency (likelihood × blast radius ×
cost of delay), ordered by what blocks first, then by money.

--commit (or --release, a version) narrows it to a release. With --gate the exit code says whether
the release keeps every budget: 0 yes, 1 a budget is broken (and not
waived), 2 bad usage or the scorer could not be reached.`,
		Example: `  trilens scorecard --service checkout
  trilens scorecard --repo acme/shop --commit $SHA --branch main --format markdown --gate > comment.md`,
		RunE: func(cmd *cobra.Command, _ []string) error { return runScorecard(cmd, &o) },
	}
	o.client.register(cmd)
	f := cmd.Flags()
	f.StringVar(&o.repo, "repo", os.Getenv("GITHUB_REPOSITORY"), "repository")
	f.StringVar(&o.service, "service", "", "service")
	f.StringVar(&o.branch, "branch", "", "branch")
	f.StringVar(&o.commit, "commit", "", "commit of the release")
	f.StringVar(&o.release, "release", "", "release (version) instead of --commit: its newest commit")
	f.StringVar(&o.format, "format", "table", "output: table, json or markdown")
	f.IntVar(&o.top, "top", 25, "gaps to list in table and markdown output")
	f.BoolVar(&o.gate, "gate", false, "exit 1 when a budget is broken")
	return cmd
}

func runScorecard(cmd *cobra.Command, o *scorecardOptions) error {
	if !slices.Contains([]string{"table", "json", "markdown"}, o.format) {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--format %q: want table, json or markdown", o.format)}
	}
	q := url.Values{}
	for k, v := range map[string]string{"repo": o.repo, "service": o.service, "branch": o.branch, "commit": o.commit, "release": o.release} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var card scorecard.Scorecard
	if err := o.client.call(cmd.Context(), http.MethodGet, "/v1/scorecard", q, nil, &card); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	switch o.format {
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(&card); err != nil {
			return err
		}
	case "markdown":
		writeScorecardMarkdown(out, &card, o.top)
	default:
		writeScorecardTable(out, &card, o.top)
	}
	if o.gate && !card.Pass {
		return &ExitError{Code: ExitBroken}
	}
	return nil
}

func scorecardHeadline(card *scorecard.Scorecard) string {
	blocking, waived, unowned := 0, 0, 0
	for _, it := range card.Items {
		switch {
		case it.WaivedBy != "":
			waived++
		case it.Blocking():
			blocking++
		}
		if it.Unowned {
			unowned++
		}
	}
	v := "PASS"
	if !card.Pass {
		v = "FAIL"
	}
	return fmt.Sprintf("Scorecard: %s. %d gaps, %d blocking, %d waived, %d unowned; %s at risk.",
		v, len(card.Items), blocking, waived, unowned, money(card.Money, card.Currency))
}

func money(v float64, currency string) string {
	s := fmt.Sprintf("%.0f", v)
	// Thousands separators keep large sums readable.
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if currency == "" {
		return b.String()
	}
	return b.String() + " " + currency
}

// itemTitle names a gap for people: a KPI gap leads with the KPI's name
// from the table the page and the dashboards share.
func itemTitle(it scorecard.Item) string {
	if it.Kind != scorecard.ItemKPI {
		return it.Title
	}
	return kpinames.Name(it.Key) + " · " + it.Title
}

func itemFlags(it scorecard.Item) string {
	var fl []string
	if it.Breaks != "" && it.WaivedBy == "" {
		fl = append(fl, "breaks "+it.Breaks)
	}
	if it.WaivedBy != "" {
		fl = append(fl, "waived: "+it.WaivedBy)
	}
	if it.Reopened != "" {
		fl = append(fl, "reopened: "+it.Reopened)
	}
	if it.Unowned {
		fl = append(fl, "UNOWNED")
	}
	return strings.Join(fl, "; ")
}

func writeScorecardTable(w io.Writer, card *scorecard.Scorecard, top int) {
	fmt.Fprintln(w, scorecardHeadline(card))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nLENS\tKPIS\tPASSING\tGAPS\tBLOCKING\tWAIVED\tAT RISK")
	for _, l := range card.Lenses {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\n", l.Lens, l.KPIs, l.Passing, l.Gaps, l.Blocking, l.Waived, money(l.Money, card.Currency))
	}
	tw.Flush()
	if len(card.Items) == 0 {
		return
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nMONEY\tSCORE\tLENS\tKIND\tSTATUS\tOWNER\tGAP\tFLAGS")
	for i, it := range card.Items {
		if i == top {
			fmt.Fprintf(tw, "… %d more\n", len(card.Items)-top)
			break
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\n", money(it.Risk.Money, ""), it.Risk.Score, it.Lens, it.Kind, it.Status,
			it.Owner, itemTitle(it), itemFlags(it))
	}
	tw.Flush()
}

func writeScorecardMarkdown(w io.Writer, card *scorecard.Scorecard, top int) {
	icon := ":white_check_mark:"
	if !card.Pass {
		icon = ":x:"
	}
	fmt.Fprintf(w, "### %s %s\n\n", icon, scorecardHeadline(card))
	fmt.Fprintln(w, "| Lens | KPIs | Passing | Gaps | Blocking | Waived | At risk |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, l := range card.Lenses {
		fmt.Fprintf(w, "| %s | %d | %d | %d | %d | %d | %s |\n", l.Lens, l.KPIs, l.Passing, l.Gaps, l.Blocking, l.Waived, money(l.Money, card.Currency))
	}
	if len(card.Items) == 0 {
		return
	}
	fmt.Fprintf(w, "\n| At risk (%s) | Score | Lens | Status | Owner | Gap | Flags |\n", card.Currency)
	fmt.Fprintln(w, "| ---: | ---: | --- | --- | --- | --- | --- |")
	for i, it := range card.Items {
		if i == top {
			fmt.Fprintf(w, "\n_… %d more gaps: `trilens scorecard --format json`._\n", len(card.Items)-top)
			break
		}
		owner := mdEscape(it.Owner)
		if it.Unowned {
			owner = "**unowned**"
		}
		fmt.Fprintf(w, "| %s | %.1f | %s | %s | %s | %s | %s |\n", money(it.Risk.Money, ""), it.Risk.Score, it.Lens, it.Status,
			owner, mdEscape(itemTitle(it)), mdEscape(itemFlags(it)))
	}
}

// mergeLensGate extends the security gate's result with the scorer's gate
// over every lens (GET /v1/gate for the same subject): each blocking KPI,
// regression or finding the security check did not already name becomes a
// violation, and findings waived in the risk ledger (trilens waive) stop
// counting, as policy waivers do.
func mergeLensGate(ctx context.Context, o *gateOptions, res *GateResult, now time.Time) error {
	c := scorerClient{URL: o.scorerURL, Token: o.sub.Token, Tenant: o.sub.Tenant, Timeout: time.Minute}
	var book struct{ Waivers []ledger.Waiver }
	if err := c.call(ctx, http.MethodGet, "/v1/waivers", nil, nil, &book); err != nil {
		return err
	}
	waived := func(fp string) string {
		for _, w := range book.Waivers {
			if w.State == ledger.WaiverActive && now.Before(w.ExpiresAt) && w.Target == fp && (w.Scope == "" || w.Scope == o.sub.Service) {
				return w.ID
			}
		}
		return ""
	}
	for i := range res.Findings {
		if id := waived(res.Findings[i].Fingerprint); id != "" && res.Findings[i].WaiverID == "" {
			res.Findings[i].WaiverID = id
		}
	}
	kept := res.Violations[:0]
	named := map[string]bool{}
	for _, v := range res.Violations {
		if v.Fingerprint != "" && waived(v.Fingerprint) != "" {
			continue
		}
		kept = append(kept, v)
		named[v.Fingerprint] = true
	}
	res.Violations = kept
	q := url.Values{"limit": {"1000"}, "on_unknown": {o.onUnknown}}
	for k, v := range map[string]string{"repo": o.sub.Repo, "service": o.sub.Service, "branch": o.sub.Branch, "commit": o.sub.Commit} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var card scorecard.Scorecard
	if err := c.call(ctx, http.MethodGet, "/v1/gate", q, nil, &card); err != nil {
		return err
	}
	res.lensCard = &card
	for _, it := range card.Items {
		if it.Kind == scorecard.ItemFinding && it.Lens == evidence.LensSecurity {
			continue // the security check above judged the scan findings
		}
		if named[it.Key] {
			continue
		}
		v := Violation{Budget: it.Breaks, Message: fmt.Sprintf("%s: %s (owner %s, %s at risk)", it.Lens, it.Title, it.Owner, money(it.Risk.Money, card.Currency))}
		if it.Kind == scorecard.ItemFinding {
			v.Fingerprint = it.Key
		}
		res.Violations = append(res.Violations, v)
	}
	res.Pass = len(res.Violations) == 0
	return nil
}
