package e2e

import (
	"context"
	"math"
	"testing"
	"time"

	tracev1 "github.com/trilens/trilens/proto/trilens/trace/v1"
	"github.com/trilens/trilens/services/tracecollector"
	"github.com/trilens/trilens/services/tracecollector/shoptraffic"
)

// TestOTelSDKToClickHouse is the lens's acceptance test: the OpenTelemetry
// Go SDK's OTLP/HTTP and OTLP/gRPC exporters send a checkout journey with an
// N+1 query and three serial calls to a payment API, and fast product pages;
// the rows stored in ClickHouse (windows, hops, detections, KPI points
// against the journey and hop budgets) match what shoptraffic computes from
// the same spans.
func TestOTelSDKToClickHouse(t *testing.T) {
	r := newRig(t, shoptraffic.Policy, func(c *tracecollector.Config) { c.GRPCAddress = "127.0.0.1:0" })
	ctx := context.Background()
	shop, err := shoptraffic.NewShop(ctx, r.collector.HTTPAddr(), r.collector.GRPCAddr())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Truncate(time.Minute).Add(-3 * time.Minute)
	shop.Run(t0)
	if err := shop.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.collector.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	want := shop.Expect()
	// checkout: CDN, edge, API, DB, external; browse: CDN, edge, API, DB.
	waitRows(t, r.store, "journey_latency", 2)
	waitRows(t, r.store, "hop_latency", 5+4)
	// checkout: N+1, serial calls, third party, items statement; browse: products statement.
	waitRows(t, r.store, "trace_detections", 4+1)
	// checkout: p95, error rate, hops cdn, edge, api, db; browse: p95.
	waitRows(t, r.store, "kpi_points", 6+1)
	db := r.store.Database()
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-6*math.Max(1, math.Abs(want)) {
			t.Errorf("%s: stored %v, want %v", what, got, want)
		}
	}
	within1 := func(what string, got float64, vals shoptraffic.Weighted, q float64) {
		t.Helper()
		if exact := vals.Quantile(q); math.Abs(got-exact) > 0.01*exact {
			t.Errorf("%s p%v: stored %v, exact %v", what, 100*q, got, exact)
		}
	}

	rows, err := r.store.Conn().Query(ctx, "SELECT service, journey, toInt64(window_start), count, errors, p50_ms, p95_ms, p99_ms, max_ms FROM "+db+".journey_latency FINAL")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var service, journey string
		var start int64
		var count, errs, p50, p95, p99, maxMs float64
		if err := rows.Scan(&service, &journey, &start, &count, &errs, &p50, &p95, &p99, &maxMs); err != nil {
			t.Fatal(err)
		}
		name := service + "/" + journey
		wj := want.Journeys[name]
		if wj == nil || start != t0.Unix() {
			t.Errorf("unexpected window %s at %v", name, time.Unix(start, 0))
			continue
		}
		near(name+" count", count, wj.Durations.Count())
		near(name+" errors", errs, wj.Errors)
		near(name+" max", maxMs, wj.Durations.Max())
		within1(name, p50, wj.Durations, 0.5)
		within1(name, p95, wj.Durations, 0.95)
		within1(name, p99, wj.Durations, 0.99)
	}
	rows.Close()

	hopClass := map[string]tracev1.HopClass{}
	for v, n := range tracev1.HopClass_name {
		hopClass[enumLower(n, "HOP_CLASS_")] = tracev1.HopClass(v)
	}
	hrows, err := r.store.Conn().Query(ctx, "SELECT service, journey, hop, count, total_ms, p50_ms, p95_ms, p99_ms FROM "+db+".hop_latency FINAL")
	if err != nil {
		t.Fatal(err)
	}
	for hrows.Next() {
		var service, journey, hop string
		var count, total, p50, p95, p99 float64
		if err := hrows.Scan(&service, &journey, &hop, &count, &total, &p50, &p95, &p99); err != nil {
			t.Fatal(err)
		}
		name := service + "/" + journey + " " + hop
		vals, ok := want.Journeys[service+"/"+journey].Hops[hopClass[hop]]
		if !ok {
			t.Errorf("unexpected hop %s", name)
			continue
		}
		near(name+" count", count, vals.Count())
		near(name+" total", total, vals.Sum())
		within1(name, p50, vals, 0.5)
		within1(name, p95, vals, 0.95)
		within1(name, p99, vals, 0.99)
	}
	hrows.Close()

	drows, err := r.store.Conn().Query(ctx, "SELECT type, service, journey, operation, occurrences, affected_traces, total_ms, savings_ms, exemplar_trace_ids FROM "+db+".trace_detections FINAL")
	if err != nil {
		t.Fatal(err)
	}
	found := map[tracev1.DetectionType]bool{}
	for drows.Next() {
		var typ, service, journey, op string
		var occ, affected, total, savings float64
		var ex []string
		if err := drows.Scan(&typ, &service, &journey, &op, &occ, &affected, &total, &savings, &ex); err != nil {
			t.Fatal(err)
		}
		dt := tracev1.DetectionType(tracev1.DetectionType_value["DETECTION_TYPE_"+upper(typ)])
		if dt == tracev1.DetectionType_DETECTION_TYPE_SLOW_QUERY {
			wq := want.Queries[op]
			if wq == nil {
				t.Errorf("unexpected slow query %q", op)
				continue
			}
			near("slow query "+op+" total", total, wq.Total)
			near("slow query "+op+" occurrences", occ, wq.Occurrences)
			continue
		}
		wd := want.Detections[dt]
		if wd == nil || service != "checkout-api" || journey != "checkout" || op != wd.Operation {
			t.Errorf("unexpected detection %s %s/%s %q", typ, service, journey, op)
			continue
		}
		found[dt] = true
		near(typ+" occurrences", occ, wd.Occurrences)
		near(typ+" affected", affected, wd.Affected)
		near(typ+" total", total, wd.Total)
		near(typ+" savings per trace", savings, wd.Savings/wd.Affected)
		if len(ex) != 5 {
			t.Errorf("%s: %d exemplars, want 5", typ, len(ex))
		}
		for _, id := range ex {
			if !want.CheckoutTraces[id] {
				t.Errorf("%s: exemplar %s is not a checkout trace", typ, id)
			}
		}
	}
	drows.Close()
	if len(found) != 3 {
		t.Errorf("found %v, want N+1, serial calls and a synchronous third-party call", found)
	}

	// KPI points: p95 and error rate against the journey budgets, hop p95
	// against the hop budgets, status from the exact values.
	checkout, browse := want.Journeys["checkout-api/checkout"], want.Journeys["catalog-api/browse"]
	type kpi struct {
		value, budget float64
		vals          shoptraffic.Weighted // for quantile KPIs
	}
	wantKPIs := map[string]kpi{
		"journey_p95_ms checkout":     {checkout.Durations.Quantile(0.95), 300, checkout.Durations},
		"journey_error_rate checkout": {checkout.Errors / checkout.Durations.Count(), 0.01, nil},
		"journey_p95_ms browse":       {browse.Durations.Quantile(0.95), 40, browse.Durations},
		"hop_p95_ms checkout/cdn":     {checkout.Hops[tracev1.HopClass_HOP_CLASS_CDN].Quantile(0.95), 30, checkout.Hops[tracev1.HopClass_HOP_CLASS_CDN]},
		"hop_p95_ms checkout/edge":    {checkout.Hops[tracev1.HopClass_HOP_CLASS_EDGE].Quantile(0.95), 40, checkout.Hops[tracev1.HopClass_HOP_CLASS_EDGE]},
		"hop_p95_ms checkout/api":     {checkout.Hops[tracev1.HopClass_HOP_CLASS_API].Quantile(0.95), 120, checkout.Hops[tracev1.HopClass_HOP_CLASS_API]},
		"hop_p95_ms checkout/db":      {checkout.Hops[tracev1.HopClass_HOP_CLASS_DB].Quantile(0.95), 30, checkout.Hops[tracev1.HopClass_HOP_CLASS_DB]},
	}
	krows, err := r.store.Conn().Query(ctx, "SELECT kpi, scope, value, budget, status, owner FROM "+db+".kpi_points FINAL")
	if err != nil {
		t.Fatal(err)
	}
	statuses := map[string]int{}
	for krows.Next() {
		var name, scope, status, owner string
		var value, budget float64
		if err := krows.Scan(&name, &scope, &value, &budget, &status, &owner); err != nil {
			t.Fatal(err)
		}
		key := name + " " + scope
		wk, ok := wantKPIs[key]
		if !ok {
			t.Errorf("unexpected KPI point %s", key)
			continue
		}
		delete(wantKPIs, key)
		if wk.vals != nil {
			within1(key, value, wk.vals, 0.95)
		} else {
			near(key, value, wk.value)
		}
		wantStatus := "pass"
		if wk.value > wk.budget {
			wantStatus = "fail"
		}
		statuses[wantStatus]++
		if budget != wk.budget || status != wantStatus {
			t.Errorf("%s: %v against %v is %s, want %s against %v", key, value, budget, status, wantStatus, wk.budget)
		}
		if scope != "browse" && owner != "team-checkout" {
			t.Errorf("%s: owner %q", key, owner)
		}
	}
	krows.Close()
	if len(wantKPIs) > 0 {
		t.Errorf("missing KPI points: %v", wantKPIs)
	}
	// The traffic breaks the error budget and the DB hop budget, and keeps the rest.
	if statuses["fail"] != 2 || statuses["pass"] != 5 {
		t.Errorf("statuses %v, want 2 fail and 5 pass", statuses)
	}
}

func enumLower(name, prefix string) string {
	b := []byte(name[len(prefix):])
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}
