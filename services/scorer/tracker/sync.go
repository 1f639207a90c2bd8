// Package tracker keeps issue trackers in step with the scorecard, both
// ways: each blocking gap a rule of the policy's issue_trackers selects
// becomes one issue in GitHub Issues or Jira, updated when the gap
// changes, closed when it is fixed, reopened when it comes back; an issue
// closed as won't fix in the tracker proposes a waiver in the risk ledger,
// pending until an admin accepts it. The gap→issue mapping lives in
// ClickHouse (tracker_issues), and every issue carries a marker label the
// sync searches before it creates one, so a retried sync creates nothing
// twice. It is a periodic reconciliation rather than a consumer of
// verdicts: a gap can close without a verdict, and what people do in the
// tracker reaches Trilens only by asking.
package tracker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/services/scorer/ledger"
	"github.com/trilens/trilens/services/scorer/scorecard"
)

// Settings are the sync's dependencies. Card is the scorecard the gaps
// come from, and its ledger the one waivers are proposed to.
type Settings struct {
	Logger     *slog.Logger
	Store      *store.Store
	Policy     *policy.Policy
	Card       *scorecard.Service
	Registerer prometheus.Registerer
	// Transport, when set, carries the requests to the trackers (tests).
	Transport http.RoundTripper
	// ScorecardURL, when set, is linked from every issue.
	ScorecardURL string
	// Bus, when set, holds the lease that lets one replica sync at a time.
	Bus *bus.Bus
}

// Syncer runs the sync on a timer.
type Syncer struct {
	cfg     Config
	set     Settings
	maps    mappings
	clients map[string]client
	metrics *metrics
	lease   *lease
	cancel  context.CancelFunc
	done    chan struct{}
}

// New builds the sync; the tokens come from the environment (EnvGitHubAuth,
// EnvJiraUser, EnvJiraAuth).
func New(cfg Config, set Settings) (*Syncer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Store == nil || set.Card == nil || set.Policy == nil {
		return nil, errors.New("tracker: Settings.Store, Card and Policy are required")
	}
	if set.Logger == nil {
		set.Logger = slog.Default()
	}
	if set.Transport == nil {
		set.Transport = http.DefaultTransport
	}
	s := &Syncer{cfg: cfg, set: set, maps: mappings{st: set.Store}, clients: map[string]client{}, metrics: newMetrics(set.Registerer)}
	hc := func(name string) *http.Client {
		return &http.Client{Timeout: cfg.Timeout, Transport: &patient{next: set.Transport, attempts: 5, maxWait: cfg.MaxWait,
			now: time.Now, tracker: name, waited: s.metrics.waited}}
	}
	gh, err := newGitHub(cfg.GitHubURL, os.Getenv(EnvGitHubAuth), hc(policy.TrackerGitHub))
	if err != nil {
		return nil, err
	}
	s.clients[policy.TrackerGitHub] = gh
	if cfg.JiraURL != "" {
		s.clients[policy.TrackerJira] = &jira{base: trimSlash(cfg.JiraURL), api: cfg.JiraAPI, user: os.Getenv(EnvJiraUser),
			token: os.Getenv(EnvJiraAuth), hc: hc(policy.TrackerJira)}
	}
	return s, nil
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

// Name of the service.
func (s *Syncer) Name() string { return "trackers" }

// Start syncs every Interval in the background, the first time at once.
func (s *Syncer) Start(startCtx context.Context) error {
	if s.set.Bus != nil {
		l, err := openLease(startCtx, s.set.Bus.JetStream(), max(2*s.cfg.Interval, time.Minute))
		if err != nil {
			return err
		}
		s.lease = l
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.cfg.Interval)
		defer t.Stop()
		for {
			if err := s.round(ctx); err != nil && ctx.Err() == nil {
				s.set.Logger.Warn("tracker sync", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// Stop ends the loop and waits for a sync in flight.
func (s *Syncer) Stop(ctx context.Context) error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("tracker sync stop: %w", ctx.Err())
	}
}

// round syncs unless another replica holds the lease.
func (s *Syncer) round(ctx context.Context) error {
	if len(s.set.Policy.IssueTrackers) == 0 {
		return nil
	}
	if s.lease != nil {
		host, _ := os.Hostname()
		ok, err := s.lease.acquire(ctx, host)
		if err != nil || !ok {
			s.metrics.skipped(err)
			return err
		}
		defer func() {
			if err := s.lease.release(context.WithoutCancel(ctx)); err != nil {
				s.set.Logger.Warn("tracker lease release", "err", err)
			}
		}()
	}
	return s.Sync(ctx)
}

// Sync runs every rule once. A rule's failure does not stop the others;
// their errors come back joined, and the next sync retries what failed.
func (s *Syncer) Sync(ctx context.Context) error {
	start := time.Now()
	var errs []error
	for i, r := range s.set.Policy.IssueTrackers {
		if err := s.syncRule(ctx, r); err != nil {
			errs = append(errs, fmt.Errorf("issue_trackers[%d] (%s): %w", i, r.Tracker, err))
		}
	}
	err := errors.Join(errs...)
	s.metrics.run(err, time.Since(start))
	return err
}

// trackerName names a rule's repository or project in the mapping.
func trackerName(r policy.IssueTracker) string {
	if r.Tracker == policy.TrackerGitHub {
		return "github:" + r.Repository
	}
	return "jira:" + r.Project
}

// ruleRun is one rule's sync: the gaps, the mappings, and where they go.
type ruleRun struct {
	s       *Syncer
	r       policy.IssueTracker
	c       client
	tenant  string
	tracker string
	maps    map[string]mapping
	waivers map[string]ledger.Waiver
	now     time.Time
}

func (s *Syncer) syncRule(ctx context.Context, r policy.IssueTracker) error {
	c, ok := s.clients[r.Tracker]
	if !ok {
		return fmt.Errorf("no %s tracker configured (trackers.jira-url)", r.Tracker)
	}
	tenant := r.Tenant
	if tenant == "" {
		tenant = s.set.Policy.Tenant
	}
	card, err := s.set.Card.Scorecard(ctx, scorecard.Filter{Tenant: tenant, Branch: s.set.Policy.Regression.BaseBranch})
	if err != nil {
		return err
	}
	run := &ruleRun{s: s, r: r, c: c, tenant: tenant, tracker: trackerName(r), now: s.set.Card.Now().UTC()}
	if run.maps, err = s.maps.Load(ctx, tenant, run.tracker); err != nil {
		return err
	}
	ws, err := s.set.Card.Ledger().View(ctx, tenant)
	if err != nil {
		return err
	}
	run.waivers = map[string]ledger.Waiver{}
	for _, w := range ws {
		run.waivers[w.ID] = w
	}
	var errs []error
	blocking := map[string]bool{}
	for _, g := range gapsOf(s.set.Policy, r, tenant, card, s.set.ScorecardURL) {
		blocking[g.id] = true
		if err := run.gap(ctx, g); err != nil {
			errs = append(errs, err)
		}
	}
	for id, m := range run.maps {
		if !blocking[id] && m.State == stateOpen {
			if err := run.fixed(ctx, m); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// gap brings a blocking gap's issue in step: found or created, updated,
// reopened, or turned into a waiver proposal when closed as won't fix.
func (run *ruleRun) gap(ctx context.Context, g gap) error {
	m, mapped := run.maps[g.id]
	var is *issue
	var err error
	if mapped {
		is, err = run.c.Get(ctx, run.r, m.Key)
		if errors.Is(err, errGone) {
			mapped, err = false, nil // deleted in the tracker: the gap needs a new issue
		}
		if err != nil {
			return err
		}
	}
	if !mapped {
		if is, err = run.c.Find(ctx, run.r, g.d.Marker); err != nil {
			return err
		}
		if is == nil {
			if is, err = run.c.Create(ctx, run.r, g.d); err != nil {
				return err
			}
			run.s.metrics.action(run.r.Tracker, "created")
			return run.save(ctx, mapping{GapID: g.id, Key: is.Key, URL: is.URL, State: stateOpen, Digest: g.d.digest})
		}
		run.s.metrics.action(run.r.Tracker, "adopted")
		// A found issue's text may be older than the gap's: update it below.
		m = mapping{GapID: g.id, Key: is.Key, URL: is.URL, State: stateOpen}
	}
	return run.reconcile(ctx, g, m, is)
}

// reconcile acts on a gap that blocks and its issue as the tracker has it.
func (run *ruleRun) reconcile(ctx context.Context, g gap, m mapping, is *issue) error {
	switch {
	case is.WontFix:
		w, known := run.waivers[m.WaiverID]
		if m.State == stateWontFix && (!known || w.State == ledger.WaiverPending || w.State == ledger.WaiverActive) {
			return nil // waiting for an admin, or accepted and not yet applied
		}
		if m.State == stateWontFix {
			// The waiver was revoked or expired: the gap is back.
			return run.reopen(ctx, g, m)
		}
		return run.propose(ctx, g, m, is)
	case !is.Open:
		// Closed as done, by the sync (fixed) or by someone, while the gap blocks.
		return run.reopen(ctx, g, m)
	case m.Digest != g.d.digest || m.State != stateOpen:
		if err := run.c.Update(ctx, run.r, m.Key, g.d); err != nil {
			return err
		}
		run.s.metrics.action(run.r.Tracker, "updated")
		m.State, m.Digest = stateOpen, g.d.digest
		return run.save(ctx, m)
	}
	return nil
}

func (run *ruleRun) reopen(ctx context.Context, g gap, m mapping) error {
	if err := run.c.Update(ctx, run.r, m.Key, g.d); err != nil {
		return err
	}
	if err := run.c.Reopen(ctx, run.r, m.Key); err != nil {
		return err
	}
	run.s.metrics.action(run.r.Tracker, "reopened")
	m.State, m.Digest, m.WaiverID = stateOpen, g.d.digest, ""
	return run.save(ctx, m)
}

// propose records the pending waiver an issue closed as won't fix asks for.
func (run *ruleRun) propose(ctx context.Context, g gap, m mapping, is *issue) error {
	it := g.item
	w := ledger.Waiver{ID: "tracker-" + g.id[:12] + "-" + run.now.Format("20060102"), Source: ledger.WaiverSourceTracker,
		Lens: it.Lens, Target: it.Key, Scope: it.Scope, Owner: it.Owner,
		Reason:    "closed as won't fix in " + run.tracker + " (" + is.URL + ")",
		ExpiresAt: run.now.AddDate(0, 0, run.s.cfg.WaiverDays)}
	if w.Scope == "" {
		w.Scope = it.Service
	}
	if _, err := run.s.set.Card.Ledger().Propose(ctx, run.tenant, w, run.tracker, run.now.Truncate(time.Second)); err != nil {
		return err
	}
	run.s.metrics.action(run.r.Tracker, "waiver_proposed")
	run.s.set.Logger.Info("won't fix proposes a waiver", "tenant", run.tenant, "issue", is.URL, "waiver", w.ID, "target", w.Target)
	m.State, m.WaiverID = stateWontFix, w.ID
	return run.save(ctx, m)
}

// fixed closes the issue of a gap that no longer blocks.
func (run *ruleRun) fixed(ctx context.Context, m mapping) error {
	is, err := run.c.Get(ctx, run.r, m.Key)
	if errors.Is(err, errGone) {
		m.State = stateFixed
		return run.save(ctx, m)
	}
	if err != nil {
		return err
	}
	if is.Open {
		if err := run.c.Close(ctx, run.r, m.Key); err != nil {
			return err
		}
		run.s.metrics.action(run.r.Tracker, "closed")
	}
	m.State = stateFixed
	return run.save(ctx, m)
}

func (run *ruleRun) save(ctx context.Context, m mapping) error {
	return run.s.maps.Save(ctx, run.tenant, run.tracker, m, time.Now())
}
