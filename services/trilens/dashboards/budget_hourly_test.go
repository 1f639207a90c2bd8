package dashboards

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
)

// The journey budgets of "Journey p95 vs budget" come from the kpi_hourly
// rollup: per journey and hour, the budget of the newest point, the same as
// argMax over the raw points of the hour, whichever service or repository
// the points came from.
func TestJourneyBudgetsFromHourlyRollup(t *testing.T) {
	st := chtest.Store(t)
	now := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	var rows store.KPIPointRows
	for i := range 40 {
		at := now.Add(-time.Duration(i*11) * time.Minute)
		service, journey := []string{"checkout-api", "catalog"}[i%2], []string{"checkout", "browse"}[i/2%2]
		rows.Append(store.KPIPoint{Scope: store.Scope{Tenant: "shop", EventID: fmt.Sprint("b", i), Repository: "r" + service, Branch: "main",
			Environment: "production", Service: service, Journey: journey, ObservedAt: at},
			Lens: "performance", KPI: "journey.p95_ms", KPIScope: journey, Value: 200, Budget: float64(300 + 10*i), Status: "pass", Owner: "team"})
	}
	ctx := context.Background()
	if err := st.Insert(ctx, &rows); err != nil {
		t.Fatal(err)
	}
	var sql string
	for _, b := range Boards() {
		for _, p := range b.Panels {
			for _, tg := range p.Targets {
				if p.Title == "Journey p95 vs budget" && strings.Contains(tg.SQL, "budget") {
					sql = tg.SQL
				}
			}
		}
	}
	if !strings.Contains(sql, "kpi_hourly") {
		t.Fatalf("the budget target does not read kpi_hourly: %q", sql)
	}
	got := panelRows(t, st, expand(sql, "shop", now.Add(-30*24*time.Hour), now.Add(time.Minute)))
	want := panelRows(t, st, `SELECT toStartOfHour(observed_at) AS time, concat(scope, ' budget') AS journey, argMax(budget, observed_at) AS budget
		FROM `+st.Database()+`.kpi_points FINAL WHERE tenant = 'shop' AND kpi = 'journey.p95_ms' GROUP BY time, journey ORDER BY time, journey`)
	if len(got) < 10 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("budgets per hour from the rollup %v, from the points %v", got, want)
	}
}
