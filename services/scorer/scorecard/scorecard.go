// Package scorecard joins the lenses: it builds the scorecard and the gate
// (every gap, most expensive first: KPIs over budget, open findings,
// regression verdicts, trace detections), prices each gap in money
// (severity), applies the risk ledger's waivers, scores the security gates
// and SLO error budgets as KPIs, and builds the weekly report. It reads the
// lenses only through their exported queries; kpi_points, verdicts and
// evidence_log, which every lens writes, it reads itself.
package scorecard

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/trilens/trilens/pkg/store"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/ledger"
	"github.com/trilens/trilens/services/scorer/scan"
)

// Service joins the lenses: it builds the scorecard, the gate, the weekly
// report, KPI history and verdicts for the API, and on every batch sweeps
// the waivers of the batch's tenants, so an expired waiver re-opens what it
// covered without anyone asking.
type Service struct {
	build  *builder
	ledger *ledger.Ledger
	st     *store.Store
	now    func() time.Time
}

// New is the scorecard of the scorer's store, policy and ledger.
func New(set evidence.Settings) *Service {
	return &Service{
		build:  &builder{st: set.Store, pol: set.Policy},
		ledger: ledger.New(set),
		st:     set.Store,
		now:    set.Now,
	}
}

// Ledger is the risk ledger the scorecard applies.
func (p *Service) Ledger() *ledger.Ledger { return p.ledger }

// Now is the scorecard's clock.
func (p *Service) Now() time.Time { return p.now() }

func (p *Service) Name() string { return "scorecard" }

func (p *Service) Process(ctx context.Context, evs []*eventv1.Event) error {
	var tenants []string
	for _, ev := range evs {
		if t := ev.GetEnvelope().GetTenant(); !slices.Contains(tenants, t) {
			tenants = append(tenants, t)
		}
	}
	for _, t := range tenants {
		if _, err := p.ledger.Sweep(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// SweepAll sweeps the waivers of every tenant that has some: the scorer
// runs it on a timer, so a waiver expires (its findings reopen, its expiry
// is recorded and notified) when its time comes, with no evidence arriving
// and no request asking. Idempotent, so replicas may run it side by side.
func (p *Service) SweepAll(ctx context.Context) error {
	tenants, err := p.ledger.Tenants(ctx)
	if err != nil {
		return err
	}
	for _, t := range tenants {
		if _, err := p.ledger.Sweep(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// Scorecard builds the scorecard of f now, with the waivers as they stand
// (an expired one no longer covers anything); it records nothing.
func (p *Service) Scorecard(ctx context.Context, f Filter) (*Scorecard, error) {
	if f.Release != "" && f.Commit == "" {
		c, err := p.releaseCommit(ctx, f)
		if err != nil {
			return nil, err
		}
		f.Commit = c
	}
	ws, err := p.ledger.View(ctx, f.Tenant)
	if err != nil {
		return nil, err
	}
	return p.build.build(ctx, f, ws, p.now())
}

// UnknownRelease is the error of a filter naming a release no evidence names.
type UnknownRelease struct{ Release string }

func (e *UnknownRelease) Error() string { return "no evidence names release " + e.Release }

// releaseCommit is the newest commit evidence of the filter's release was about.
func (p *Service) releaseCommit(ctx context.Context, f Filter) (string, error) {
	conds, args := "tenant = ? AND release = ?", []any{f.Tenant, f.Release}
	for _, c := range []struct{ col, v string }{{"repository", f.Repository}, {"service", f.Service}} {
		if c.v != "" {
			conds, args = conds+" AND "+c.col+" = ?", append(args, c.v)
		}
	}
	var commit string
	var n uint64
	err := p.st.Conn().QueryRow(ctx, `SELECT argMax(commit, observed_at), count() FROM `+p.st.Database()+`.evidence_log
		WHERE `+conds, args...).Scan(&commit, &n)
	if err != nil {
		return "", fmt.Errorf("release %s: %w", f.Release, err)
	}
	if n == 0 || commit == "" {
		return "", &UnknownRelease{f.Release}
	}
	return commit, nil
}

// FixedVulnerabilities are the tenant's vulnerabilities fixed wherever they
// were found, what a VEX document states as fixed.
func (p *Service) FixedVulnerabilities(ctx context.Context, tenant string) ([]scan.FixedVulnerability, error) {
	return scan.FixedVulnerabilities(ctx, p.st, tenant)
}
