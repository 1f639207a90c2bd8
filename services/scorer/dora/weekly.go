package dora

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/trilens/trilens/pkg/store"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/regression"
)

// weeklyRows batches dora_weekly (pkg/store/migrations/0901_dora_weekly.sql).
type weeklyRows struct {
	Tenant         []string    `ch:"tenant"`
	Service        []string    `ch:"service"`
	Week           []time.Time `ch:"week"`
	Deploys        []uint32    `ch:"deploys"`
	FailedDeploys  []uint32    `ch:"failed_deploys"`
	ChangeFailRate []float64   `ch:"change_failure_rate"`
	LeadTimeHours  []float64   `ch:"lead_time_hours"`
	Incidents      []uint32    `ch:"incidents"`
	RestoreHours   []float64   `ch:"restore_hours"`
	ComputedAt     []time.Time `ch:"computed_at"`
}

func (r *weeklyRows) add(tenant, service string, week, now time.Time, k Keys) {
	r.Tenant = append(r.Tenant, tenant)
	r.Service = append(r.Service, service)
	r.Week = append(r.Week, week)
	r.Deploys = append(r.Deploys, uint32(k.Deploys))
	r.FailedDeploys = append(r.FailedDeploys, uint32(k.FailedDeploys))
	r.ChangeFailRate = append(r.ChangeFailRate, k.ChangeFailRate)
	r.LeadTimeHours = append(r.LeadTimeHours, k.LeadTimeMedianS/3600)
	r.Incidents = append(r.Incidents, uint32(k.Incidents))
	r.RestoreHours = append(r.RestoreHours, k.RestoreMedianS/3600)
	r.ComputedAt = append(r.ComputedAt, now)
}

func (r *weeklyRows) Name() string                  { return "dora_weekly" }
func (r *weeklyRows) Columns() []string             { return store.ColumnNames(r) }
func (r *weeklyRows) Len() int                      { return len(r.Tenant) }
func (r *weeklyRows) AppendTo(b driver.Batch) error { return store.AppendColumns(b, r) }
func (r *weeklyRows) Reset()                        { store.ResetColumns(r) }

// Monday is the start (UTC) of t's ISO week, as ClickHouse's toMonday.
func Monday(t time.Time) time.Time {
	d := t.UTC().Truncate(24 * time.Hour)
	return d.AddDate(0, 0, -(int(d.Weekday())+6)%7)
}

// weeksTouched are the weeks whose keys a batch may change, per tenant:
// those of its changes and of the regression verdicts judged on its
// evidence, each with the week before (a failure attributes to an earlier
// deploy).
func (p *Processor) weeksTouched(ctx context.Context, evs []*eventv1.Event) (map[string][]time.Time, error) {
	weeks := map[string][]time.Time{}
	add := func(tenant string, t time.Time) {
		for _, w := range []time.Time{Monday(t), Monday(t).AddDate(0, 0, -7)} {
			if !slices.ContainsFunc(weeks[tenant], w.Equal) {
				weeks[tenant] = append(weeks[tenant], w)
			}
		}
	}
	ids := map[string][]string{}
	var lo, hi time.Time
	for _, ev := range evs {
		env := ev.GetEnvelope()
		at := evidence.ObservedAt(env)
		if ev.GetChanges() != nil {
			add(env.GetTenant(), at)
			continue
		}
		ids[env.GetTenant()] = append(ids[env.GetTenant()], env.GetEventId())
		if lo.IsZero() || at.Before(lo) {
			lo = at
		}
		hi = maxTime(hi, at)
	}
	for tenant, list := range ids {
		// The ids are bound into the query's text: in chunks, so a large
		// batch stays under ClickHouse's max_query_size.
		for start := 0; start < len(list); start += idChunk {
			ats, err := p.verdictTimes(ctx, tenant, list[start:min(len(list), start+idChunk)], lo, hi)
			if err != nil {
				return nil, err
			}
			for _, at := range ats {
				add(tenant, at)
			}
		}
	}
	return weeks, nil
}

// idChunk bounds the event ids bound into one query (256 KiB of text at most).
const idChunk = 2000

// verdictTimes are the times of the regression verdicts that name ids.
func (p *Processor) verdictTimes(ctx context.Context, tenant string, ids []string, lo, hi time.Time) ([]time.Time, error) {
	rows, err := p.st.Conn().Query(ctx, `SELECT DISTINCT observed_at FROM `+p.st.Database()+`.verdicts FINAL
		WHERE tenant = ? AND status = 'fail' AND reason IN (?, ?) AND hasAny(evidence_ids, ?)
		  AND observed_at >= ? AND observed_at <= ?`,
		tenant, regression.ReasonRegression, regression.ReasonChangePoint, ids,
		evidence.ClampTime(lo.Add(-24*time.Hour)), evidence.ClampTime(hi.Add(24*time.Hour)))
	if err != nil {
		return nil, fmt.Errorf("regression verdicts of the batch: %w", err)
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var at time.Time
		if err := rows.Scan(&at); err != nil {
			return nil, err
		}
		out = append(out, at)
	}
	return out, rows.Err()
}

// weekly recomputes the keys of the weeks a batch touched.
func (p *Processor) weekly(ctx context.Context, evs []*eventv1.Event) error {
	weeks, err := p.weeksTouched(ctx, evs)
	if err != nil {
		return err
	}
	var rows weeklyRows
	now := evidence.ClampTime(p.now())
	for tenant, ws := range weeks {
		for _, w := range ws {
			rep, err := Build(ctx, p.st, p.pol, Filter{Tenant: tenant, Window: Window{Since: w, Until: w.AddDate(0, 0, 7)}})
			if err != nil {
				return err
			}
			rows.add(tenant, "", w, now, rep.All)
			for s, k := range rep.Services {
				rows.add(tenant, s, w, now, k)
			}
		}
	}
	if rows.Len() == 0 {
		return nil
	}
	return p.st.Insert(ctx, &rows)
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
