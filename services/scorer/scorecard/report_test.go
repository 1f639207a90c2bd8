package scorecard_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/scorecard"
)

// The report's KPI deltas, read from the kpi_hourly rollup over whole
// hours (from kpi_points for a release), equal the means, fail shares and
// newest budget worked out from the points themselves over the hours the
// report says it covers, for periods given on the hour, mid-hour, shorter
// than an hour, and of a release.
func TestReportKPIDeltasMatchThePoints(t *testing.T) {
	st := chtest.Store(t)
	ctx := context.Background()
	end := time.Date(2026, 11, 20, 12, 34, 56, 0, time.UTC)
	type point struct {
		kpi           string
		at            time.Time
		value, budget float64
	}
	var pts []point
	var rows store.KPIPointRows
	for i := range 2200 { // every 17 minutes for 26 days, two series
		at := end.Add(-time.Duration(i) * 17 * time.Minute)
		kpi := []string{"journey.p95_ms", "journey.error_rate"}[i%2]
		budget := 100.0
		if i < 300 {
			budget = 120 // the budget changed lately: the newest one counts
		}
		p := point{kpi, at, float64(60 + (i*37)%90), budget}
		pts = append(pts, p)
		status := "pass"
		if p.value > p.budget {
			status = "fail"
		}
		for _, tenant := range []string{"shop", "other"} {
			rows.Append(store.KPIPoint{Scope: store.Scope{Tenant: tenant, EventID: fmt.Sprint("e", i), Repository: "acme/shop", Branch: "main",
				Commit: "c1", Environment: "ci", Service: "checkout", ObservedAt: at}, Lens: "performance", KPI: kpi, KPIScope: "checkout",
				Value: p.value, Budget: p.budget, Status: status, Owner: "team"})
		}
	}
	if err := st.Insert(ctx, &rows); err != nil {
		t.Fatal(err)
	}
	card := scorecard.New(evidence.Settings{Store: st, Policy: policy.Default(), Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return end }})
	for _, c := range []struct {
		name     string
		from, to time.Time
		commit   string
	}{
		{"a week to mid-hour", end.Add(-7 * 24 * time.Hour), end, ""},
		{"on the hour", time.Date(2026, 11, 13, 9, 0, 0, 0, time.UTC), time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC), ""},
		{"under an hour", end.Add(-25 * time.Minute), end, ""},
		{"a release", end.Add(-3 * 24 * time.Hour), end, "c1"},
	} {
		rep, err := card.Report(ctx, scorecard.Filter{Tenant: "shop", Repository: "acme/shop", Branch: "main", Commit: c.commit}, c.from, c.to)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		wantFrom, wantTo := c.from.Truncate(time.Hour), c.to.Truncate(time.Hour).Add(time.Hour)
		if !rep.From.Equal(wantFrom) || !rep.To.Equal(wantTo) {
			t.Errorf("%s: report covers %v..%v, want the whole hours %v..%v", c.name, rep.From, rep.To, wantFrom, wantTo)
		}
		prev := rep.From.Add(-rep.To.Sub(rep.From))
		got := map[string]scorecard.KPIDelta{}
		for _, d := range rep.KPIs {
			got[d.KPI] = d
		}
		for _, kpi := range []string{"journey.p95_ms", "journey.error_rate"} {
			var cur, old, fails, n, m float64
			var newest time.Time
			budget := 0.0
			for _, p := range pts {
				if p.kpi != kpi || p.at.Before(prev) || !p.at.Before(rep.To) {
					continue
				}
				if p.at.After(newest) {
					newest, budget = p.at, p.budget
				}
				if p.at.Before(rep.From) {
					old, m = old+p.value, m+1
					continue
				}
				cur, n = cur+p.value, n+1
				if p.value > p.budget {
					fails++
				}
			}
			d, ok := got[kpi]
			if n == 0 {
				if ok {
					t.Errorf("%s: %s reported without points in the period: %+v", c.name, kpi, d)
				}
				continue
			}
			wantPrev := 0.0
			if m > 0 {
				wantPrev = old / m
			}
			if !ok || d.Points != uint64(n) || d.HasPrevious != (m > 0) || d.Budget != budget ||
				math.Abs(d.Current-cur/n) > 1e-4 || math.Abs(d.Previous-wantPrev) > 1e-4 || math.Abs(d.FailShare-fails/n) > 1e-4 {
				t.Errorf("%s: %s = %+v, want %v points, mean %.4f (before %.4f over %v), fail share %.4f, budget %v",
					c.name, kpi, d, n, cur/n, wantPrev, m, fails/n, budget)
			}
		}
	}
}
