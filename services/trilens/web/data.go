package web

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/trilens/trilens/pkg/kpinames"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/services/scorer/scorecard"
	"github.com/trilens/trilens/services/scorer/trace"
)

// Lenses in the order the page shows them.
var Lenses = []string{"performance", "security", "scalability"}

// KPI is the latest value of one KPI on one scope.
type KPI struct {
	Lens, KPI, Scope, Owner, Status string
	Value, Budget                   float64
	UpdatedAt                       time.Time
}

// Name is the KPI's human name.
func (k KPI) Name() string { return kpinames.Name(k.KPI) }

// Week is one point of a lens's trend: the share of KPI points within budget.
type Week struct {
	Start     time.Time
	PassRatio float64
	Points    uint64
}

// Journey is one journey's latest p95 against its budget, with what the
// trace lens found in it.
type Journey struct {
	Service, Name, Status string
	P95, Budget           float64
	UpdatedAt             time.Time
	Detections            int
	NPlusOne              int
}

// Detection is a trace anti-pattern summed over its windows.
type Detection struct {
	Service, Journey, Type, Operation, Parent string
	Occurrences, Affected, SavingsMs          float64
	FirstSeen, LastSeen                       time.Time
}

// Hop is the latest p95 of one hop class of a journey against its share of
// the budget.
type Hop struct {
	Journey, Hop, Status string
	P95, Budget          float64
}

// reader runs the page's queries: the dash_* views the Grafana dashboards
// read, and the trace lens's exported query for nothing it does not have.
type reader struct{ st *store.Store }

// tenants lists the tenants with KPI points.
func (r reader) tenants(ctx context.Context) ([]string, error) {
	rows, err := r.st.Conn().Query(ctx, "SELECT DISTINCT tenant FROM "+r.st.Database()+".dash_kpi_latest ORDER BY tenant")
	if err != nil {
		return nil, fmt.Errorf("tenants: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// latestKPIs reads the newest value of every KPI of the tenant, failing
// first; of one service when service is not empty.
func (r reader) latestKPIs(ctx context.Context, tenant, service string) ([]KPI, error) {
	q := `SELECT lens, kpi, scope, owner, value, budget, status, updated_at FROM ` + r.st.Database() + `.dash_kpi_latest
		WHERE tenant = ? ORDER BY lens, status = 'pass', status = 'warn', kpi, scope`
	args := []any{tenant}
	if service != "" {
		q = `SELECT lens, kpi, scope, argMax(owner, observed_at), argMax(value, observed_at), argMax(budget, observed_at),
			argMax(status, observed_at) AS st, max(observed_at) FROM ` + r.st.Database() + `.dash_kpi_points
			WHERE tenant = ? AND service = ? GROUP BY lens, kpi, scope ORDER BY lens, st = 'pass', st = 'warn', kpi, scope`
		args = append(args, service)
	}
	rows, err := r.st.Conn().Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("kpis: %w", err)
	}
	defer rows.Close()
	var out []KPI
	for rows.Next() {
		var k KPI
		if err := rows.Scan(&k.Lens, &k.KPI, &k.Scope, &k.Owner, &k.Value, &k.Budget, &k.Status, &k.UpdatedAt); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// trendWeeks is how far back the weekly trend charts go.
const trendWeeks = 12

// weekly reads each lens's weekly share of KPI points within budget.
func (r reader) weekly(ctx context.Context, tenant string) (map[string][]Week, error) {
	rows, err := r.st.Conn().Query(ctx, `SELECT lens, toDateTime(week) AS start, pass_ratio, points FROM `+r.st.Database()+`.dash_kpi_weekly
		WHERE tenant = ? AND week >= toMonday(today() - ?) ORDER BY lens, week`, tenant, 7*trendWeeks)
	if err != nil {
		return nil, fmt.Errorf("trend: %w", err)
	}
	defer rows.Close()
	out := map[string][]Week{}
	for rows.Next() {
		var lens string
		var w Week
		if err := rows.Scan(&lens, &w.Start, &w.PassRatio, &w.Points); err != nil {
			return nil, err
		}
		out[lens] = append(out[lens], w)
	}
	return out, rows.Err()
}

// journeys reads every journey's latest p95 against its budget, with its
// detection counts; of one service when service is not empty.
func (r reader) journeys(ctx context.Context, tenant, service string) ([]Journey, error) {
	where, args := "tenant = ? AND kpi = ?", []any{tenant, trace.KPIJourneyP95}
	if service != "" {
		where, args = where+" AND service = ?", append(args, service)
	}
	rows, err := r.st.Conn().Query(ctx, `SELECT service, scope, argMax(value, observed_at), argMax(budget, observed_at),
		argMax(status, observed_at), max(observed_at) FROM `+r.st.Database()+`.dash_kpi_points
		WHERE `+where+` GROUP BY service, scope ORDER BY service, scope`, args...)
	if err != nil {
		return nil, fmt.Errorf("journeys: %w", err)
	}
	defer rows.Close()
	var out []Journey
	for rows.Next() {
		var j Journey
		if err := rows.Scan(&j.Service, &j.Name, &j.P95, &j.Budget, &j.Status, &j.UpdatedAt); err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	dets, err := r.detections(ctx, tenant, service)
	if err != nil {
		return nil, err
	}
	for i := range out {
		for _, d := range dets {
			if d.Service == out[i].Service && d.Journey == out[i].Name {
				out[i].Detections++
				if d.Type == "n_plus_one" {
					out[i].NPlusOne++
				}
			}
		}
	}
	return out, nil
}

// detections reads the trace anti-patterns of the tenant, most time saved
// by a fix first.
func (r reader) detections(ctx context.Context, tenant, service string) ([]Detection, error) {
	where, args := "tenant = ?", []any{tenant}
	if service != "" {
		where, args = where+" AND service = ?", append(args, service)
	}
	rows, err := r.st.Conn().Query(ctx, `SELECT service, journey, type, operation, parent_operation, occurrences, affected_traces,
		savings_ms, first_seen, last_seen FROM `+r.st.Database()+`.dash_detections WHERE `+where+` ORDER BY savings_ms DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("detections: %w", err)
	}
	defer rows.Close()
	var out []Detection
	for rows.Next() {
		var d Detection
		if err := rows.Scan(&d.Service, &d.Journey, &d.Type, &d.Operation, &d.Parent, &d.Occurrences, &d.Affected,
			&d.SavingsMs, &d.FirstSeen, &d.LastSeen); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// hops reads the latest p95 of each hop of the service's journeys.
func (r reader) hops(ctx context.Context, tenant, service string) ([]Hop, error) {
	rows, err := r.st.Conn().Query(ctx, `SELECT scope, argMax(value, observed_at), argMax(budget, observed_at), argMax(status, observed_at)
		FROM `+r.st.Database()+`.dash_kpi_points WHERE tenant = ? AND service = ? AND kpi = ? GROUP BY scope ORDER BY scope`,
		tenant, service, trace.KPIHopP95)
	if err != nil {
		return nil, fmt.Errorf("hops: %w", err)
	}
	defer rows.Close()
	var out []Hop
	for rows.Next() {
		var h Hop
		var scope string
		if err := rows.Scan(&scope, &h.P95, &h.Budget, &h.Status); err != nil {
			return nil, err
		}
		h.Journey, h.Hop = splitHopScope(scope)
		out = append(out, h)
	}
	return out, rows.Err()
}

// splitHopScope splits a hop KPI's scope, "<journey>/<hop>".
func splitHopScope(s string) (journey, hop string) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// services lists the services of the tenant's evidence and KPI points.
func (r reader) services(ctx context.Context, tenant string) ([]string, error) {
	rows, err := r.st.Conn().Query(ctx, `SELECT DISTINCT service FROM `+r.st.Database()+`.dash_kpi_points
		WHERE tenant = ? AND service != '' ORDER BY service`, tenant)
	if err != nil {
		return nil, fmt.Errorf("services: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// itemsOf keeps the scorecard items that pass keep, most expensive first
// (the scorecard's order).
func itemsOf(card *scorecard.Scorecard, keep func(scorecard.Item) bool) []scorecard.Item {
	var out []scorecard.Item
	for _, it := range card.Items {
		if keep(it) {
			out = append(out, it)
		}
	}
	return out
}

// distinct lists the distinct non-empty values of f over items, sorted.
func distinct(items []scorecard.Item, f func(scorecard.Item) string) []string {
	var out []string
	for _, it := range items {
		if v := f(it); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, cmp.Compare[string])
	return out
}
