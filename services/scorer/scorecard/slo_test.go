package scorecard

import (
	"context"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store/chtest"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	tracev1 "github.com/trilens/trilens/proto/trilens/trace/v1"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/internal/scorertest"
)

const sloPolicy = `
version: 1
journeys:
  - name: pay
    match: [{ http_route: /pay }]
    slo: { objective: 99 }
  - name: browse
    match: [{ http_route: /browse }]
    slo: { objective: 99 }
`

// TestSLOKPIs: an hour of minute windows with 100 requests each. pay fails
// every request of its last ten minutes: 1000 errors in 6000 requests is
// 16.7 % against the 1 % the SLO allows, a burn rate of 16.7 over the hour
// (above 14.4) and of 100 over the last five minutes, so the 1 h alert
// fires; over 6 h (all the data) 16.7 and over 30 min 33.3, above 6; the
// month's budget is spent 16.7 times (remaining −15.7). browse fails half
// a request per window (0.5 %): burn 0.5 everywhere, half its budget left.
func TestSLOKPIs(t *testing.T) {
	pol, err := policy.Parse([]byte(sloPolicy), "trilens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := chtest.Store(t)
	p := NewSLOKPIs(evidence.Settings{Store: st, Policy: pol})
	end := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	var ws []*tracev1.Window
	for i := range 60 {
		start := end.Add(time.Duration(i-60) * time.Minute)
		payErrors := 0.0
		if i >= 50 {
			payErrors = 100
		}
		ws = append(ws,
			&tracev1.Window{StartUnixNano: start.UnixNano(), DurationNanos: int64(time.Minute), Service: "checkout", Journey: "pay", Count: 100, Errors: payErrors},
			&tracev1.Window{StartUnixNano: start.UnixNano(), DurationNanos: int64(time.Minute), Service: "catalog", Journey: "browse", Count: 100, Errors: 0.5})
	}
	env := events.NewEnvelope("slo-1", "shop", eventv1.Kind_KIND_TRACE_WINDOW, &eventv1.Producer{Collector: "test"},
		&eventv1.Subject{Environment: eventv1.Environment_ENVIRONMENT_PRODUCTION}, end)
	ev := &eventv1.Event{Envelope: env, Payload: &eventv1.Event_TraceWindows{TraceWindows: &tracev1.WindowBatch{Windows: ws}}}
	scorertest.StoreRaw(t, st, ev)
	for range 2 { // a replay rewrites the same points
		if err := p.Process(context.Background(), []*eventv1.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := st.Conn().Query(context.Background(), `SELECT scope, kpi, value, budget, status FROM `+st.Database()+`.kpi_points FINAL ORDER BY scope, kpi`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type pt struct {
		scope, kpi    string
		value, budget float64
		status        string
	}
	var got []pt
	for rows.Next() {
		var x pt
		if err := rows.Scan(&x.scope, &x.kpi, &x.value, &x.budget, &x.status); err != nil {
			t.Fatal(err)
		}
		got = append(got, x)
	}
	want := []pt{
		{"browse", "slo_burn_rate_1h", 0.5, 14.4, "pass"},
		{"browse", "slo_burn_rate_6h", 0.5, 6, "pass"},
		{"browse", "slo_error_budget_remaining", 0.5, 0, "pass"},
		{"pay", "slo_burn_rate_1h", 16.666667, 14.4, "fail"},
		{"pay", "slo_burn_rate_6h", 16.666667, 6, "fail"},
		{"pay", "slo_error_budget_remaining", -15.666667, 0, "fail"},
	}
	if len(got) != len(want) {
		t.Fatalf("points %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("point %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
