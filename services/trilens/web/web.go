// Package web is the built-in page of the single-machine default, where no
// Grafana runs: the same facts as `trilens scorecard`, for people. `trilens
// up` serves four views per tenant (?tenant=, the first tenant by default):
//
//	/                  the scorecard: money at risk per lens and in total, each
//	                   lens's KPIs and weekly trend, journeys against their
//	                   p95 budget, the most expensive gaps, recent notifications
//	/service/{name}    one service (also /service?service=): each journey's p95
//	                   against its budget over time, its hops and detections,
//	                   the service's KPIs and gaps
//	/findings          every open gap with its age, owner and sources, filtered
//	                   by lens, kind, owner and status (a plain GET form)
//	/ledger            the risk ledger: every waiver with its expiry
//
// The money comes from the scorer's scorecard package, the same Build the
// CLI's /v1/scorecard answer comes from, so both show the same sums. KPI
// names come from pkg/kpinames, the table the CLI and the dashboards use.
//
// The views are rendered on the server with html/template and inline SVG,
// and the page loads nothing else: no JavaScript, no fonts, no assets. A
// charting library from npm would need a JavaScript build and its upgrades
// in a Go repository; the charts here are a few lines and boxes, and a page
// without scripts works with a keyboard, a screen reader and a strict
// Content-Security-Policy as it is. html/template escapes every value.
package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/kpinames"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/scorecard"
)

//go:embed templates/*.html
var templateFS embed.FS

var views = template.Must(template.New("").Funcs(template.FuncMap{
	"num":     num,
	"money":   money,
	"age":     age,
	"kpiName": kpinames.Name,
	"value":   kpiValue,
	"upper":   strings.ToUpper,
	"title":   itemTitle,
	"stamp":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"words":   func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	"trend":   trendChart,
	"target":  target,
	"until":   until,
	"expiry":  expiry,
	"raw":     func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) },
	"gaps":    func(items []scorecard.Item, now time.Time) gapList { return gapList{items, now} },
	"choice": func(name, label, value string, options []string) choice {
		return choice{name, label, value, options}
	},
}).ParseFS(templateFS, "templates/*.html"))

// Sources is what the page reads: the store, the policy (prices, owners,
// waivers), the bus the ledger publishes expiry verdicts on (nil until it
// is up), and an optional inbox of notifications to list.
type Sources struct {
	Store  *store.Store
	Policy *policy.Policy
	Bus    func() *bus.Bus
	Inbox  *Inbox
	Log    *slog.Logger
}

// Page serves the views.
type Page struct {
	src Sources
	rd  reader
}

// New serves the views of src.
func New(src Sources) *Page {
	if src.Log == nil {
		src.Log = slog.Default()
	}
	if src.Policy == nil {
		src.Policy = policy.Default()
	}
	return &Page{src: src, rd: reader{st: src.Store}}
}

// scorecard is the scorer's scorecard over the page's store and policy.
func (p *Page) scorecard() *scorecard.Service {
	set := evidence.Settings{Logger: p.src.Log, Store: p.src.Store, Policy: p.src.Policy, Now: time.Now}
	if p.src.Bus != nil {
		set.Bus = p.src.Bus()
	}
	return scorecard.New(set)
}

// Scorecard serves /.
func (p *Page) Scorecard() http.Handler { return p.view("scorecard", p.scorecardView) }

// Service serves /service/{name} and /service?service=.
func (p *Page) Service() http.Handler { return p.view("service", p.serviceView) }

// Findings serves /findings.
func (p *Page) Findings() http.Handler { return p.view("findings", p.findingsView) }

// Ledger serves /ledger.
func (p *Page) Ledger() http.Handler { return p.view("ledger", p.ledgerView) }

// Base is what every view shows: the tenant, the other tenants, the nav.
type Base struct {
	View, Tenant string
	Tenants      []string
	Currency     string
	Now          time.Time
}

// Link is a page path with the tenant kept.
func (b Base) Link(path string) string {
	if b.Tenant == "" {
		return path
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "tenant=" + template.URLQueryEscaper(b.Tenant)
}

// view renders one view's data with its template.
func (p *Page) view(name string, load func(r *http.Request, b Base) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := Base{View: name, Tenant: r.URL.Query().Get("tenant"), Now: time.Now(), Currency: p.src.Policy.Currency}
		data, err := p.load(r, &b, load)
		if err != nil {
			p.src.Log.Error("page", "view", name, "err", err)
			http.Error(w, "the page is not available: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		var buf bytes.Buffer
		if err := views.ExecuteTemplate(&buf, name+".html", data); err != nil {
			p.src.Log.Error("page", "view", name, "err", err)
			http.Error(w, "render: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'")
		_, _ = w.Write(buf.Bytes())
	})
}

func (p *Page) load(r *http.Request, b *Base, load func(*http.Request, Base) (any, error)) (any, error) {
	ts, err := p.rd.tenants(r.Context())
	if err != nil {
		return nil, err
	}
	b.Tenants = ts
	if b.Tenant == "" && len(ts) > 0 {
		b.Tenant = ts[0]
	}
	if b.Tenant == "" {
		b.Tenant = "default"
	}
	// A tenant's token sees its own tenant only, not who else is here.
	if id, ok := collect.IdentityFrom(r.Context()); ok && id.Role != collect.RoleSystem {
		b.Tenants = []string{b.Tenant}
	}
	return load(r, *b)
}

// num prints a value compactly.
func num(v float64) string {
	switch {
	case math.IsInf(v, 0) || math.IsNaN(v):
		return "–"
	case math.Abs(v) >= 1000:
		return money(v, "")
	}
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}

// kpiValue prints a KPI's value in its unit.
func kpiValue(kpi string, v float64) string {
	switch u := kpinames.Unit(kpi); u {
	case "ratio":
		return num(100*v) + " %"
	case "ms", "rps":
		return num(v) + " " + u
	case "×":
		return num(v) + "×"
	}
	return num(v)
}

// money prints a sum in whole units with thousands separators, as the CLI does.
func money(v float64, currency string) string {
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if currency != "" {
		b.WriteString(" " + currency)
	}
	return b.String()
}

// age prints how long ago t was, in the largest whole unit.
func age(t, now time.Time) string {
	if t.IsZero() {
		return "–"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "<1 min"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// itemTitle names a gap for people: a KPI by its human name, value and
// budget in its unit; findings, verdicts and detections by their own title.
func itemTitle(it scorecard.Item) string {
	if it.Kind != scorecard.ItemKPI {
		return it.Title
	}
	return fmt.Sprintf("%s on %s: %s against a budget of %s", kpinames.Name(it.Key), it.Scope,
		kpiValue(it.Key, it.Value), kpiValue(it.Key, it.Budget))
}

// trendChart is a lens's weekly share of KPI points within budget.
func trendChart(lens string, weeks []Week) template.HTML {
	c := chart{Label: lens + ": share of KPI points within budget per week", Unit: "%", Max: 100, Days: true}
	for _, w := range weeks {
		c.Points = append(c.Points, Point{T: w.Start, V: 100 * w.PassRatio})
	}
	return c.svg()
}

// gapList is what the "items" template lists.
type gapList struct {
	Items []scorecard.Item
	Now   time.Time
}

// choice is one filter of the findings view.
type choice struct {
	Name, Label, Value string
	Options            []string
}

// target names what a waiver accepts: a KPI by its human name, a finding
// by its fingerprint.
func target(s string) string {
	if k, ok := kpinames.Lookup(s); ok {
		return k.Name
	}
	return s
}

// until says how far off an expiry is, or how long ago it passed.
func until(t, now time.Time) string {
	if t.Before(now) {
		return "expired " + age(t, now) + " ago"
	}
	return "in " + age(now, t)
}

// expiry prints a waiver's expiry instant; a midnight expiry (a policy's
// "expires: 2027-03-31" runs to the end of that day) as the day it ends.
func expiry(t time.Time) string {
	t = t.UTC()
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 {
		return "end of " + t.AddDate(0, 0, -1).Format("2006-01-02")
	}
	return t.Format("2006-01-02 15:04 UTC")
}
