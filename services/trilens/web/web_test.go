package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/scorecard"
)

func TestMain(m *testing.M) { os.Exit(chtest.Run(m)) }

// seedKPIs writes a few weeks of KPI points per lens, the checkout journey
// failing its p95 budget now. Hand-written: the real pipeline's data is
// what the demo test renders.
func seedKPIs(t *testing.T, st *store.Store, now time.Time) {
	t.Helper()
	var rows store.KPIPointRows
	add := func(id string, ago time.Duration, lens, kpi, scope, service, status string, value, budget float64) {
		rows.Append(store.KPIPoint{
			Scope: store.Scope{Tenant: "shop", EventID: id, Repository: "github.com/shop/checkout-api", Branch: "main",
				Service: service, Journey: scope, ObservedAt: now.Add(-ago)},
			Lens: lens, KPI: kpi, KPIScope: scope, Value: value, Budget: budget, Status: status, Owner: "team-checkout",
		})
	}
	for week := 5; week >= 1; week-- {
		ago := time.Duration(week) * 7 * 24 * time.Hour
		status := "pass"
		if week%2 == 0 {
			status = "fail"
		}
		add(fmt.Sprint("p", week), ago, "performance", "journey_p95_ms", "checkout", "checkout-api", status, 250+float64(week*20), 300)
		add(fmt.Sprint("c", week), ago, "scalability", "load_utilisation_at_peak", "catalog", "catalog", "pass", 0.5, 0.7)
	}
	add("now-p", time.Hour, "performance", "journey_p95_ms", "checkout", "checkout-api", "fail", 420, 300)
	add("now-h", time.Hour, "performance", "hop_p95_ms", "checkout/db", "checkout-api", "fail", 95, 80)
	add("now-u", time.Hour, "scalability", "load_utilisation_at_peak", "catalog", "catalog", "fail", 0.9, 0.7)
	if err := st.Insert(context.Background(), &rows); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, h http.Handler, target string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", target, nil)
	mux := http.NewServeMux()
	mux.Handle("GET /service/{name}", h)
	mux.Handle("GET /", h)
	mux.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body.String())
	}
	return rec.Body.String()
}

// TestViewsShowTheScorecard checks each view against the scorecard the
// scorer builds from the same store: the same money, human KPI names,
// journeys against their budget, the ledger's waivers.
func TestViewsShowTheScorecard(t *testing.T) {
	st := chtest.Store(t)
	now := time.Now().UTC()
	seedKPIs(t, st, now)
	pol, err := policy.Parse([]byte(`
version: 1
currency: EUR
journeys:
  - { name: checkout, service: checkout-api, owner: team-checkout, p95_ms: 300, revenue_per_hour: 6000 }
waivers:
  - { id: W-1, kpi: load_utilisation_at_peak, scope: catalog, owner: team-catalog, reason: new nodes on order, expires: 2099-01-31 }
`), "trilens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := New(Sources{Store: st, Policy: pol})
	card, err := scorecard.New(evidence.Settings{Store: st, Policy: pol, Now: time.Now}).Scorecard(context.Background(), scorecard.Filter{Tenant: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if card.Money <= 0 {
		t.Fatalf("the seeded gaps cost nothing: %+v", card)
	}

	page := get(t, p.Scorecard(), "/?tenant=shop")
	for _, want := range []string{
		`id="money-total" data-money="`, money(card.Money, "EUR"),
		`data-journey="checkout" data-status="fail"`, `420 ms`, `300 ms`,
		`Utilisation at peak load`, `90 %`,
		`class="chart"`, `budget`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("scorecard view lacks %q", want)
		}
	}
	if strings.Contains(page, ">load_utilisation_at_peak<") {
		t.Error("the scorecard view shows a raw KPI identifier")
	}

	svc := get(t, p.Service(), "/service/checkout-api?tenant=shop")
	for _, want := range []string{`Journey checkout: p95 420 ms against 300 ms`, `<td>db</td>`, `95 ms`, `class="pt over"`, `class="budget"`} {
		if !strings.Contains(svc, want) {
			t.Errorf("service view lacks %q:\n%s", want, svc)
		}
	}

	all := get(t, p.Findings(), "/findings?tenant=shop")
	perf := get(t, p.Findings(), "/findings?tenant=shop&lens=performance")
	if n, m := strings.Count(all, `<tr class="item"`), strings.Count(perf, `<tr class="item"`); n != len(card.Items) || m == 0 || m >= n {
		t.Errorf("findings: %d rows of %d items, %d with lens=performance", n, len(card.Items), m)
	}
	if !strings.Contains(all, "blocks the gate") {
		t.Error("the findings view does not say which gaps block the gate")
	}
	if strings.Contains(perf, `data-lens="scalability"`) {
		t.Error("the lens filter lets other lenses through")
	}

	led := get(t, p.Ledger(), "/ledger?tenant=shop")
	for _, want := range []string{`W-1`, `Utilisation at peak load on catalog`, `2099-01-31`, `data-state="active"`} {
		if !strings.Contains(led, want) {
			t.Errorf("ledger view lacks %q:\n%s", want, led)
		}
	}
}

func TestViewsAnswerWithoutData(t *testing.T) {
	st := chtest.Store(t)
	p := New(Sources{Store: st})
	if page := get(t, p.Scorecard(), "/"); !strings.Contains(page, "No KPI points yet") || !strings.Contains(page, "no data yet") {
		t.Fatalf("empty store:\n%s", page)
	}
	if page := get(t, p.Service(), "/service/nothing"); !strings.Contains(page, "No KPI points for this service") {
		t.Fatalf("unknown service:\n%s", page)
	}
}

func TestChartAxesMatchTheData(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	c := chart{Label: "p95", Unit: "ms", Budget: 300, Points: []Point{{t0, 250}, {t0.Add(3 * time.Hour), 420}}}
	svg := string(c.svg())
	for _, want := range []string{">10:00<", ">13:00<", ">budget 300 ms<", ">500 ms<", ">0 ms<", `class="pt over"`, "2026-03-02 13:00 UTC: 420 ms"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q:\n%s", want, svg)
		}
	}
	week := chart{Unit: "%", Max: 100, Days: true, Points: []Point{{t0, 50}, {t0.Add(21 * 24 * time.Hour), 100}}}
	svg = string(week.svg())
	if !strings.Contains(svg, ">Mar 2<") || !strings.Contains(svg, ">Mar 23<") || !strings.Contains(svg, ">100%<") {
		t.Errorf("weekly chart dates or axis wrong:\n%s", svg)
	}
	// Ticks are the data's own dates: no Monday-less date between two weeks.
	if n := strings.Count(svg, `class="axis x"`); n != 2 {
		t.Errorf("weekly chart of two points has %d date labels, want 2:\n%s", n, svg)
	}
}
