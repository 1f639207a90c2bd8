package trace

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
)

const traceKPIPolicy = `
version: 1
owners: { default_team: team-web }
journeys:
  - name: checkout
    owner: team-checkout
    match: [{ http_route: /checkout }]
    p95_ms: 300
    p99_ms: 800
    error_rate: 0.01
    hops: { cdn: 30, edge: 40, api: 120, db: 80, margin: 30 }
  - name: browse
    match: [{ http_route: /products/* }]
    p95_ms: 200
`

func TestTraceKPIPoints(t *testing.T) {
	pol, err := policy.Parse([]byte(traceKPIPolicy), "trilens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := chtest.Store(t)
	p := New(evidence.Settings{Store: st, Policy: pol})
	start := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	env := events.NewEnvelope("ev-1", "shop", eventv1.Kind_KIND_TRACE_WINDOW, &eventv1.Producer{Collector: "tracecollector"},
		&eventv1.Subject{Environment: eventv1.Environment_ENVIRONMENT_PRODUCTION}, start.Add(time.Minute))
	ev := &eventv1.Event{Envelope: env, Payload: &eventv1.Event_TraceWindows{TraceWindows: &tracev1.WindowBatch{Windows: []*tracev1.Window{
		{StartUnixNano: start.UnixNano(), DurationNanos: int64(time.Minute), Service: "checkout-api", Journey: "checkout",
			Count: 200, Errors: 4, P95Ms: 320, P99Ms: 500, Hops: []*tracev1.HopLatency{
				{Hop: tracev1.HopClass_HOP_CLASS_CDN, P95Ms: 12},
				{Hop: tracev1.HopClass_HOP_CLASS_DB, P95Ms: 95},
				{Hop: tracev1.HopClass_HOP_CLASS_EXTERNAL, P95Ms: 90}, // no external budget: no point
			}},
		{StartUnixNano: start.UnixNano(), DurationNanos: int64(time.Minute), Service: "catalog", Journey: "browse", Count: 10, P95Ms: 50},
		{StartUnixNano: start.UnixNano(), DurationNanos: int64(time.Minute), Service: "catalog", Journey: "", Count: 10, P95Ms: 900},
	}}}}
	ctx := context.Background()
	// Twice: a replayed batch must not add points.
	for range 2 {
		if err := p.Process(ctx, []*eventv1.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := st.Conn().Query(ctx, "SELECT kpi, scope, value, budget, status, owner, service, environment FROM "+st.Database()+".kpi_points FINAL ORDER BY kpi, scope")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type point struct {
		kpi, scope              string
		value, budget           float64
		status, owner, svc, env string
	}
	var got []point
	for rows.Next() {
		var pt point
		if err := rows.Scan(&pt.kpi, &pt.scope, &pt.value, &pt.budget, &pt.status, &pt.owner, &pt.svc, &pt.env); err != nil {
			t.Fatal(err)
		}
		got = append(got, pt)
	}
	want := []point{
		{"hop_p95_ms", "checkout/cdn", 12, 30, "pass", "team-checkout", "checkout-api", "production"},
		{"hop_p95_ms", "checkout/db", 95, 80, "fail", "team-checkout", "checkout-api", "production"},
		{"journey_error_rate", "checkout", 0.02, 0.01, "fail", "team-checkout", "checkout-api", "production"},
		{"journey_p95_ms", "browse", 50, 200, "pass", "team-web", "catalog", "production"},
		{"journey_p95_ms", "checkout", 320, 300, "fail", "team-checkout", "checkout-api", "production"},
		{"journey_p99_ms", "checkout", 500, 800, "pass", "team-checkout", "checkout-api", "production"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d points %v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("point %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}
