package web

import (
	"html/template"
	"net/http"
	"slices"
	"time"

	"github.com/trilens/trilens/services/alerter"
	"github.com/trilens/trilens/services/scorer/ledger"
	"github.com/trilens/trilens/services/scorer/scorecard"
	"github.com/trilens/trilens/services/scorer/trace"
)

// LensCard is one lens on the scorecard view.
type LensCard struct {
	Name    string
	Summary scorecard.LensSummary
	KPIs    []KPI
	Trend   []Week
}

// ScorecardView is the data of /.
type ScorecardView struct {
	Base
	Card          *scorecard.Scorecard
	Lenses        []LensCard
	Journeys      []Journey
	Services      []string
	Top           []scorecard.Item
	Notifications []alerter.Notification
}

// topGaps is how many gaps the scorecard view lists.
const topGaps = 10

func (p *Page) scorecardView(r *http.Request, b Base) (any, error) {
	ctx := r.Context()
	card, err := p.scorecard().Scorecard(ctx, scorecard.Filter{Tenant: b.Tenant})
	if err != nil {
		return nil, err
	}
	v := &ScorecardView{Base: b, Card: card}
	v.Currency = card.Currency
	kpis, err := p.rd.latestKPIs(ctx, b.Tenant, "")
	if err != nil {
		return nil, err
	}
	weeks, err := p.rd.weekly(ctx, b.Tenant)
	if err != nil {
		return nil, err
	}
	lenses := slices.Clone(Lenses)
	for _, s := range card.Lenses {
		if !slices.Contains(lenses, s.Lens) {
			lenses = append(lenses, s.Lens)
		}
	}
	for _, l := range lenses {
		c := LensCard{Name: l, Trend: weeks[l], Summary: scorecard.LensSummary{Lens: l}}
		for _, s := range card.Lenses {
			if s.Lens == l {
				c.Summary = s
			}
		}
		for _, k := range kpis {
			if k.Lens == l {
				c.KPIs = append(c.KPIs, k)
			}
		}
		v.Lenses = append(v.Lenses, c)
	}
	if v.Journeys, err = p.rd.journeys(ctx, b.Tenant, ""); err != nil {
		return nil, err
	}
	if v.Services, err = p.rd.services(ctx, b.Tenant); err != nil {
		return nil, err
	}
	v.Top = card.Items[:min(topGaps, len(card.Items))]
	if p.src.Inbox != nil {
		v.Notifications = p.src.Inbox.List(b.Tenant)
	}
	return v, nil
}

// JourneyDetail is one journey of a service: its p95 over time against the
// budget, its hops and its detections.
type JourneyDetail struct {
	Journey
	Chart      template.HTML
	Hops       []Hop
	Detections []Detection
}

// ServiceView is the data of /service/{name}.
type ServiceView struct {
	Base
	Name     string
	Services []string
	Card     *scorecard.Scorecard
	Journeys []JourneyDetail
	// Detections of the service outside any of its scored journeys.
	Detections []Detection
	KPIs       []KPI
	Items      []scorecard.Item
}

// serviceHistory is how far back a journey's latency chart goes.
const serviceHistory = 7 * 24 * time.Hour

func (p *Page) serviceView(r *http.Request, b Base) (any, error) {
	ctx := r.Context()
	name := r.PathValue("name")
	if name == "" {
		name = r.URL.Query().Get("service")
	}
	v := &ServiceView{Base: b, Name: name}
	var err error
	if v.Services, err = p.rd.services(ctx, b.Tenant); err != nil {
		return nil, err
	}
	if name == "" {
		return v, nil
	}
	sc := p.scorecard()
	if v.Card, err = sc.Scorecard(ctx, scorecard.Filter{Tenant: b.Tenant, Service: name}); err != nil {
		return nil, err
	}
	v.Currency = v.Card.Currency
	v.Items = v.Card.Items
	if v.KPIs, err = p.rd.latestKPIs(ctx, b.Tenant, name); err != nil {
		return nil, err
	}
	js, err := p.rd.journeys(ctx, b.Tenant, name)
	if err != nil {
		return nil, err
	}
	hops, err := p.rd.hops(ctx, b.Tenant, name)
	if err != nil {
		return nil, err
	}
	dets, err := p.rd.detections(ctx, b.Tenant, name)
	if err != nil {
		return nil, err
	}
	for _, j := range js {
		pts, err := sc.KPIHistory(ctx, scorecard.Filter{Tenant: b.Tenant, Service: name},
			scorecard.Series{KPI: trace.KPIJourneyP95, Scope: j.Name}, b.Now.Add(-serviceHistory), 5000)
		if err != nil {
			return nil, err
		}
		c := chart{Label: j.Name + ": p95 latency per window against its budget", Unit: "ms", Budget: j.Budget}
		for _, pt := range pts {
			c.Points = append(c.Points, Point{T: pt.ObservedAt, V: pt.Value})
		}
		d := JourneyDetail{Journey: j, Chart: c.svg()}
		for _, h := range hops {
			if h.Journey == j.Name {
				d.Hops = append(d.Hops, h)
			}
		}
		for _, x := range dets {
			if x.Journey == j.Name {
				d.Detections = append(d.Detections, x)
			}
		}
		v.Journeys = append(v.Journeys, d)
	}
	for _, x := range dets {
		if !slices.ContainsFunc(js, func(j Journey) bool { return j.Name == x.Journey }) {
			v.Detections = append(v.Detections, x)
		}
	}
	return v, nil
}

// FindingsView is the data of /findings.
type FindingsView struct {
	Base
	Card                            *scorecard.Scorecard
	Items                           []scorecard.Item
	Lens, Kind, Owner, Status       string
	LensList, Kinds, Owners, States []string
}

func (p *Page) findingsView(r *http.Request, b Base) (any, error) {
	card, err := p.scorecard().Scorecard(r.Context(), scorecard.Filter{Tenant: b.Tenant})
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	v := &FindingsView{Base: b, Card: card, Lens: q.Get("lens"), Kind: q.Get("kind"), Owner: q.Get("owner"), Status: q.Get("status")}
	v.Currency = card.Currency
	match := func(want, got string) bool { return want == "" || want == got }
	v.Items = itemsOf(card, func(it scorecard.Item) bool {
		return match(v.Lens, it.Lens) && match(v.Kind, it.Kind) && match(v.Owner, it.Owner) && match(v.Status, it.Status)
	})
	v.LensList = distinct(card.Items, func(it scorecard.Item) string { return it.Lens })
	v.Kinds = distinct(card.Items, func(it scorecard.Item) string { return it.Kind })
	v.Owners = distinct(card.Items, func(it scorecard.Item) string { return it.Owner })
	v.States = distinct(card.Items, func(it scorecard.Item) string { return it.Status })
	return v, nil
}

// LedgerView is the data of /ledger.
type LedgerView struct {
	Base
	Waivers []ledger.Waiver
}

func (p *Page) ledgerView(r *http.Request, b Base) (any, error) {
	ws, err := p.scorecard().Ledger().Sweep(r.Context(), b.Tenant)
	if err != nil {
		return nil, err
	}
	// Active first, soonest expiry first.
	slices.SortStableFunc(ws, func(a, c ledger.Waiver) int {
		if (a.State == ledger.WaiverActive) != (c.State == ledger.WaiverActive) {
			if a.State == ledger.WaiverActive {
				return -1
			}
			return 1
		}
		return a.ExpiresAt.Compare(c.ExpiresAt)
	})
	return &LedgerView{Base: b, Waivers: ws}, nil
}
