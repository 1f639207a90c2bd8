package scorer

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/trilens/trilens/pkg/store"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

// scorecard joins the lenses: it serves the scorecard, the gate, KPI
// history, findings, verdicts and the risk ledger (api_scorecard.go), and
// on every batch sweeps the waivers of the batch's tenants, so an expired
// waiver re-opens what it covered without anyone asking.
type scorecard struct {
	build  *builder
	ledger *ledger
	st     *store.Store
	log    *slog.Logger
	now    func() time.Time
}

func newScorecard(set Settings) *scorecard {
	return &scorecard{
		build:  &builder{st: set.Store, pol: set.Policy},
		ledger: &ledger{st: set.Store, pol: set.Policy, bus: set.Bus, log: set.Logger, now: set.Now},
		st:     set.Store,
		log:    set.Logger,
		now:    set.Now,
	}
}

func (p *scorecard) Name() string { return "scorecard" }

func (p *scorecard) Process(ctx context.Context, evs []*eventv1.Event) error {
	var tenants []string
	for _, ev := range evs {
		if t := ev.GetEnvelope().GetTenant(); !slices.Contains(tenants, t) {
			tenants = append(tenants, t)
		}
	}
	for _, t := range tenants {
		if _, err := p.ledger.sweep(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// Scorecard builds the scorecard of f now, after sweeping expired waivers.
func (p *scorecard) scorecard(ctx context.Context, f Filter) (*Scorecard, error) {
	if f.Release != "" && f.Commit == "" {
		c, err := p.releaseCommit(ctx, f)
		if err != nil {
			return nil, err
		}
		f.Commit = c
	}
	ws, err := p.ledger.sweep(ctx, f.Tenant)
	if err != nil {
		return nil, err
	}
	return p.build.build(ctx, f, ws, p.now())
}

type unknownRelease struct{ release string }

func (e *unknownRelease) Error() string { return "no evidence names release " + e.release }

// releaseCommit is the newest commit evidence of the filter's release was about.
func (p *scorecard) releaseCommit(ctx context.Context, f Filter) (string, error) {
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
		return "", &unknownRelease{f.Release}
	}
	return commit, nil
}
