package web

import (
	"context"
	"fmt"
	"time"

	"github.com/trilens/trilens/pkg/store"
)

// Lenses in the order the page shows them.
var Lenses = []string{"performance", "security", "scalability"}

// KPI is the latest value of one KPI on one scope.
type KPI struct {
	Lens, KPI, Scope, Owner, Status string
	Value, Budget                   float64
	UpdatedAt                       time.Time
}

// Week is one point of a lens's trend: the share of KPI points within budget.
type Week struct {
	Start     time.Time
	PassRatio float64
	Points    uint64
}

// Risk is a KPI over budget now.
type Risk struct {
	KPI
	OverBudget float64
}

// LensCard is what the page shows for one lens.
type LensCard struct {
	Name             string
	KPIs             []KPI
	Trend            []Week
	Pass, Warn, Fail int
}

// Scorecard is the whole page's data for one tenant.
type Scorecard struct {
	Tenant  string
	Tenants []string
	Lenses  []LensCard
	Risks   []Risk
}

// trendWeeks is how far back the trend charts go.
const trendWeeks = 12

// Load reads the scorecard of tenant (the first tenant when empty) from
// the dash_* views.
func Load(ctx context.Context, st *store.Store, tenant string) (*Scorecard, error) {
	sc := &Scorecard{}
	rows, err := st.Conn().Query(ctx, "SELECT DISTINCT tenant FROM dash_kpi_latest ORDER BY tenant")
	if err != nil {
		return nil, fmt.Errorf("tenants: %w", err)
	}
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return nil, err
		}
		sc.Tenants = append(sc.Tenants, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sc.Tenant = tenant
	if sc.Tenant == "" && len(sc.Tenants) > 0 {
		sc.Tenant = sc.Tenants[0]
	}
	cards := map[string]*LensCard{}
	for _, l := range Lenses {
		sc.Lenses = append(sc.Lenses, LensCard{Name: l})
	}
	for i := range sc.Lenses {
		cards[sc.Lenses[i].Name] = &sc.Lenses[i]
	}
	card := func(lens string) *LensCard {
		if c, ok := cards[lens]; ok {
			return c
		}
		sc.Lenses = append(sc.Lenses, LensCard{Name: lens})
		for i := range sc.Lenses {
			cards[sc.Lenses[i].Name] = &sc.Lenses[i]
		}
		return cards[lens]
	}

	rows, err = st.Conn().Query(ctx, `SELECT lens, kpi, scope, owner, value, budget, status, updated_at FROM dash_kpi_latest
		WHERE tenant = ? ORDER BY lens, status = 'pass', status = 'warn', kpi, scope`, sc.Tenant)
	if err != nil {
		return nil, fmt.Errorf("kpis: %w", err)
	}
	for rows.Next() {
		var k KPI
		if err := rows.Scan(&k.Lens, &k.KPI, &k.Scope, &k.Owner, &k.Value, &k.Budget, &k.Status, &k.UpdatedAt); err != nil {
			rows.Close()
			return nil, err
		}
		c := card(k.Lens)
		c.KPIs = append(c.KPIs, k)
		switch k.Status {
		case "pass":
			c.Pass++
		case "warn":
			c.Warn++
		default:
			c.Fail++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = st.Conn().Query(ctx, `SELECT lens, toDateTime(week) AS start, pass_ratio, points FROM dash_kpi_weekly
		WHERE tenant = ? AND week >= toMonday(today() - ?) ORDER BY lens, week`, sc.Tenant, 7*trendWeeks)
	if err != nil {
		return nil, fmt.Errorf("trend: %w", err)
	}
	for rows.Next() {
		var lens string
		var w Week
		if err := rows.Scan(&lens, &w.Start, &w.PassRatio, &w.Points); err != nil {
			rows.Close()
			return nil, err
		}
		c := card(lens)
		c.Trend = append(c.Trend, w)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = st.Conn().Query(ctx, `SELECT lens, kpi, scope, owner, value, budget, status, over_budget FROM dash_risks
		WHERE tenant = ? ORDER BY status = 'fail' DESC, over_budget DESC, kpi LIMIT 10`, sc.Tenant)
	if err != nil {
		return nil, fmt.Errorf("risks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r Risk
		if err := rows.Scan(&r.Lens, &r.KPI.KPI, &r.Scope, &r.Owner, &r.Value, &r.Budget, &r.Status, &r.OverBudget); err != nil {
			return nil, err
		}
		sc.Risks = append(sc.Risks, r)
	}
	return sc, rows.Err()
}
