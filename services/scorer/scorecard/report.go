package scorecard

import (
	"context"
	"fmt"
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
// The period is whole hours, so the KPI deltas come from the kpi_hourly
// rollup: from the hour from falls in up to the end of the hour of to (the
// report's From and To say which).
func (p *Service) Report(ctx context.Context, f Filter, from, to time.Time) (*Report, error) {
	from, to = from.Truncate(time.Hour), to.Truncate(time.Hour).Add(time.Hour)
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

	kpis, err := p.kpiDeltas(ctx, f, from, to)
	if err != nil {
		return nil, err
	}
	rep.KPIs = append(rep.KPIs, kpis...)
	where, args := f.where(true)
	vrows, err := p.st.Conn().Query(ctx, `SELECT reason, count() FROM `+p.st.Database()+`.verdicts FINAL
		WHERE `+where+` AND status = 'fail' AND observed_at >= ? AND observed_at < ? GROUP BY reason`,
		append(args, from, to)...)
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

// kpiDeltas compares each KPI series over the whole hours from..to (to
// excluded) with the period of the same length before it, from the
// kpi_hourly rollup (sums, counts and the newest budget per series and
// hour): a row per series and hour rather than every point of both
// periods, whose time kpi_points' key cannot narrow. A point stored twice
// (a replayed insert) counts twice there, as in kpi_daily. A release
// (f.Commit) reads kpi_points, where such a point collapses in a GROUP BY
// over its identity: the rollup has no commit.
func (p *Service) kpiDeltas(ctx context.Context, f Filter, from, to time.Time) ([]KPIDelta, error) {
	prev := from.Add(-to.Sub(from))
	where, args := f.where(true)
	periods := `SELECT lens, kpi, scope, hour >= ? AS cur, argMaxMerge(budget_state) AS b, maxMerge(updated_state) AS at,
			sumMerge(value_sum_state) AS vs, countMerge(points_state) AS n, countIfMerge(failing_state) AS fails
		FROM ` + p.st.Database() + `.kpi_hourly WHERE ` + where + ` AND hour >= ? AND hour < ?
		GROUP BY lens, kpi, scope, hour`
	if f.Commit != "" {
		periods = `SELECT lens, kpi, scope, at >= ? AS cur, b, at, v AS vs, toUInt64(1) AS n, toUInt64(s = 'fail') AS fails
		FROM (SELECT lens, kpi, scope, observed_at AS at, any(budget) AS b, any(value) AS v, any(status) AS s
			FROM ` + p.st.Database() + `.kpi_points WHERE ` + where + ` AND observed_at >= ? AND observed_at < ?
			GROUP BY lens, kpi, scope, service, observed_at, event_id) AS points`
	}
	rows, err := p.st.Conn().Query(ctx, `SELECT lens, kpi, scope, argMax(b, at),
		sumIf(vs, cur) / sumIf(n, cur), sumIf(vs, cur = 0) / sumIf(n, cur = 0), sumIf(n, cur = 0),
		sumIf(fails, cur), sumIf(n, cur)
		FROM (`+periods+`) AS periods
		GROUP BY lens, kpi, scope ORDER BY lens, kpi, scope`, append(append([]any{from}, args...), prev, to)...)
	if err != nil {
		return nil, fmt.Errorf("report kpi deltas: %w", err)
	}
	defer rows.Close()
	var out []KPIDelta
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
		out = append(out, d)
	}
	return out, rows.Err()
}
