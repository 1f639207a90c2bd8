package api

import (
	"bytes"
	"fmt"
	"html"
	"net/http"
	"strings"

	"github.com/trilens/trilens/services/scorer/respond"
	"github.com/trilens/trilens/services/scorer/scorecard"
)

// Badge states: the words and colours of the verdict.
var (
	badgePass   = badgeState{"pass", "#4c1"}
	badgeFail   = badgeState{"fail", "#e05d44"}
	badgeNoData = badgeState{"no data", "#9f9f9f"}
)

type badgeState struct{ word, color string }

// serveBadge is GET /v1/badge/{service}.svg[?repo=&branch=]: the service's
// verdict (the scorecard of the tenant's evidence on the service, every lens) as
// a flat SVG badge for a README or a dashboard. "no data" when nothing
// about the service was scored. It is never cached: the verdict changes
// with every scored commit.
func (p *Handler) serveBadge(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	t, ok := respond.Tenant(w, q)
	if !ok {
		return
	}
	service, isSVG := strings.CutSuffix(r.PathValue("file"), ".svg")
	if !isSVG || service == "" {
		respond.JSON(w, http.StatusNotFound, respond.Error{Error: fmt.Sprintf("badge %q: want /v1/badge/SERVICE.svg", r.PathValue("file")), Field: "service"})
		return
	}
	card, err := p.Scorecard(r.Context(), scorecard.Filter{Tenant: t, Service: service, Repository: q.Get("repo"), Branch: q.Get("branch")})
	if err != nil {
		p.fail(w, "badge", err)
		return
	}
	state := badgeFail
	switch {
	case !measured(card):
		state = badgeNoData
	case card.Pass:
		state = badgePass
	}
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml; charset=utf-8")
	h.Set("Cache-Control", "no-cache, max-age=0")
	// The SVG holds no script; the policy forbids any, should a name slip through.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(badgeSVG("trilens", state, service))
}

// measured tells a scorecard with evidence from an empty one.
func measured(card *scorecard.Scorecard) bool {
	if len(card.Items) > 0 {
		return true
	}
	for _, l := range card.Lenses {
		if l.KPIs > 0 || l.Gaps > 0 {
			return true
		}
	}
	return false
}

// badgeSVG draws a two-part flat badge, shields.io's layout: label on grey,
// verdict on its colour; the title (a tooltip) names the service.
func badgeSVG(label string, s badgeState, service string) []byte {
	// Verdana 11px averages about 7 px a character; 10 px padding each side.
	lw, rw := 7*len(label)+10, 7*len(s.word)+10
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="20" role="img" aria-label="%s: %s">`, lw+rw, label, s.word)
	fmt.Fprintf(&b, `<title>%s: %s %s</title>`, label, html.EscapeString(service), s.word)
	fmt.Fprintf(&b, `<rect width="%d" height="20" fill="#555"/><rect x="%d" width="%d" height="20" fill="%s"/>`, lw, lw, rw, s.color)
	b.WriteString(`<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">`)
	fmt.Fprintf(&b, `<text x="%d" y="14">%s</text><text x="%d" y="14">%s</text></g></svg>`, lw/2, label, lw+rw/2, s.word)
	return b.Bytes()
}
