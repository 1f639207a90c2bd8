package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store/chtest"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/scorecard"
)

// BenchmarkGateAnswer measures GET /v1/gate (HTTP, JSON, every lens: KPI
// points of the release, open findings of the service, verdicts, waivers)
// with GATE_BENCH_POINTS KPI points (default 10 million) and
// GATE_BENCH_FINDINGS findings (default 1 million) stored. The rows are
// generated on the server (INSERT ... SELECT FROM numbers()): 1000
// releases of 50 services, 10 KPIs in 20 scopes per lens (600 series per
// release at 10 million points), one point in twenty over budget; findings of 200 services, a third each new, open and
// fixed. Target: p95 < 300 ms.
func BenchmarkGateAnswer(b *testing.B) {
	points, findings := envInt("GATE_BENCH_POINTS", 10_000_000), envInt("GATE_BENCH_FINDINGS", 1_000_000)
	st := chtest.Store(b)
	ctx := context.Background()
	db := st.Database()
	load := time.Now()
	for _, q := range []string{
		`INSERT INTO ` + db + `.kpi_points (tenant, event_id, repository, commit, branch, environment, service, journey, observed_at,
			lens, kpi, scope, value, budget, status, owner, evidence_ids)
		SELECT 'bench', toString(number), 'acme/shop', concat('c', toString(number % 1000)), 'main', 'ci',
			concat('svc-', toString(number % 50)), '', toDateTime(1790000000 + number * 3),
			['performance', 'security', 'scalability'][intDiv(number, 1000) % 3 + 1], concat('kpi_', toString(intDiv(number, 3000) % 10)),
			concat('scope-', toString(intDiv(number, 30000) % 20)), toFloat64(cityHash64(number) % 1000), 950,
			if(cityHash64(number) % 1000 >= 950, 'fail', 'pass'), 'team-bench', emptyArrayString()
		FROM system.numbers LIMIT ` + strconv.Itoa(points),
		`INSERT INTO ` + db + `.finding_lifecycle (tenant, repository, service, branch, tool, fingerprint, state, first_seen, last_seen,
			fixed_at, reopened_at, reopen_count, last_report_id, report_at, severity, category, rule_id, title, cvss_score, aliases,
			package_name, installed_version, fixed_version, path, start_line)
		SELECT 'bench', 'acme/shop', concat('svc-', toString(number % 200)), 'main', 'trivy', toString(number),
			['new', 'open', 'fixed'][number % 3 + 1], toDateTime(1790000000 + number), toDateTime(1790000000 + number),
			toDateTime(0), toDateTime(0), 0, 'report', toDateTime(1790000000 + number),
			['low', 'medium', 'high', 'critical'][intDiv(number, 3) % 4 + 1], 'vulnerability', 'CVE', 'a vulnerability',
			5.0, [concat('CVE-2024-', toString(number % 5000))], 'pkg', '1.0', '1.1',
			concat('src/', toString(number % 100), '/x.go'), 1
		FROM system.numbers LIMIT ` + strconv.Itoa(findings),
	} {
		if err := st.Conn().Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	loaded := time.Since(load)

	pol := policy.Default()
	pol.Owners.DefaultTeam = "team-bench"
	now := time.Unix(1790000000+int64(points)*3, 0)
	p := New(scorecard.New(evidence.Settings{Store: st, Policy: pol, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }}), slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	p.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	const requests = 200
	lat := make([]time.Duration, 0, requests)
	var card scorecard.Scorecard
	b.ResetTimer()
	for i := range requests {
		release := (i * 37) % 1000 // release c<k> is of service svc-<k mod 50>
		u := fmt.Sprintf("%s/v1/gate?tenant=bench&repo=acme/shop&branch=main&service=svc-%d&commit=c%d", srv.URL, release%50, release)
		t0 := time.Now()
		resp, err := http.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&card)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("gate: %s %v", resp.Status, err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	p50, p95 := lat[len(lat)/2], lat[len(lat)*95/100]
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(p95.Microseconds())/1000, "p95_ms")
	var kpis int
	for _, l := range card.Lenses {
		kpis += l.KPIs
	}
	fmt.Printf("| %d | %d | %.0f | %d | %d | %d | %.1f | %.1f | %s |\n", points, findings, loaded.Seconds(), requests, kpis,
		len(card.Items), float64(p50.Microseconds())/1000, float64(p95.Microseconds())/1000, verdictOf(p95 < 300*time.Millisecond))
}

func verdictOf(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
