package tracecollector

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/policy"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	tracev1 "github.com/trilens/trilens/proto/trilens/trace/v1"
	"github.com/trilens/trilens/services/tracecollector/shoptraffic"
)

func testPolicyT(t testing.TB) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte(shoptraffic.Policy), "trilens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestOTelExportersToEvents sends traces with the OpenTelemetry Go SDK's
// OTLP/HTTP and OTLP/gRPC exporters, and checks the published windows and
// detections against values computed here from the same spans.
func TestOTelExportersToEvents(t *testing.T) {
	b := natstest.Bus(t)
	cfg := testConfig()
	cfg.Policy = testPolicyT(t)
	c := startCollector(t, cfg, b, nil)
	ctx := context.Background()

	shop, err := shoptraffic.NewShop(ctx, c.HTTPAddr(), c.GRPCAddr())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Truncate(time.Minute).Add(-2 * time.Minute)
	shop.Run(t0)
	if err := shop.Shutdown(ctx); err != nil {
		t.Fatalf("exporters: %v", err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	want := shop.Expect()
	got := traceEvents(t, b)

	windows := map[string]*tracev1.Window{}
	var dets []*tracev1.Detection
	for _, ev := range got {
		env := ev.GetEnvelope()
		if env.GetSubject().GetEnvironment() != eventv1.Environment_ENVIRONMENT_PRODUCTION || env.GetTenant() != "default" {
			t.Errorf("event %s: environment %v tenant %q", env.GetEventId(), env.GetSubject().GetEnvironment(), env.GetTenant())
		}
		if env.GetPart().GetReportId() == "" || env.GetPart().GetCount() == 0 {
			t.Errorf("event %s has no part", env.GetEventId())
		}
		for _, w := range ev.GetTraceWindows().GetWindows() {
			windows[w.Service+"/"+w.Journey] = w
		}
		dets = append(dets, ev.GetTraceDetections().GetDetections()...)
	}
	if len(windows) != 2 {
		t.Fatalf("want the checkout and browse windows, got %v", keys(windows))
	}
	for name, wj := range want.Journeys {
		w := windows[name]
		if w == nil {
			t.Fatalf("no window for %s; have %v", name, keys(windows))
		}
		if w.StartUnixNano != t0.UnixNano() || w.DurationNanos != int64(time.Minute) {
			t.Errorf("%s: window %v+%v, want %v+1m", name, time.Unix(0, w.StartUnixNano), time.Duration(w.DurationNanos), t0)
		}
		if w.Count != wj.Durations.Count() || w.Errors != wj.Errors {
			t.Errorf("%s: count %v errors %v, want %v %v", name, w.Count, w.Errors, wj.Durations.Count(), wj.Errors)
		}
		checkQuantiles(t, name, w.P50Ms, w.P95Ms, w.P99Ms, wj.Durations)
		if w.MaxMs != wj.Durations.Max() {
			t.Errorf("%s: max %v, want %v", name, w.MaxMs, wj.Durations.Max())
		}
		hops := map[tracev1.HopClass]*tracev1.HopLatency{}
		for _, h := range w.Hops {
			hops[h.Hop] = h
		}
		if len(hops) != len(wj.Hops) {
			t.Errorf("%s: hops %v, want %d classes", name, w.Hops, len(wj.Hops))
		}
		for class, vals := range wj.Hops {
			h := hops[class]
			if h == nil {
				t.Errorf("%s: no %v hop", name, class)
				continue
			}
			checkQuantiles(t, name+" "+class.String(), h.P50Ms, h.P95Ms, h.P99Ms, vals)
			if math.Abs(h.TotalMs-vals.Sum()) > 1e-6*vals.Sum() || h.Count != vals.Count() {
				t.Errorf("%s %v: total %v count %v, want %v %v", name, class, h.TotalMs, h.Count, vals.Sum(), vals.Count())
			}
		}
	}

	byType := map[tracev1.DetectionType][]*tracev1.Detection{}
	for _, d := range dets {
		byType[d.Type] = append(byType[d.Type], d)
	}
	for typ, wd := range want.Detections {
		ds := byType[typ]
		if len(ds) != 1 {
			t.Errorf("%v: want one detection, got %v", typ, ds)
			continue
		}
		d := ds[0]
		if d.Service != "checkout-api" || d.Journey != "checkout" || d.Operation != wd.Operation || d.ParentOperation != "POST /checkout" {
			t.Errorf("%v: got %s/%s %q under %q, want checkout-api/checkout %q under POST /checkout", typ, d.Service, d.Journey, d.Operation, d.ParentOperation, wd.Operation)
		}
		near(t, typ.String()+" occurrences", d.Occurrences, wd.Occurrences)
		near(t, typ.String()+" affected", d.AffectedTraces, wd.Affected)
		near(t, typ.String()+" total", d.TotalMs, wd.Total)
		near(t, typ.String()+" savings", d.SavingsMs, wd.Savings/wd.Affected)
		if len(d.ExemplarTraceIds) != 5 {
			t.Errorf("%v: %d exemplars, want 5", typ, len(d.ExemplarTraceIds))
		}
		for _, id := range d.ExemplarTraceIds {
			if !want.CheckoutTraces[id] {
				t.Errorf("%v: exemplar %s is not a checkout trace", typ, id)
			}
		}
	}
	// Slow queries: ranked by total time, the N+1 statement first.
	slow := byType[tracev1.DetectionType_DETECTION_TYPE_SLOW_QUERY]
	if len(slow) != 2 {
		t.Fatalf("want two slow-query rankings (one per window), got %v", slow)
	}
	for _, d := range slow {
		wq, ok := want.Queries[d.Operation]
		if !ok {
			t.Errorf("unexpected slow query %q", d.Operation)
			continue
		}
		near(t, "slow query total "+d.Operation, d.TotalMs, wq.Total)
		near(t, "slow query count "+d.Operation, d.Occurrences, wq.Occurrences)
		near(t, "slow query traces "+d.Operation, d.AffectedTraces, wq.Affected)
	}
	if n := len(byType[tracev1.DetectionType_DETECTION_TYPE_N_PLUS_ONE]) + len(byType[tracev1.DetectionType_DETECTION_TYPE_SERIAL_CALLS]) +
		len(byType[tracev1.DetectionType_DETECTION_TYPE_SYNC_THIRD_PARTY]) + len(slow); n != len(dets) {
		t.Errorf("unexpected detections: %v", dets)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-6*math.Max(1, math.Abs(want)) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

// checkQuantiles asserts p50/p95/p99 within 1% of the exact weighted quantiles.
func checkQuantiles(t *testing.T, what string, p50, p95, p99 float64, vals shoptraffic.Weighted) {
	t.Helper()
	for _, q := range []struct {
		q   float64
		got float64
	}{{0.5, p50}, {0.95, p95}, {0.99, p99}} {
		exact := vals.Quantile(q.q)
		if math.Abs(q.got-exact) > 0.01*exact {
			t.Errorf("%s: p%v = %v, exact %v (off by %.3f%%)", what, q.q*100, q.got, exact, 100*math.Abs(q.got-exact)/exact)
		}
	}
}
