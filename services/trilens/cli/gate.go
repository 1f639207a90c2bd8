package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/services/scorer/scan"
	"github.com/trilens/trilens/services/scorer/scorecard"
)

// gateOptions are the flags of `trilens gate`.
type gateOptions struct {
	sub        Submitter
	scorerURL  string
	policyPath string
	reports    []string
	format     string
	wait       time.Duration
	allLenses  bool
	onUnknown  string
	scope      ScanScope
	forge      forgeOptions
}

// newGateCommand is `trilens gate [FILE...]`.
func newGateCommand() *cobra.Command {
	var o gateOptions
	cmd := &cobra.Command{
		Use:   "gate [FILE...]",
		Short: "Fail CI when a budget of trilens.yaml is broken (every lens; exit 0, 1 or 2)",
		Long: `gate submits the scan reports given as files (or takes --report ids from
"trilens submit scan", or the latest reports of --commit), waits until the
scorer has scored them, compares the commit's findings with its base branch
and prints the new, fixed and still-open findings.

The budgets come from the security section of the policy file: no new
critical finding, no critical (or high) finding open longer than its max
age, no finding on the CISA KEV list open longer than kev_max_age (counted
from the later of its first sighting and its KEV date), at most
secrets_allowed secrets. A waiver in the policy names a finding by its
fingerprint.

--github (in GitHub Actions) and --gitlab (in GitLab CI) also publish the
verdict on the pull (merge) request: see "Pull requests" below.

Exit codes: 0 every budget holds, 1 a budget is broken, 2 bad usage, or a
collector or the scorer could not be reached or did not score in time.`,
		Example: `  trilens gate --repo acme/shop --commit $SHA --branch feature-x --base-branch main gosec.sarif trivy.json
  trilens gate --format markdown --report 3f2a... > comment.md`,
		RunE: func(cmd *cobra.Command, files []string) error { return runGate(cmd, &o, files) },
	}
	cmd.Long += forgeHelp
	o.sub.Register(cmd)
	o.scope.Register(cmd)
	o.forge.register(cmd)
	f := cmd.Flags()
	f.StringVar(&o.scorerURL, "scorer-url", "", "base URL of the scorer API (default: --url)")
	f.StringVar(&o.policyPath, "policy", "trilens.yaml", `policy file with the security budgets and waivers, or "server" for the policy the scorer runs with (a pull request cannot loosen its own budgets)`)
	f.StringSliceVar(&o.reports, "report", nil, "report id to gate on (repeatable; default: the files given, else the latest reports of --commit)")
	f.StringVar(&o.format, "format", "table", "output: table, json or markdown")
	f.DurationVar(&o.wait, "wait", 5*time.Minute, "how long to wait for the reports to be scored")
	f.BoolVar(&o.allLenses, "all-lenses", true, "gate on every lens: KPI budgets, regressions and the risk ledger's waivers (scorer GET /v1/gate); false gates on the security budgets only")
	f.StringVar(&o.onUnknown, "on-unknown", scorecard.OnUnknownWarn, "a budget on a metric the evidence did not measure: warn (listed, not blocking) or fail (blocks)")
	return cmd
}

func runGate(cmd *cobra.Command, o *gateOptions, files []string) error {
	if o.onUnknown != scorecard.OnUnknownWarn && o.onUnknown != scorecard.OnUnknownFail {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--on-unknown %q: want warn or fail", o.onUnknown)}
	}
	if !slices.Contains([]string{"table", "json", "markdown"}, o.format) {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--format %q: want table, json or markdown", o.format)}
	}
	if o.scorerURL == "" {
		o.scorerURL = o.sub.URL
	}
	forges, err := newForges(o)
	if err != nil {
		return err
	}
	var pol *policy.Policy
	if o.policyPath == "server" {
		pol, err = serverPolicy(cmd.Context(), o)
	} else {
		pol, err = loadGatePolicy(o.policyPath, cmd.Flags().Changed("policy"))
	}
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	ids := slices.Clone(o.reports)
	for _, f := range files {
		acc, err := submitScan(cmd.Context(), &o.sub, o.scope, f, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		ids = append(ids, acc.ReportID)
	}
	if len(ids) == 0 && o.sub.Commit == "" {
		return &ExitError{Code: ExitUsage, Err: errors.New("nothing to gate: give report files, --report ids or --commit")}
	}
	card, err := waitScored(cmd.Context(), o, ids)
	if err != nil {
		return err
	}
	res := evaluate(pol, card, o.sub.Service, time.Now())
	if o.allLenses {
		if err := mergeLensGate(cmd.Context(), o, res, time.Now()); err != nil {
			return err
		}
	}
	out := cmd.OutOrStdout()
	switch o.format {
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	case "markdown":
		writeGateMarkdown(out, res)
	default:
		writeGateTable(out, res)
	}
	if err := forges.publish(cmd, o, res); err != nil {
		return err
	}
	if !res.Pass {
		return &ExitError{Code: ExitBroken}
	}
	return nil
}

// serverPolicy fetches the policy the scorer runs with.
func serverPolicy(ctx context.Context, o *gateOptions) (*policy.Policy, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(o.scorerURL, "/")+"/v1/policy", nil)
	if err != nil {
		return nil, err
	}
	if o.sub.Token != "" {
		req.Header.Set("Authorization", "Bearer "+o.sub.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("--policy=server: %w", err)
	}
	defer resp.Body.Close()
	doc, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("--policy=server: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("--policy=server: GET /v1/policy answered %s: %s", resp.Status, strings.TrimSpace(string(doc)))
	}
	return policy.Parse(doc, "the server's policy")
}

// loadGatePolicy reads the policy; a missing default file means the default budgets.
func loadGatePolicy(path string, explicit bool) (*policy.Policy, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && !explicit {
		return policy.Default(), nil
	}
	return policy.Load(path)
}

// waitScored polls the scorer until every report is scored.
func waitScored(ctx context.Context, o *gateOptions, ids []string) (*scan.Scorecard, error) {
	q := url.Values{"base": {o.sub.BaseBranch}, "report": ids}
	for k, v := range map[string]string{"tenant": o.sub.Tenant, "repo": o.sub.Repo, "service": o.sub.Service, "commit": o.sub.Commit} {
		if v != "" {
			q.Set(k, v)
		}
	}
	u := strings.TrimRight(o.scorerURL, "/") + "/v1/scorecard/scans?" + q.Encode()
	deadline := time.Now().Add(o.wait)
	for {
		card, err := getScorecard(ctx, u, o.sub.Token)
		if err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: err}
		}
		if card.Scored {
			return card, nil
		}
		if time.Now().After(deadline) {
			var pending []string
			for _, r := range card.Reports {
				if !r.Scored {
					pending = append(pending, fmt.Sprintf("%s (%d of %d parts)", r.ReportID, r.Parts, r.PartCount))
				}
			}
			return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("reports not scored after %s: %s", o.wait, strings.Join(pending, ", "))}
		}
		select {
		case <-ctx.Done():
			return nil, &ExitError{Code: ExitUsage, Err: ctx.Err()}
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func getScorecard(ctx context.Context, u, token string) (*scan.Scorecard, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scorer unreachable: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scorer answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var card scan.Scorecard
	if err := json.Unmarshal(body, &card); err != nil {
		return nil, fmt.Errorf("unreadable scorer answer: %w", err)
	}
	return &card, nil
}

// GateFinding is a finding with what the gate made of it.
type GateFinding struct {
	scan.Finding
	Age      time.Duration `json:"-"`
	AgeHours float64       `json:"age_hours"`
	WaiverID string        `json:"waiver,omitempty"`
}

// Violation is one broken budget.
type Violation struct {
	Budget      string `json:"budget"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Message     string `json:"message"`
}

// GateResult is the gate's verdict.
type GateResult struct {
	Pass       bool          `json:"pass"`
	Violations []Violation   `json:"violations"`
	Reports    []string      `json:"reports"`
	Findings   []GateFinding `json:"findings"`
	// lensCard is the scorer's gate over every lens (--all-lenses), kept
	// for the pull request comment's money and lens gaps.
	lensCard *scorecard.Scorecard
}

// evaluate checks the scorecard against the security budgets.
func evaluate(pol *policy.Policy, card *scan.Scorecard, scope string, now time.Time) *GateResult {
	sec := pol.Security
	res := &GateResult{Violations: []Violation{}, Findings: []GateFinding{}}
	for _, r := range card.Reports {
		res.Reports = append(res.Reports, r.ReportID)
	}
	secrets := 0
	for _, f := range card.Findings {
		g := GateFinding{Finding: f, Age: now.Sub(f.FirstSeen).Truncate(time.Second)}
		g.AgeHours = math.Round(g.Age.Hours()*10) / 10
		if w, ok := pol.ActiveWaiver(f.Fingerprint, scope, now); ok {
			g.WaiverID = cmpOr(w.ID, w.Owner)
		}
		res.Findings = append(res.Findings, g)
		if f.Status == scan.StateFixed || g.WaiverID != "" {
			continue
		}
		what := describe(f)
		if sec.NoNewCritical && f.Status == scan.StateNew && f.Severity == "critical" {
			res.Violations = append(res.Violations, Violation{"no_new_critical", f.Fingerprint, what + " is new and critical"})
		}
		if sec.CriticalMaxAge > 0 && f.Severity == "critical" && g.Age > sec.CriticalMaxAge {
			res.Violations = append(res.Violations, Violation{"critical_max_age", f.Fingerprint,
				fmt.Sprintf("%s has been open %s, longer than %s", what, days(g.Age), days(sec.CriticalMaxAge))})
		}
		if sec.HighMaxAge > 0 && f.Severity == "high" && g.Age > sec.HighMaxAge {
			res.Violations = append(res.Violations, Violation{"high_max_age", f.Fingerprint,
				fmt.Sprintf("%s has been open %s, longer than %s", what, days(g.Age), days(sec.HighMaxAge))})
		}
		if sec.KEVMaxAge > 0 && f.KEV {
			since := f.FirstSeen
			if f.KEVAdded.After(since) {
				since = f.KEVAdded
			}
			if age := now.Sub(since); age > sec.KEVMaxAge {
				res.Violations = append(res.Violations, Violation{"kev_max_age", f.Fingerprint,
					fmt.Sprintf("%s is known exploited (CISA KEV) and open %s, longer than %s", what, days(age), days(sec.KEVMaxAge))})
			}
		}
		if f.Category == "secret" {
			secrets++
		}
	}
	if secrets > sec.SecretsAllowed {
		res.Violations = append(res.Violations, Violation{Budget: "secrets_allowed",
			Message: fmt.Sprintf("%d secrets found, %d allowed", secrets, sec.SecretsAllowed)})
	}
	res.Pass = len(res.Violations) == 0
	// New first, then open, then fixed; worst first within each.
	slices.SortStableFunc(res.Findings, func(a, b GateFinding) int {
		if d := slices.Index(statusOrder, a.Status) - slices.Index(statusOrder, b.Status); d != 0 {
			return d
		}
		if d := slices.Index(severityOrder, a.Severity) - slices.Index(severityOrder, b.Severity); d != 0 {
			return d
		}
		return strings.Compare(a.Tool+a.RuleID+a.Path, b.Tool+b.RuleID+b.Path)
	})
	return res
}

var severityOrder = []string{"critical", "high", "medium", "low", "info", "unspecified"}

func describe(f scan.Finding) string {
	id := f.RuleID
	if len(f.Aliases) > 0 {
		id = f.Aliases[0]
	}
	where := f.Path
	if f.Package != "" {
		where = f.Package
	}
	if where != "" {
		return fmt.Sprintf("%s in %s (%s)", id, where, f.Tool)
	}
	return fmt.Sprintf("%s (%s)", id, f.Tool)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// days prints a duration in days and hours: 9d4h, 36h.
func days(d time.Duration) string {
	if d < 48*time.Hour {
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

func location(f GateFinding) string {
	switch {
	case f.Package != "":
		return f.Package + "@" + f.InstalledVersion
	case f.Line > 0:
		return fmt.Sprintf("%s:%d", f.Path, f.Line)
	}
	return f.Path
}

func flags(f GateFinding) string {
	var fl []string
	if f.KEV {
		fl = append(fl, "KEV")
	}
	if f.EPSS > 0 {
		fl = append(fl, fmt.Sprintf("EPSS %.2f", f.EPSS))
	}
	if f.WaiverID != "" {
		fl = append(fl, "waived: "+f.WaiverID)
	}
	if f.FixedVersion != "" && f.Status != scan.StateFixed {
		fl = append(fl, "fix: "+f.FixedVersion)
	}
	return strings.Join(fl, ", ")
}

// statusOrder lists new, then open, then fixed findings.
var statusOrder = []string{scan.StateNew, scan.StateOpen, scan.StateFixed}

func verdictLine(res *GateResult) string {
	counts := map[string]int{}
	for _, f := range res.Findings {
		counts[f.Status]++
	}
	v := "PASS"
	if !res.Pass {
		v = fmt.Sprintf("FAIL (%d budgets broken)", len(res.Violations))
	}
	return fmt.Sprintf("Trilens gate: %s. Security findings: %d new, %d fixed, %d still open.", v, counts[scan.StateNew], counts[scan.StateFixed], counts[scan.StateOpen])
}

func writeGateTable(w io.Writer, res *GateResult) {
	fmt.Fprintln(w, verdictLine(res))
	if len(res.Findings) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "\nSTATUS\tSEVERITY\tTOOL\tRULE\tLOCATION\tAGE\tFLAGS\tTITLE")
		for _, f := range res.Findings {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Status, f.Severity, f.Tool, f.RuleID, location(f), days(f.Age), flags(f), f.Title)
		}
		tw.Flush()
	}
	if len(res.Violations) > 0 {
		fmt.Fprintln(w, "\nBroken budgets:")
		for _, v := range res.Violations {
			fmt.Fprintf(w, "  %s: %s\n", v.Budget, v.Message)
		}
	}
}

func writeGateMarkdown(w io.Writer, res *GateResult) {
	fmt.Fprintf(w, "### %s\n\n", verdictLine(res))
	if len(res.Violations) > 0 {
		for _, v := range res.Violations {
			fmt.Fprintf(w, "- :x: **%s**: %s\n", v.Budget, mdEscape(v.Message))
		}
		fmt.Fprintln(w)
	}
	if len(res.Findings) == 0 {
		return
	}
	fmt.Fprintln(w, "| Status | Severity | Tool | Rule | Location | Age | Flags | Title |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, f := range res.Findings {
		fmt.Fprintf(w, "| %s | %s | %s | `%s` | `%s` | %s | %s | %s |\n", f.Status, f.Severity, f.Tool,
			mdEscape(f.RuleID), mdEscape(location(f)), days(f.Age), mdEscape(flags(f)), mdEscape(f.Title))
	}
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "`", "'").Replace(s)
}
