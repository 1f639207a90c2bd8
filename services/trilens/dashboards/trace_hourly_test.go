package dashboards

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
)

// The trace panels read the hourly rollups (journey_hourly, hop_hourly) and
// answer what they answered from dash_journey_hourly and dash_hop_hourly:
// the same rows for one tenant over the panel's range, none of another
// tenant's, none from before the range.
func TestTracePanelsReadHourlyRollups(t *testing.T) {
	st := chtest.Store(t)
	now := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	var journeys store.JourneyLatencyRows
	var hops store.HopLatencyRows
	for i := range 60 {
		at := now.Add(-time.Duration(i*13) * time.Minute)
		tenant := "shop"
		if i%7 == 0 {
			tenant = "other"
		}
		if i == 59 {
			at = now.Add(-40 * 24 * time.Hour) // before the panels' 30 days
		}
		service, journey := []string{"checkout-api", "catalog"}[i%2], []string{"checkout", "browse"}[i/2%2]
		scope := store.Scope{Tenant: tenant, EventID: fmt.Sprint("w", i), Repository: "r" + fmt.Sprint(i%3), Branch: "main",
			Environment: "production", Service: service, Journey: journey, ObservedAt: at}
		journeys.Append(store.JourneyLatency{Scope: scope, WindowStart: at, DurationS: 60, Count: float64(100 + i), Errors: float64(i % 4),
			P50Ms: 50, P95Ms: float64(200 + 7*i), P99Ms: float64(300 + 7*i), MaxMs: 900})
		for h, hop := range []string{"db", "http"} {
			hops.Append(store.HopLatency{Scope: scope, Idx: uint32(h), WindowStart: at, DurationS: 60, Hop: hop, Peer: "p",
				Count: float64(10 + i), P50Ms: 5, P95Ms: float64(20 + 3*i + h), P99Ms: 90, TotalMs: float64(400 + i)})
		}
	}
	ctx := context.Background()
	if err := st.Insert(ctx, &journeys); err != nil {
		t.Fatal(err)
	}
	if err := st.Insert(ctx, &hops); err != nil {
		t.Fatal(err)
	}
	// What each panel asked of the 0800 views before it read the rollups.
	before := map[string]string{
		"Journey p95 vs budget":       "SELECT hour AS time, journey, p95_ms FROM dash_journey_hourly WHERE tenant = '${tenant}' AND hour >= $__fromTime AND hour <= $__toTime ORDER BY time",
		"Error rate per journey":      "SELECT hour AS time, journey, if(requests > 0, errors / requests, 0) AS error_rate FROM dash_journey_hourly WHERE tenant = '${tenant}' AND hour >= $__fromTime AND hour <= $__toTime ORDER BY time",
		"Hop breakdown (p95 per hop)": "SELECT hour AS time, concat(journey, ' ', hop) AS hop_of_journey, p95_ms FROM dash_hop_hourly WHERE tenant = '${tenant}' AND hour >= $__fromTime AND hour <= $__toTime ORDER BY time",
	}
	from, to := now.Add(-30*24*time.Hour), now.Add(time.Minute)
	checked := 0
	for _, b := range Boards() {
		for _, p := range b.Panels {
			old, ok := before[p.Title]
			if !ok {
				continue
			}
			sql := p.Targets[0].SQL
			if !strings.Contains(sql, "_hourly") || strings.Contains(sql, "dash_") {
				t.Errorf("%s reads %q, want a trace rollup", p.Title, sql)
			}
			got := panelRows(t, st, expand(sql, "shop", from, to))
			want := panelRows(t, st, expand(old, "shop", from, to))
			sortRows := func(r [][]string) {
				slices.SortFunc(r, func(a, b []string) int { return strings.Compare(strings.Join(a, "\t"), strings.Join(b, "\t")) })
			}
			sortRows(got)
			sortRows(want)
			if len(got) < 10 || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: from the rollup %v\nfrom the view %v", p.Title, got, want)
			}
			checked++
		}
	}
	if checked != len(before) {
		t.Errorf("checked %d trace panels, want %d", checked, len(before))
	}
}
