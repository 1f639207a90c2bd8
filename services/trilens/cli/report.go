package cli

import (
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/trilens/trilens/services/scorer/api"
	"github.com/trilens/trilens/services/scorer/scorecard"
)

// newReportCommand is `trilens report`.
func newReportCommand() *cobra.Command {
	var client scorerClient
	var since, format, output, service, repo string
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Weekly report: KPI deltas per lens, top risks by money, waivers expiring",
		Long: `report summarises a period (default the last 7 days) against the period
before it: for every KPI its mean now and then and the share of points over
budget, grouped by lens; the ten most expensive gaps not waived; the
waivers that expire within the next period; and the period's failing
verdicts by reason. Markdown for a wiki or chat, HTML for e-mail.`,
		Example: `  trilens report --since 7d --format html -o weekly.html`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains([]string{"markdown", "html"}, format) {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--format %q: want markdown or html", format)}
			}
			if _, err := api.ParseSince(since); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			q := url.Values{"since": {since}}
			if service != "" {
				q.Set("service", service)
			}
			if repo != "" {
				q.Set("repo", repo)
			}
			var rep scorecard.Report
			if err := client.call(cmd.Context(), http.MethodGet, "/v1/report", q, nil, &rep); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output != "" && output != "-" {
				f, err := os.Create(output)
				if err != nil {
					return &ExitError{Code: ExitUsage, Err: err}
				}
				defer f.Close()
				out = f
			}
			if format == "html" {
				return writeReportHTML(out, &rep)
			}
			writeReportMarkdown(out, &rep)
			return nil
		},
	}
	client.register(cmd)
	f := cmd.Flags()
	f.StringVar(&since, "since", "7d", "length of the period: 7d, 36h (counted in whole hours, up to the end of the current one)")
	f.StringVar(&format, "format", "markdown", "output: markdown or html")
	f.StringVarP(&output, "output", "o", "", "file to write (default standard output)")
	f.StringVar(&service, "service", "", "only this service")
	f.StringVar(&repo, "repo", "", "only this repository")
	return cmd
}

// reportView is the report prepared for both templates.
type reportView struct {
	*scorecard.Report
	Title    string
	Lenses   []lensView
	Verdicts []string
}

type lensView struct {
	scorecard.LensSummary
	MoneyText string
	KPIs      []kpiView
}

type kpiView struct {
	scorecard.KPIDelta
	Now, Before, Delta, Fails string
}

func viewOf(rep *scorecard.Report) reportView {
	v := reportView{Report: rep, Title: fmt.Sprintf("Trilens weekly report for %s: %s to %s", rep.Tenant,
		rep.From.Format(time.DateOnly), rep.To.Format(time.DateOnly))}
	for _, l := range rep.Lenses {
		lv := lensView{LensSummary: l, MoneyText: money(l.Money, rep.Currency)}
		for _, k := range rep.KPIs {
			if k.Lens != l.Lens {
				continue
			}
			kv := kpiView{KPIDelta: k, Now: fmt.Sprintf("%.4g", k.Current), Before: "–", Delta: "new",
				Fails: fmt.Sprintf("%.0f%%", 100*k.FailShare)}
			if k.HasPrevious {
				kv.Before, kv.Delta = fmt.Sprintf("%.4g", k.Previous), fmt.Sprintf("%+.1f%%", 100*k.Change)
			}
			lv.KPIs = append(lv.KPIs, kv)
		}
		v.Lenses = append(v.Lenses, lv)
	}
	for reason, n := range rep.Verdicts {
		v.Verdicts = append(v.Verdicts, fmt.Sprintf("%s: %d", reason, n))
	}
	sort.Strings(v.Verdicts)
	return v
}

func writeReportMarkdown(w io.Writer, rep *scorecard.Report) {
	v := viewOf(rep)
	state := "every budget holds"
	if !rep.Pass {
		state = "budgets are broken"
	}
	fmt.Fprintf(w, "# %s\n\nNow: %s; %s at risk.\n", v.Title, state, money(rep.Money, rep.Currency))
	for _, l := range v.Lenses {
		fmt.Fprintf(w, "\n## %s: %d of %d KPIs passing, %d gaps (%d blocking, %d waived), %s at risk\n\n",
			l.Lens, l.Passing, l.LensSummary.KPIs, l.Gaps, l.Blocking, l.Waived, l.MoneyText)
		if len(l.KPIs) == 0 {
			fmt.Fprintln(w, "No KPI points this period.")
			continue
		}
		fmt.Fprintln(w, "| KPI | Scope | Budget | This period | Before | Change | Over budget |")
		fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: |")
		for _, k := range l.KPIs {
			fmt.Fprintf(w, "| %s | %s | %.4g | %s | %s | %s | %s |\n", k.KPI, mdEscape(k.Scope), k.Budget, k.Now, k.Before, k.Delta, k.Fails)
		}
	}
	fmt.Fprintf(w, "\n## Top risks by money\n\n")
	if len(rep.TopRisks) == 0 {
		fmt.Fprintln(w, "None.")
	} else {
		fmt.Fprintf(w, "| At risk (%s) | Score | Lens | Owner | Gap |\n| ---: | ---: | --- | --- | --- |\n", rep.Currency)
		for _, it := range rep.TopRisks {
			fmt.Fprintf(w, "| %s | %.1f | %s | %s | %s |\n", money(it.Risk.Money, ""), it.Risk.Score, it.Lens, mdEscape(it.Owner), mdEscape(it.Title))
		}
	}
	fmt.Fprintf(w, "\n## Waivers expiring\n\n")
	if len(rep.Expiring) == 0 {
		fmt.Fprintln(w, "None.")
	}
	for _, wv := range rep.Expiring {
		fmt.Fprintf(w, "- %s: %s %s (owner %s) expires %s: %s\n", wv.ID, wv.Target, wv.Scope, wv.Owner,
			wv.ExpiresAt.Format(time.RFC3339), mdEscape(wv.Reason))
	}
	if len(v.Verdicts) > 0 {
		fmt.Fprintf(w, "\n## Verdicts\n\n%s\n", strings.Join(v.Verdicts, ", "))
	}
}

var reportHTML = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}td.n{text-align:right}.fail{color:#b00}.pass{color:#070}</style></head>
<body><h1>{{.Title}}</h1>
<p>Now: {{if .Pass}}<span class="pass">every budget holds</span>{{else}}<span class="fail">budgets are broken</span>{{end}}.</p>
{{range .Lenses}}<h2>{{.Lens}}: {{.Passing}} of {{.LensSummary.KPIs}} KPIs passing, {{.Gaps}} gaps ({{.Blocking}} blocking, {{.Waived}} waived), {{.MoneyText}} at risk</h2>
{{if .KPIs}}<table><tr><th>KPI</th><th>Scope</th><th>Budget</th><th>This period</th><th>Before</th><th>Change</th><th>Over budget</th></tr>
{{range .KPIs}}<tr><td>{{.KPI}}</td><td>{{.Scope}}</td><td class="n">{{printf "%.4g" .Budget}}</td><td class="n">{{.Now}}</td><td class="n">{{.Before}}</td><td class="n">{{.Delta}}</td><td class="n">{{.Fails}}</td></tr>
{{end}}</table>{{else}}<p>No KPI points this period.</p>{{end}}
{{end}}<h2>Top risks by money</h2>
{{if .TopRisks}}<table><tr><th>At risk ({{.Currency}})</th><th>Score</th><th>Lens</th><th>Owner</th><th>Gap</th></tr>
{{range .TopRisks}}<tr><td class="n">{{printf "%.0f" .Risk.Money}}</td><td class="n">{{printf "%.1f" .Risk.Score}}</td><td>{{.Lens}}</td><td>{{.Owner}}</td><td>{{.Title}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}
<h2>Waivers expiring</h2>
{{if .Expiring}}<ul>{{range .Expiring}}<li>{{.ID}}: {{.Target}} {{.Scope}} (owner {{.Owner}}) expires {{.ExpiresAt.Format "2006-01-02T15:04:05Z07:00"}}: {{.Reason}}</li>{{end}}</ul>{{else}}<p>None.</p>{{end}}
{{if .Verdicts}}<h2>Verdicts</h2><p>{{range $i, $v := .Verdicts}}{{if $i}}, {{end}}{{$v}}{{end}}</p>{{end}}
</body></html>
`))

func writeReportHTML(w io.Writer, rep *scorecard.Report) error {
	return reportHTML.Execute(w, viewOf(rep))
}
