package e2e

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/store"
)

// exactQuantile is the value at rank q·(n−1), the definition DDSketch
// bounds its relative error against.
func exactQuantile(vals []float64, q float64) float64 {
	s := slices.Clone(vals)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

// waitRows waits until a query's count reaches want.
func waitRows(t testing.TB, st *store.Store, table string, want uint64) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var n uint64
		q := fmt.Sprintf("SELECT count() FROM %s.%s FINAL", st.Database(), table)
		if err := st.Conn().QueryRow(context.Background(), q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == want {
			return
		}
		if n > want || time.Now().After(deadline) {
			t.Fatalf("%s holds %d rows, want %d", table, n, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCollectorToClickHouse: OTLP/HTTP in, rows out. The stored windows,
// hops, detections and KPI points match what the test computes from the
// traces it generated.
func TestCollectorToClickHouse(t *testing.T) {
	r := newRig(t, testPolicy, nil)
	t0 := time.Now().Truncate(time.Minute).Add(-5 * time.Minute)
	tr := genTraffic(2000, 512, t0, time.Minute)
	send(t, r.url, tr.bodies, 4)
	if err := r.collector.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Two journeys in two windows, with their hops (checkout: CDN, API, DB,
	// external; browse: CDN, API, DB).
	waitRows(t, r.store, "journey_latency", 4)
	waitRows(t, r.store, "hop_latency", 2*(4+3))
	ctx := context.Background()
	db := r.store.Database()

	rows, err := r.store.Conn().Query(ctx, "SELECT journey, toInt64(window_start), count, p50_ms, p95_ms, p99_ms, max_ms, environment FROM "+db+".journey_latency FINAL")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for rows.Next() {
		var journey, env string
		var start int64
		var count, p50, p95, p99, maxMs float64
		if err := rows.Scan(&journey, &start, &count, &p50, &p95, &p99, &maxMs, &env); err != nil {
			t.Fatal(err)
		}
		vals := tr.roots[windowID{journey, start * 1e9}]
		if len(vals) == 0 {
			t.Errorf("unexpected window %s at %v", journey, time.Unix(start, 0))
			continue
		}
		seen++
		if count != float64(len(vals)) || env != "production" {
			t.Errorf("%s@%d: count %v env %q, want %d production", journey, start, count, env, len(vals))
		}
		for _, q := range []struct{ q, got float64 }{{0.5, p50}, {0.95, p95}, {0.99, p99}} {
			if exact := exactQuantile(vals, q.q); math.Abs(q.got-exact) > 0.01*exact {
				t.Errorf("%s@%d p%v: %v, exact %v", journey, start, q.q*100, q.got, exact)
			}
		}
		if math.Abs(maxMs-slices.Max(vals)) > 1e-9 {
			t.Errorf("%s max %v, want %v", journey, maxMs, slices.Max(vals))
		}
	}
	rows.Close()
	if seen != 4 {
		t.Errorf("saw %d of 4 windows", seen)
	}

	// DB hop time: every query is on the critical path in these traces.
	hrows, err := r.store.Conn().Query(ctx, "SELECT journey, toInt64(window_start), total_ms, peer FROM "+db+".hop_latency FINAL WHERE hop = 'db'")
	if err != nil {
		t.Fatal(err)
	}
	for hrows.Next() {
		var journey, peer string
		var start int64
		var total float64
		if err := hrows.Scan(&journey, &start, &total, &peer); err != nil {
			t.Fatal(err)
		}
		if want := tr.dbTotal[windowID{journey, start * 1e9}]; math.Abs(total-want) > 1e-6*want || peer != "postgresql" {
			t.Errorf("%s@%d db hop: total %v peer %q, want %v postgresql", journey, start, total, peer, want)
		}
	}
	hrows.Close()

	// Per checkout window: N+1, serial calls, synchronous third party and the
	// items statement; per browse window: the products statement.
	waitRows(t, r.store, "trace_detections", 2*(4+1))
	// N+1: eight queries in every checkout trace, with checkout exemplars.
	drows, err := r.store.Conn().Query(ctx, "SELECT toInt64(window_start), occurrences, affected_traces, exemplar_trace_ids, operation FROM "+db+".trace_detections FINAL WHERE type = 'n_plus_one'")
	if err != nil {
		t.Fatal(err)
	}
	nd := 0
	for drows.Next() {
		var start int64
		var occ, affected float64
		var ex []string
		var op string
		if err := drows.Scan(&start, &occ, &affected, &ex, &op); err != nil {
			t.Fatal(err)
		}
		nd++
		n := float64(len(tr.roots[windowID{"checkout", start * 1e9}]))
		if occ != 8*n || affected != n || len(ex) != 5 || op != "SELECT * FROM items WHERE id = ?" {
			t.Errorf("N+1 at %d: occurrences %v affected %v exemplars %d op %q, want %v %v 5", start, occ, affected, len(ex), op, 8*n, n)
		}
		for _, id := range ex {
			if !tr.checkout[id] {
				t.Errorf("exemplar %s is not a checkout trace", id)
			}
		}
	}
	drows.Close()
	if nd != 2 {
		t.Errorf("%d N+1 detections, want one per checkout window", nd)
	}

	// trace_findings sums a fingerprint over its windows.
	var windows uint64
	var occ float64
	var ex []string
	if err := r.store.Conn().QueryRow(ctx, "SELECT windows, occurrences, exemplar_trace_ids FROM "+db+".trace_findings WHERE type = 'n_plus_one'").Scan(&windows, &occ, &ex); err != nil {
		t.Fatal(err)
	}
	if n := 8 * float64(len(tr.checkout)); windows != 2 || occ != n || len(ex) != 10 {
		t.Errorf("trace_findings N+1: %d windows, %v occurrences, %d exemplars; want 2, %v, 10", windows, occ, len(ex), n)
	}

	// KPI points: checkout p95 against its 150 ms budget, per window.
	waitRows(t, r.store, "kpi_points", 2*(5+1)) // checkout: p95, error rate, cdn, api and db hops; browse: p95
	krows, err := r.store.Conn().Query(ctx, "SELECT toInt64(observed_at), value, budget, status FROM "+db+".kpi_points FINAL WHERE kpi = 'journey_p95_ms' AND scope = 'checkout'")
	if err != nil {
		t.Fatal(err)
	}
	for krows.Next() {
		var end int64
		var value, budget float64
		var status string
		if err := krows.Scan(&end, &value, &budget, &status); err != nil {
			t.Fatal(err)
		}
		exact := exactQuantile(tr.roots[windowID{"checkout", (end - 60) * 1e9}], 0.95)
		want := "pass"
		if value > 150 {
			want = "fail"
		}
		if math.Abs(value-exact) > 0.01*exact || budget != 150 || status != want {
			t.Errorf("checkout p95 KPI at %d: %v/%v %s, exact %v", end, value, budget, status, exact)
		}
	}
	krows.Close()
}
