// Package web is the built-in scorecard page of the single-machine default,
// where no Grafana runs: `trilens up` serves it, so a newcomer sees the
// result without installing anything. One HTML page per tenant with the
// latest KPI status per lens, weekly trends as inline SVG charts and the
// top risks, read from the same dash_* views as the Grafana dashboards. No
// JavaScript and no assets: the page is one response.
package web

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"

	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/store"
)

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"trend": trendSVG,
	"num":   num,
	"upper": strings.ToUpper,
}).Parse(pageHTML))

// Handler serves the scorecard page on "/" (?tenant= picks a tenant; the
// first one by default).
func Handler(st *store.Store, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		sc, err := Load(r.Context(), st, r.URL.Query().Get("tenant"))
		if err != nil {
			log.Error("scorecard page", "err", err)
			http.Error(w, "the scorecard is not available: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		// A tenant's token sees its own tenant only, not who else is here.
		if id, ok := collect.IdentityFrom(r.Context()); ok && id.Role != collect.RoleSystem {
			sc.Tenants = []string{sc.Tenant}
		}
		var buf bytes.Buffer
		if err := page.Execute(&buf, sc); err != nil {
			log.Error("scorecard page", "err", err)
			http.Error(w, "render: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(buf.Bytes())
	})
}

// num prints a KPI value compactly.
func num(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH = 360, 120
	padL, padB     = 34, 18
)

// trendSVG draws a lens's weekly share of KPI points within budget as a
// line chart from 0 to 100 %.
func trendSVG(lens string, weeks []Week) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="trend" data-lens="%s" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s: share of KPI points within budget per week">`,
		template.HTMLEscapeString(lens), chartW, chartH, chartW, chartH, template.HTMLEscapeString(lens))
	plotW, plotH := float64(chartW-padL-6), float64(chartH-padB-6)
	for _, pct := range []int{0, 50, 100} {
		y := 6 + plotH*(1-float64(pct)/100)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="grid"/><text x="%d" y="%.1f" class="axis">%d%%</text>`,
			padL, y, chartW-6, y, padL-4, y+4, pct)
	}
	if len(weeks) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="empty">no data yet</text></svg>`, padL+10, chartH/2)
		return template.HTML(b.String())
	}
	step := plotW
	if len(weeks) > 1 {
		step = plotW / float64(len(weeks)-1)
	}
	var pts []string
	for i, w := range weeks {
		x := float64(padL) + step*float64(i)
		if len(weeks) == 1 {
			x = float64(padL) + plotW/2
		}
		y := 6 + plotH*(1-w.PassRatio)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3"><title>week of %s: %.0f%% of %d points within budget</title></circle>`,
			x, y, w.Start.Format("2006-01-02"), 100*w.PassRatio, w.Points)
	}
	fmt.Fprintf(&b, `<polyline points="%s"/>`, strings.Join(pts, " "))
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="axis">%s</text><text x="%d" y="%d" class="axis end">%s</text></svg>`,
		padL, chartH-3, weeks[0].Start.Format("Jan 2"), chartW-6, chartH-3, weeks[len(weeks)-1].Start.Format("Jan 2"))
	return template.HTML(b.String())
}
