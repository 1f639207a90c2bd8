package scorer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"github.com/trilens/trilens/services/scorer/api"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/regression"
	"github.com/trilens/trilens/services/scorer/scorecard"
)

// Cost curves: how the read paths grow with history. The KPI points grow
// as history does: releases of 10,000 points each (600 series of one of
// 50 services), 0.3 s apart, so 100M points are about a year. Findings are
// a tenth of the points; the gated repository keeps 100,000 of them (500
// per service) and the rest belong to other repositories, so the answer
// stays the same size while the tables grow. Trace windows are a tenth of
// the points too, with two hops each.
const (
	costT0             = 1_780_000_000 // first point, 2026-05-28
	pointsPerRelease   = 10_000
	findingsOfGateRepo = 100_000
)

// BenchmarkCostCurves seeds 1M, 10M and 100M KPI points (the largest size
// capped by TRILENS_COSTCURVE_MAX, e.g. 10M), with a tenth as many
// findings, and at each size times the gate, the scorecard, the weekly
// report, the regression engine's batch and every dashboard panel query.
// It prints a Markdown table and one "costcurve-<step> ratio GROWTH" line
// per step, GROWTH being the p95's growth per 10x of data.
func BenchmarkCostCurves(b *testing.B) {
	sizes := costSizes(b)
	st := chtest.Store(b)
	ctx := context.Background()
	panels, err := panelQueries(filepath.Join("..", "..", "dashboards"))
	if err != nil {
		b.Fatal(err)
	}
	steps := map[string][]time.Duration{} // p95 per size
	var order []string
	b.ResetTimer()
	prev := 0
	for _, n := range sizes {
		t0 := time.Now()
		if err := seedCostCurve(ctx, st, prev, n); err != nil {
			b.Fatal(err)
		}
		prev = n
		loaded := time.Since(t0)
		settled := settle(ctx, st, 5*time.Minute)
		fmt.Printf("seeded %d KPI points and %d findings in %.0f s; background merges settled in %.0f s\n", n, n/10, loaded.Seconds(), settled.Seconds())
		for _, s := range costSteps(b, st, n, panels) {
			lat, err := s.time()
			if err != nil {
				b.Fatalf("%s at %d points: %v", s.name, n, err)
			}
			if _, ok := steps[s.name]; !ok {
				order = append(order, s.name)
			}
			steps[s.name] = append(steps[s.name], lat[len(lat)*95/100])
			fmt.Printf("size %d %s: p50 %.1f ms p95 %.1f ms over %d runs\n", n, s.name, ms(lat[len(lat)/2]), ms(lat[len(lat)*95/100]), len(lat))
		}
	}
	b.StopTimer()
	printCostTable(sizes, order, steps)
}

// settle waits (at most limit) until the server has no merges running in
// the bench's database, so the steps are timed in a steady state rather
// than beside the merges of what was just loaded.
func settle(ctx context.Context, st *store.Store, limit time.Duration) time.Duration {
	t0 := time.Now()
	for time.Since(t0) < limit {
		var n uint64
		if err := st.Conn().QueryRow(ctx, "SELECT count() FROM system.merges WHERE database = ?", st.Database()).Scan(&n); err != nil || n == 0 {
			break
		}
		time.Sleep(time.Second)
	}
	return time.Since(t0)
}

// costStep is one read path, timed over several runs (sorted latencies).
type costStep struct {
	name string
	runs int
	run  func() error
}

func (s costStep) time() ([]time.Duration, error) {
	if err := s.run(); err != nil { // warm-up: the first run reads from disk
		return nil, err
	}
	lat := make([]time.Duration, 0, s.runs)
	for range s.runs {
		t := time.Now()
		if err := s.run(); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t))
	}
	slices.Sort(lat)
	return lat, nil
}

// costSteps are the read paths at n points, as the scorer and Grafana run them.
func costSteps(b *testing.B, st *store.Store, n int, panels []panelQuery) []costStep {
	pol := policy.Default()
	pol.Owners.DefaultTeam = "team-bench"
	now := time.Unix(costT0+int64(n)*3/10, 0)
	log := slog.New(slog.DiscardHandler)
	set := evidence.Settings{Store: st, Policy: pol, Logger: log, Now: func() time.Time { return now }}
	card := scorecard.New(set)
	mux := http.NewServeMux()
	api.New(card, log).Register(mux)
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	releases := n / pointsPerRelease
	gate := 0
	steps := []costStep{
		{"gate", 20, func() error {
			gate++
			r := (gate * 7919) % releases // release c<r> is of service svc-<r mod 50>
			return getJSON(fmt.Sprintf("%s/v1/gate?tenant=bench&repo=acme/shop&branch=main&service=svc-%d&commit=c%d", srv.URL, r%50, r))
		}},
		{"scorecard", 5, func() error {
			_, err := card.Scorecard(context.Background(), scorecard.Filter{Tenant: "bench", Repository: "acme/shop", Branch: "main", Service: "svc-7"})
			return err
		}},
		{"weekly-report", 5, func() error {
			_, err := card.Report(context.Background(), scorecard.Filter{Tenant: "bench", Repository: "acme/shop", Branch: "main"}, now.Add(-7*24*time.Hour), now)
			return err
		}},
		{"regression-batch", 5, func() error {
			return regression.New(set).Process(context.Background(), regressionBatch(n, 100))
		}},
	}
	from := now.Add(-30 * 24 * time.Hour)
	for _, p := range panels {
		sql := p.expand("bench", from, now)
		steps = append(steps, costStep{"panel " + p.title, 3, func() error { return drain(st, sql) }})
	}
	return steps
}

// regressionBatch is a batch of k events, each the envelope of one of the
// newest points, as the scorer hands them to the engine after storing them.
func regressionBatch(n, k int) []*eventv1.Event {
	evs := make([]*eventv1.Event, k)
	for i := range evs {
		num := n - 1 - i*37
		evs[i] = &eventv1.Event{Envelope: &eventv1.Envelope{
			EventId: strconv.Itoa(num), Tenant: "bench",
			ObservedAt: timestamppb.New(time.Unix(costT0+int64(num)*3/10, 0)),
			Subject:    &eventv1.Subject{Repository: "acme/shop", Branch: "main", Commit: fmt.Sprintf("c%d", num/pointsPerRelease)},
		}}
	}
	return evs
}

// seedCostCurve adds the KPI points [from, to) and their findings on the
// server (INSERT ... SELECT from numbers), so 100M rows load in minutes.
func seedCostCurve(ctx context.Context, st *store.Store, from, to int) error {
	// One INSERT ... SELECT of 90M points outlasts the driver's read
	// timeout (nothing comes back until it ends): seed 10M at a time.
	const chunk = 10_000_000
	for lo := from; lo < to; lo += chunk {
		if err := seedCostChunk(ctx, st, lo, min(lo+chunk, to)); err != nil {
			return err
		}
	}
	return nil
}

// seedCostChunk writes points from..to and their findings.
func seedCostChunk(ctx context.Context, st *store.Store, from, to int) error {
	db := st.Database()
	nums := func(lo, hi int) string {
		return fmt.Sprintf("(SELECT number + %d AS n FROM system.numbers LIMIT %d)", lo, hi-lo)
	}
	for _, q := range []string{
		`INSERT INTO ` + db + `.kpi_points (tenant, event_id, repository, commit, branch, environment, service, journey, observed_at,
			lens, kpi, scope, value, budget, status, owner, evidence_ids)
		SELECT 'bench', toString(n), 'acme/shop', concat('c', toString(intDiv(n, ` + strconv.Itoa(pointsPerRelease) + `))), 'main', 'ci',
			concat('svc-', toString(intDiv(n, ` + strconv.Itoa(pointsPerRelease) + `) % 50)), '', toDateTime(` + strconv.Itoa(costT0) + ` + intDiv(n * 3, 10)),
			['performance', 'security', 'scalability'][n % 3 + 1], concat('kpi_', toString(intDiv(n, 3) % 10)),
			concat('scope-', toString(intDiv(n, 30) % 20)), toFloat64(cityHash64(n) % 1000), 950,
			if(cityHash64(n) % 1000 >= 950, 'fail', 'pass'), 'team-bench', emptyArrayString()
		FROM ` + nums(from, to),
		`INSERT INTO ` + db + `.finding_lifecycle (tenant, repository, service, branch, tool, fingerprint, state, first_seen, last_seen,
			fixed_at, reopened_at, reopen_count, last_report_id, report_at, severity, category, rule_id, title, cvss_score, aliases,
			package_name, installed_version, fixed_version, path, start_line)
		SELECT 'bench', if(n < ` + strconv.Itoa(findingsOfGateRepo) + `, 'acme/shop', concat('acme/r', toString(intDiv(n, ` + strconv.Itoa(findingsOfGateRepo) + `)))),
			concat('svc-', toString(n % 200)), 'main', 'trivy', toString(n),
			['new', 'open', 'fixed'][n % 3 + 1], toDateTime(` + strconv.Itoa(costT0) + ` + n * 3), toDateTime(` + strconv.Itoa(costT0) + ` + n * 3),
			toDateTime(0), toDateTime(0), 0, 'report', toDateTime(` + strconv.Itoa(costT0) + ` + n * 3),
			['low', 'medium', 'high', 'critical'][intDiv(n, 3) % 4 + 1], 'vulnerability', 'CVE', 'a vulnerability',
			5.0, [concat('CVE-2024-', toString(n % 5000))], 'pkg', '1.0', '1.1',
			concat('src/', toString(n % 100), '/x.go'), 1
		FROM ` + nums(from/10, to/10),
		// What the findings panels read: the latest state and one sighting of each.
		`INSERT INTO ` + db + `.findings (tenant, event_id, repository, commit, branch, environment, service, journey, observed_at,
			fingerprint, report_id, tool, rule_id, title, severity, category, cvss_score, cvss_vector, aliases, cwes, package_name,
			package_type, purl, installed_version, fixed_version, path, start_line, end_line, help_uri, message)
		SELECT 'bench', 'report', if(n < ` + strconv.Itoa(findingsOfGateRepo) + `, 'acme/shop', concat('acme/r', toString(intDiv(n, ` + strconv.Itoa(findingsOfGateRepo) + `)))),
			'c', 'main', 'ci', concat('svc-', toString(n % 200)), '', toDateTime(` + strconv.Itoa(costT0) + ` + n * 3),
			toString(n), 'report', 'trivy', 'CVE', 'a vulnerability', ['low', 'medium', 'high', 'critical'][intDiv(n, 3) % 4 + 1],
			'vulnerability', 5.0, '', [concat('CVE-2024-', toString(n % 5000))], emptyArrayString(), 'pkg', 'golang', '', '1.0', '1.1',
			concat('src/', toString(n % 100), '/x.go'), 1, 1, '', ''
		FROM ` + nums(from/10, to/10),
		`INSERT INTO ` + db + `.finding_observations (tenant, event_id, repository, commit, branch, environment, service, journey, observed_at,
			fingerprint, report_id, part_index, part_count, tool, rule_id, severity, category)
		SELECT 'bench', 'report', if(n < ` + strconv.Itoa(findingsOfGateRepo) + `, 'acme/shop', concat('acme/r', toString(intDiv(n, ` + strconv.Itoa(findingsOfGateRepo) + `)))),
			'c', 'main', 'ci', concat('svc-', toString(n % 200)), '', toDateTime(` + strconv.Itoa(costT0) + ` + n * 3),
			toString(n), 'report', 0, 1, 'trivy', 'CVE', ['low', 'medium', 'high', 'critical'][intDiv(n, 3) % 4 + 1], 'vulnerability'
		FROM ` + nums(from/10, to/10),
		// Trace windows, a tenth as many as the points and as far apart as
		// the findings (3 s): 10 services × 4 journeys, a db and an http hop
		// each, for the trace panels' hourly rollups.
		`INSERT INTO ` + db + `.journey_latency (tenant, event_id, repository, commit, branch, environment, service, journey, observed_at,
			idx, window_start, duration_s, count, errors, p50_ms, p95_ms, p99_ms, max_ms, sketch)
		SELECT 'bench', concat('w', toString(n)), 'acme/shop', 'c', 'main', 'production', concat('svc-', toString(n % 10)),
			['checkout', 'browse', 'search', 'login'][intDiv(n, 10) % 4 + 1], toDateTime(` + strconv.Itoa(costT0) + ` + n * 3), 0,
			toDateTime(` + strconv.Itoa(costT0) + ` + n * 3), 60, 100, cityHash64(n) % 3, 40, toFloat64(200 + cityHash64(n) % 300), 700, 900, ''
		FROM ` + nums(from/10, to/10),
		`INSERT INTO ` + db + `.hop_latency (tenant, event_id, repository, commit, branch, environment, service, journey, observed_at,
			window_idx, idx, window_start, duration_s, hop, peer, count, p50_ms, p95_ms, p99_ms, total_ms, sketch)
		SELECT 'bench', concat('w', toString(intDiv(n, 2))), 'acme/shop', 'c', 'main', 'production', concat('svc-', toString(intDiv(n, 2) % 10)),
			['checkout', 'browse', 'search', 'login'][intDiv(n, 20) % 4 + 1], toDateTime(` + strconv.Itoa(costT0) + ` + intDiv(n, 2) * 3), 0, n % 2,
			toDateTime(` + strconv.Itoa(costT0) + ` + intDiv(n, 2) * 3), 60, ['db', 'http'][n % 2 + 1], 'peer', 100, 5, toFloat64(20 + cityHash64(n) % 80), 150, 4000, ''
		FROM ` + nums(from/5, to/5),
	} {
		if err := st.Conn().Exec(ctx, q); err != nil {
			return fmt.Errorf("seed %d..%d: %w", from, to, err)
		}
	}
	return nil
}

// costSizes are 1M, 10M and 100M, up to TRILENS_COSTCURVE_MAX (1M, 10M or
// a number of points).
func costSizes(b *testing.B) []int {
	limit := 100_000_000
	if v := os.Getenv("TRILENS_COSTCURVE_MAX"); v != "" {
		n, err := strconv.Atoi(strings.NewReplacer("M", "000000", "k", "000").Replace(v))
		if err != nil || n < 1_000_000 {
			b.Fatalf("TRILENS_COSTCURVE_MAX=%q: want 1M, 10M, 100M or a number of points of at least 1000000", v)
		}
		limit = n
	}
	var out []int
	for n := 1_000_000; n <= limit; n *= 10 {
		out = append(out, n)
	}
	return out
}

// panelQuery is the SQL of one target of a committed dashboard.
type panelQuery struct{ title, sql string }

// expand renders the data source's macros as Grafana does (plugin v1.1.2).
func (p panelQuery) expand(tenant string, from, to time.Time) string {
	return strings.NewReplacer(
		"${tenant}", tenant,
		"$__fromTime", fmt.Sprintf("toDateTime(intDiv(%d,1000))", from.UnixMilli()),
		"$__toTime", fmt.Sprintf("toDateTime(intDiv(%d,1000))", to.UnixMilli()),
	).Replace(p.sql)
}

// panelQueries reads every panel target of the generated dashboards in dir.
func panelQueries(dir string) ([]panelQuery, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("dashboards in %s: %d files, %v", dir, len(files), err)
	}
	slices.Sort(files)
	var out []panelQuery
	for _, f := range files {
		raw, err := os.ReadFile(f) // #nosec G304 -- the repository's own dashboards
		if err != nil {
			return nil, err
		}
		var d struct {
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					RawSQL string `json:"rawSql"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, p := range d.Panels {
			for i, t := range p.Targets {
				title := strings.TrimSuffix(filepath.Base(f), ".json") + ": " + p.Title
				if len(p.Targets) > 1 {
					title += fmt.Sprintf(" (%c)", 'A'+i)
				}
				out = append(out, panelQuery{title, t.RawSQL})
			}
		}
	}
	return out, nil
}

func drain(st *store.Store, sql string) error {
	rows, err := st.Conn().Query(context.Background(), sql)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, sql)
	}
	defer rows.Close()
	for rows.Next() {
	}
	return rows.Err()
}

func getJSON(u string) error {
	resp, err := http.Get(u) // #nosec G107 -- the bench's own test server
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var v any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s %v", u, resp.Status, err)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// printCostTable prints p95 per size and the growth per 10x of data: the
// geometric mean of the p95's growth from one size to the next.
func printCostTable(sizes []int, order []string, p95 map[string][]time.Duration) {
	head, rule := "| step |", "| --- |"
	for _, n := range sizes {
		head += fmt.Sprintf(" p95 at %dM points (ms) |", n/1_000_000)
		rule += " ---: |"
	}
	fmt.Println()
	fmt.Println(head + " growth per 10× | target |")
	fmt.Println(rule + " ---: | --- |")
	var ratios []string
	for _, s := range order {
		row := "| " + s + " |"
		for _, d := range p95[s] {
			row += fmt.Sprintf(" %.1f |", ms(d))
		}
		g := growth(p95[s])
		fmt.Printf("%s %.2f | %s |\n", row, g, costTarget(s, g, p95[s]))
		ratios = append(ratios, fmt.Sprintf("costcurve-%s ratio %.2f", slug(s), g))
	}
	fmt.Println()
	for _, r := range ratios {
		fmt.Println(r)
	}
}

// growth is (last / first)^(1 / decades), at least one decade apart.
func growth(p95 []time.Duration) float64 {
	if len(p95) < 2 {
		return math.NaN()
	}
	first := max(ms(p95[0]), 0.1)
	return math.Pow(ms(p95[len(p95)-1])/first, 1/float64(len(p95)-1))
}

// costTarget: the gate and the panels grow at most 2x per 10x of data; the
// gate answers within 300 ms at the largest size.
func costTarget(step string, g float64, p95 []time.Duration) string {
	switch {
	case step == "gate":
		ok := g <= 2 && p95[len(p95)-1] < 300*time.Millisecond
		return verdict(ok) + " (≤ 2, p95 < 300 ms)"
	case strings.HasPrefix(step, "panel "):
		return verdict(g <= 2) + " (≤ 2)"
	}
	return "-"
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// slug is a step name as one word of a ratio line.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}
