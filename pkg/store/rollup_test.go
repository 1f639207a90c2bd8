package store_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
)

// TestKPILatestBackfill: the rollups (kpi_latest, kpi_daily) hold the
// points stored before their migrations ran (the backfill) and after (the
// materialized views): kpi_latest the same as argMax over the raw points,
// kpi_daily the same counts as FINAL; running the migrations again (an
// interrupted migrate) changes nothing.
func TestKPILatestBackfill(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, chtest.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.MigrateBefore(ctx, 810); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	insert := func(id, kpi, status string, value float64, at time.Time) {
		t.Helper()
		// Literal values: the driver sends an INSERT with arguments as a batch.
		err := st.Conn().Exec(ctx, fmt.Sprintf(`INSERT INTO %s.kpi_points (tenant, event_id, repository, commit, branch, environment,
			service, journey, observed_at, lens, kpi, scope, value, budget, status, owner, evidence_ids)
			SELECT 't', '%s', 'r', 'c', 'main', 'ci', 'svc', 'checkout', toDateTime(%d), 'performance', '%s', 'checkout', %g, 100, '%s', 'team', ['%s']`,
			st.Database(), id, at.Unix(), kpi, value, status, id))
		if err != nil {
			t.Fatal(err)
		}
	}
	insert("e1", "p95", "pass", 90, t0)
	insert("e2", "p95", "fail", 120, t0.Add(time.Hour))
	insert("e3", "p95", "pass", 95, t0.Add(2*time.Hour))
	insert("e3", "p95", "pass", 95, t0.Add(2*time.Hour)) // replayed
	insert("e4", "errors", "fail", 3, t0.Add(time.Hour))
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	insert("e5", "p95", "fail", 130, t0.Add(3*time.Hour)) // through the view
	want := []string{
		"errors fail 3 e4 last_pass=0 first_fail=" + fmt.Sprint(t0.Add(time.Hour).Unix()),
		"p95 fail 130 e5 last_pass=" + fmt.Sprint(t0.Add(2*time.Hour).Unix()) + " first_fail=" + fmt.Sprint(t0.Add(time.Hour).Unix()),
	}
	check := func(when string) {
		t.Helper()
		got := strings1(t, st, `SELECT concat(kpi, ' ', argMaxMerge(status_state), ' ', toString(argMaxMerge(value_state)), ' ',
			arrayStringConcat(argMaxMerge(evidence_ids_state), ','), ' last_pass=', toString(toUInt32(maxIfMerge(last_pass))),
			' first_fail=', toString(toUInt32(minIfMerge(first_fail))))
			FROM `+st.Database()+`.kpi_latest WHERE tenant = 't' GROUP BY kpi ORDER BY kpi`)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: kpi_latest = %q, want %q", when, got, want)
		}
		raw := strings1(t, st, `SELECT concat(kpi, ' ', argMax(status, observed_at), ' ', toString(argMax(value, observed_at)))
			FROM `+st.Database()+`.kpi_points FINAL WHERE tenant = 't' GROUP BY kpi ORDER BY kpi`)
		dash := strings1(t, st, `SELECT concat(kpi, ' ', status, ' ', toString(value))
			FROM `+st.Database()+`.dash_kpi_latest WHERE tenant = 't' ORDER BY kpi`)
		if fmt.Sprint(raw) != fmt.Sprint(dash) || len(dash) != 2 {
			t.Errorf("%s: dash_kpi_latest = %q, raw points say %q", when, dash, raw)
		}
		// kpi_daily: the replayed e3 counted once (the backfill reads FINAL).
		weekly := strings1(t, st, `SELECT concat(toString(week), ' ', toString(points), ' ', toString(failing), ' ', toString(pass_ratio))
			FROM `+st.Database()+`.dash_kpi_weekly WHERE tenant = 't'`)
		if fmt.Sprint(weekly) != "[2026-10-26 5 3 0.4]" {
			t.Errorf("%s: dash_kpi_weekly = %q, want 5 points, 3 failing, 0.4 passing in the week of 2026-10-26", when, weekly)
		}
	}
	check("after migrate")
	again := fstest.MapFS{}
	for i, f := range []string{"0810_kpi_latest.sql", "0811_kpi_daily.sql"} {
		b, err := os.ReadFile("migrations/" + f)
		if err != nil {
			t.Fatal(err)
		}
		again[fmt.Sprintf("migrations/%04d_again.sql", 8900+i)] = &fstest.MapFile{Data: b}
	}
	if err := st.MigrateFS(ctx, again); err != nil {
		t.Fatal(err)
	}
	check("after the migration ran again")
}

// TestKPIHourlyBackfill: kpi_hourly holds per series and hour the sums,
// counts, failing points and newest budget of the points stored before its
// migration ran (the backfill, which reads FINAL: a replayed point counts
// once) and after (the materialized view), the same as the raw points say;
// running the migration again changes nothing.
func TestKPIHourlyBackfill(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, chtest.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.MigrateBefore(ctx, 813); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	insert := func(id, kpi, status string, value, budget float64, at time.Time) {
		t.Helper()
		err := st.Conn().Exec(ctx, fmt.Sprintf(`INSERT INTO %s.kpi_points (tenant, event_id, repository, commit, branch, environment,
			service, journey, observed_at, lens, kpi, scope, value, budget, status, owner, evidence_ids)
			SELECT 't', '%s', 'r', 'c', 'main', 'ci', 'svc', 'checkout', toDateTime(%d), 'performance', '%s', 'checkout', %g, %g, '%s', 'team', ['%s']`,
			st.Database(), id, at.Unix(), kpi, value, budget, status, id))
		if err != nil {
			t.Fatal(err)
		}
	}
	insert("e1", "p95", "pass", 90, 100, t0.Add(5*time.Minute))
	insert("e2", "p95", "fail", 120, 110, t0.Add(50*time.Minute))
	insert("e2", "p95", "fail", 120, 110, t0.Add(50*time.Minute)) // replayed
	insert("e3", "p95", "pass", 95, 100, t0.Add(70*time.Minute))
	insert("e4", "errors", "fail", 3, 1, t0.Add(10*time.Minute))
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	insert("e5", "p95", "fail", 130, 120, t0.Add(80*time.Minute)) // through the view
	want := []string{
		"errors 2026-11-01 10:00:00 sum=3 n=1 fail=1 budget=1",
		"p95 2026-11-01 10:00:00 sum=210 n=2 fail=1 budget=110",
		"p95 2026-11-01 11:00:00 sum=225 n=2 fail=1 budget=120",
	}
	check := func(when string) {
		t.Helper()
		got := strings1(t, st, `SELECT concat(kpi, ' ', toString(hour), ' sum=', toString(sumMerge(value_sum_state)),
			' n=', toString(countMerge(points_state)), ' fail=', toString(countIfMerge(failing_state)),
			' budget=', toString(argMaxMerge(budget_state)))
			FROM `+st.Database()+`.kpi_hourly WHERE tenant = 't' GROUP BY kpi, hour ORDER BY kpi, hour`)
		raw := strings1(t, st, `SELECT concat(kpi, ' ', toString(toStartOfHour(observed_at)), ' sum=', toString(sum(value)),
			' n=', toString(count()), ' fail=', toString(countIf(status = 'fail')), ' budget=', toString(argMax(budget, observed_at)))
			FROM `+st.Database()+`.kpi_points FINAL WHERE tenant = 't' GROUP BY kpi, toStartOfHour(observed_at) ORDER BY kpi, toStartOfHour(observed_at)`)
		if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(raw) != fmt.Sprint(want) {
			t.Errorf("%s: kpi_hourly = %q, raw points %q, want %q", when, got, raw, want)
		}
	}
	check("after migrate")
	b, err := os.ReadFile("migrations/0813_kpi_hourly.sql")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.MigrateFS(ctx, fstest.MapFS{"migrations/8910_again.sql": &fstest.MapFile{Data: b}}); err != nil {
		t.Fatal(err)
	}
	check("after the migration ran again")
}

// TestTraceHourlyBackfill: journey_hourly and hop_hourly hold per journey
// (and hop) and hour the requests, errors, calls and time summed and the
// worst window p95 (and p99) of the windows stored before their migration
// ran (the backfill, which reads FINAL: a replayed window counts once) and
// after (the materialized views), as dash_journey_hourly and dash_hop_hourly
// say from the raw windows; running the migration again changes nothing.
func TestTraceHourlyBackfill(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, chtest.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.MigrateBefore(ctx, 814); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	window := func(id, repo, journey string, count, errors, p95 float64, at time.Time) {
		t.Helper()
		for _, q := range []string{
			`INSERT INTO %[1]s.journey_latency (tenant, event_id, repository, commit, branch, environment, service, journey, observed_at,
				idx, window_start, duration_s, count, errors, p50_ms, p95_ms, p99_ms, max_ms, sketch)
				SELECT 't', '%[2]s', '%[3]s', 'c', 'main', 'production', 'svc', '%[4]s', toDateTime(%[8]d), 0, toDateTime(%[8]d), 60, %[5]g, %[6]g, 10, %[7]g, %[7]g + 5, %[7]g + 9, ''`,
			`INSERT INTO %[1]s.hop_latency (tenant, event_id, repository, commit, branch, environment, service, journey, observed_at,
				window_idx, idx, window_start, duration_s, hop, peer, count, p50_ms, p95_ms, p99_ms, total_ms, sketch)
				SELECT 't', '%[2]s', '%[3]s', 'c', 'main', 'production', 'svc', '%[4]s', toDateTime(%[8]d), 0, 0, toDateTime(%[8]d), 60, 'db', 'pg', %[5]g, 5, %[7]g / 2, %[7]g, %[5]g * 3, ''`,
		} {
			if err := st.Conn().Exec(ctx, fmt.Sprintf(q, st.Database(), id, repo, journey, count, errors, p95, at.Unix())); err != nil {
				t.Fatal(err)
			}
		}
	}
	window("w1", "r1", "checkout", 100, 2, 300, t0.Add(5*time.Minute))
	window("w2", "r2", "checkout", 50, 1, 420, t0.Add(50*time.Minute))
	window("w2", "r2", "checkout", 50, 1, 420, t0.Add(50*time.Minute)) // replayed
	window("w3", "r1", "checkout", 80, 0, 250, t0.Add(70*time.Minute))
	window("w4", "r1", "browse", 10, 5, 90, t0.Add(10*time.Minute))
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	window("w5", "r2", "checkout", 20, 4, 500, t0.Add(80*time.Minute)) // through the views
	want := []string{
		"browse 2026-11-01 10:00:00 requests=10 errors=5 p95=90 p99=95 | db calls=10 total=30 p95=45",
		"checkout 2026-11-01 10:00:00 requests=150 errors=3 p95=420 p99=425 | db calls=150 total=450 p95=210",
		"checkout 2026-11-01 11:00:00 requests=100 errors=4 p95=500 p99=505 | db calls=100 total=300 p95=250",
	}
	check := func(when string) {
		t.Helper()
		db := st.Database()
		got := strings1(t, st, `SELECT concat(j.journey, ' ', toString(j.hour), ' requests=', toString(requests), ' errors=', toString(errors),
			' p95=', toString(p95), ' p99=', toString(p99), ' | db calls=', toString(calls), ' total=', toString(total), ' p95=', toString(hop_p95))
			FROM (SELECT journey, hour, sumMerge(requests_state) AS requests, sumMerge(errors_state) AS errors, maxMerge(p95_state) AS p95,
				maxMerge(p99_state) AS p99 FROM `+db+`.journey_hourly WHERE tenant = 't' GROUP BY journey, hour) AS j
			ANY LEFT JOIN (SELECT journey, hour, sumMerge(calls_state) AS calls, sumMerge(total_ms_state) AS total, maxMerge(p95_state) AS hop_p95
				FROM `+db+`.hop_hourly WHERE tenant = 't' AND hop = 'db' GROUP BY journey, hour) AS h USING journey, hour
			ORDER BY j.journey, j.hour`)
		raw := strings1(t, st, `SELECT concat(j.journey, ' ', toString(j.hour), ' requests=', toString(requests), ' errors=', toString(errors),
			' p95=', toString(p95_ms), ' p99=', toString(p99_ms), ' | db calls=', toString(calls), ' total=', toString(total_ms), ' p95=', toString(h.p95_ms))
			FROM (SELECT * FROM `+db+`.dash_journey_hourly WHERE tenant = 't') AS j
			ANY LEFT JOIN (SELECT journey, hour, calls, total_ms, p95_ms FROM `+db+`.dash_hop_hourly WHERE tenant = 't' AND hop = 'db') AS h USING journey, hour
			ORDER BY j.journey, j.hour`)
		if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(raw) != fmt.Sprint(want) {
			t.Errorf("%s: rollups = %q, dash views over the windows %q, want %q", when, got, raw, want)
		}
	}
	check("after migrate")
	b, err := os.ReadFile("migrations/0814_trace_hourly.sql")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.MigrateFS(ctx, fstest.MapFS{"migrations/8911_again.sql": &fstest.MapFile{Data: b}}); err != nil {
		t.Fatal(err)
	}
	check("after the migration ran again")
}
