package scorecard

import (
	"context"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/trilens/trilens/services/scorer/ledger"
)

// KPIDelta is one KPI series over a report period against the period before.
type KPIDelta struct {
	Lens        string  `json:"lens"`
	KPI         string  `json:"kpi"`
	Scope       string  `json:"scope"`
	Budget      float64 `json:"budget"`
	Current     float64 `json:"current"`  // mean over the period
	Previous    float64 `json:"previous"` // mean over the period before; 0 without points
	HasPrevious bool    `json:"has_previous"`
	// Change is (current − previous) / |previous|; positive means the value rose.
	Change float64 `json:"change"`
	// FailShare is the share of the period's points over budget.
	FailShare float64 `json:"fail_share"`
	Points    uint64  `json:"points"`
}

// Report answers GET /v1/report: what a week (or ?since=) did to the
// scorecard.
type Report struct {
	Tenant   string        `json:"tenant"`
	From     time.Time     `json:"from"`
	To       time.Time     `json:"to"`
	Currency string        `json:"currency"`
	Pass     bool          `json:"pass"`
	Money    float64       `json:"money"`
	Lenses   []LensSummary `json:"lenses"`
	KPIs     []KPIDelta    `json:"kpis"`
	// TopRisks are the most expensive gaps not waived.
	TopRisks []Item `json:"top_risks"`
	// Expiring are the active waivers that end within the next period.
	Expiring []ledger.Waiver `json:"expiring"`
	// Verdicts counts the period's failing verdicts by reason.
	Verdicts map[string]uint64 `json:"verdicts"`
}

// Report is what the period from..to did to the scorecard of f: the lens
// summaries now, KPI deltas against the period before, the top risks, the
// waivers ending within the next period and the failing verdicts by reason.
func (p *Service) Report(ctx context.Context, f Filter, from, to time.Time) (*Report, error) {
	card, err := p.Scorecard(ctx, f)
	if err != nil {
		return nil, err
	}
	rep := &Report{Tenant: f.Tenant, From: from, To: to, Currency: card.Currency, Pass: card.Pass, Money: card.Money,
		Lenses: card.Lenses, KPIs: []KPIDelta{}, TopRisks: []Item{}, Expiring: []ledger.Waiver{}, Verdicts: map[string]uint64{}}
	for _, it := range card.Items {
		if it.WaivedBy == "" && len(rep.TopRisks) < 10 {
			rep.TopRisks = append(rep.TopRisks, it)
		}
	}
	ws, err := p.ledger.List(ctx, f.Tenant)
	if err != nil {
		return nil, err
	}
	for _, wv := range ws {
		if wv.State == ledger.WaiverActive && wv.ExpiresAt.Before(to.Add(to.Sub(from))) {
			rep.Expiring = append(rep.Expiring, wv)
		}
	}
	slices.SortFunc(rep.Expiring, func(a, b ledger.Waiver) int { return a.ExpiresAt.Compare(b.ExpiresAt) })

	prev := from.Add(-to.Sub(from))
	where, args := f.where(true)
	args = append([]any{from, from, from, from, from}, append(args, prev, to)...)
	// No FINAL: on 18.16 it merges every part of the two periods in one
	// thread (seconds per million points); a point stored twice (a replayed
	// insert) collapses in the inner GROUP BY over its identity instead.
	rows, err := p.st.Conn().Query(ctx, `SELECT lens, kpi, scope, argMax(b, at),
		avgIf(v, at >= ?), avgIf(v, at < ?), countIf(at < ?),
		countIf(at >= ? AND s = 'fail'), countIf(at >= ?)
		FROM (SELECT lens, kpi, scope, observed_at AS at, any(budget) AS b, any(value) AS v, any(status) AS s
			FROM `+p.st.Database()+`.kpi_points WHERE `+where+` AND observed_at >= ? AND observed_at <= ?
			GROUP BY lens, kpi, scope, service, observed_at, event_id) AS points
		GROUP BY lens, kpi, scope ORDER BY lens, kpi, scope`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var d KPIDelta
		var prevN, fails uint64
		if err := rows.Scan(&d.Lens, &d.KPI, &d.Scope, &d.Budget, &d.Current, &d.Previous, &prevN, &fails, &d.Points); err != nil {
			return nil, err
		}
		if d.Points == 0 {
			continue // only the period before: nothing to report for this one
		}
		d.HasPrevious = prevN > 0
		if !d.HasPrevious {
			d.Previous = 0
		} else if d.Previous != 0 {
			d.Change = round((d.Current-d.Previous)/math.Abs(d.Previous), 4)
		}
		d.FailShare = round(float64(fails)/float64(d.Points), 4)
		d.Current, d.Previous = round(d.Current, 4), round(d.Previous, 4)
		rep.KPIs = append(rep.KPIs, d)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	vrows, err := p.st.Conn().Query(ctx, `SELECT reason, count() FROM `+p.st.Database()+`.verdicts FINAL
		WHERE `+where+` AND status = 'fail' AND observed_at >= ? AND observed_at <= ? GROUP BY reason`,
		append(f.whereArgs(), from, to)...)
	if err != nil {
		return nil, err
	}
	defer vrows.Close()
	for vrows.Next() {
		var reason string
		var n uint64
		if err := vrows.Scan(&reason, &n); err != nil {
			return nil, err
		}
		rep.Verdicts[strings.TrimSpace(reason)] = n
	}
	return rep, vrows.Err()
}

func (f Filter) whereArgs() []any {
	_, args := f.where(true)
	return args
}
