package dora

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/services/scorer/owners"
	"github.com/trilens/trilens/services/scorer/regression"
)

// lookback is how far before the window deploys are read, so a failure
// early in the window finds the deploy that caused it.
const lookback = 30 * 24 * time.Hour

// Report is the four keys of a tenant, per service and per team.
type Report struct {
	Tenant   string          `json:"tenant"`
	Since    time.Time       `json:"since"`
	Until    time.Time       `json:"until"`
	All      Keys            `json:"all"`
	Services map[string]Keys `json:"services"`
	Teams    map[string]Keys `json:"teams"`
}

// Filter narrows a report to a service or a team (the policy's owner).
type Filter struct {
	Tenant, Service, Team string
	Window
}

// Build reads the changes and regression verdicts of f and computes the keys.
func Build(ctx context.Context, st *store.Store, pol *policy.Policy, f Filter) (*Report, error) {
	changes, err := LoadChanges(ctx, st, f.Tenant, f.Since.Add(-lookback), f.Until)
	if err != nil {
		return nil, err
	}
	regs, err := LoadRegressions(ctx, st, f.Tenant, f.Since.Add(-lookback), f.Until)
	if err != nil {
		return nil, err
	}
	team := func(service string) string { return owners.Of(pol, "", "", "", service) }
	keep := func(service string) bool {
		return (f.Service == "" || service == f.Service) && (f.Team == "" || team(service) == f.Team)
	}
	changes = slices.DeleteFunc(changes, func(c Change) bool { return !keep(c.Service) })
	regs = slices.DeleteFunc(regs, func(r Regression) bool { return !keep(r.Service) })
	rep := &Report{Tenant: f.Tenant, Since: f.Since, Until: f.Until, All: Compute(changes, regs, f.Window),
		Services: map[string]Keys{}, Teams: map[string]Keys{}}
	services, teams := map[string]bool{}, map[string]bool{}
	for _, c := range changes {
		if c.Service != "" {
			services[c.Service], teams[team(c.Service)] = true, true
		}
	}
	for s := range services {
		in := func(svc string) bool { return svc == s }
		rep.Services[s] = Compute(only(changes, in), onlyRegs(regs, in), f.Window)
	}
	for t := range teams {
		in := func(svc string) bool { return svc != "" && team(svc) == t }
		rep.Teams[t] = Compute(only(changes, in), onlyRegs(regs, in), f.Window)
	}
	return rep, nil
}

func only(cs []Change, in func(string) bool) []Change {
	return slices.DeleteFunc(slices.Clone(cs), func(c Change) bool { return !in(c.Service) })
}

func onlyRegs(rs []Regression, in func(string) bool) []Regression {
	return slices.DeleteFunc(slices.Clone(rs), func(r Regression) bool { return !in(r.Service) })
}

// finalStatus ranks a change's states: a final state wins over a running
// or open one stored at the same time.
func finalStatus(s string) int {
	if s == "running" || s == "open" {
		return 0
	}
	return 1
}

// LoadChanges reads the latest state of every change of tenant stored in
// [from, until): the last event of its id.
func LoadChanges(ctx context.Context, st *store.Store, tenant string, from, until time.Time) ([]Change, error) {
	rows, err := st.Conn().Query(ctx, `SELECT change_id, type, status, service, environment, commit, title, rollback_of,
		  artifact_digest, event_id, started_at, finished_at, commit_shas, commit_times, observed_at
		FROM `+st.Database()+`.changes FINAL
		WHERE tenant = ? AND observed_at >= ? AND observed_at < ?
		ORDER BY observed_at, event_id, idx`, tenant, from, until)
	if err != nil {
		return nil, fmt.Errorf("changes: %w", err)
	}
	defer rows.Close()
	latest := map[string]int{}
	var out []Change
	var stamps []time.Time
	for rows.Next() {
		var c Change
		var shas []string
		var times []time.Time
		var observed time.Time
		if err := rows.Scan(&c.ID, &c.Type, &c.Status, &c.Service, &c.Environment, &c.Commit, &c.Title, &c.RollbackOf,
			&c.ArtifactDigest, &c.EventID, &c.Started, &c.Finished, &shas, &times, &observed); err != nil {
			return nil, err
		}
		for i, sha := range shas {
			cm := Commit{SHA: sha}
			if i < len(times) {
				cm.At = times[i]
			}
			c.Commits = append(c.Commits, cm)
		}
		i, seen := latest[c.ID]
		switch {
		case !seen:
			latest[c.ID] = len(out)
			out, stamps = append(out, c), append(stamps, observed)
		case observed.After(stamps[i]) || observed.Equal(stamps[i]) && finalStatus(c.Status) >= finalStatus(out[i].Status):
			out[i], stamps[i] = c, observed
		}
	}
	return out, rows.Err()
}

// LoadRegressions reads the failing regression verdicts of tenant in
// production (or without an environment, as production traces often are)
// in [from, until).
func LoadRegressions(ctx context.Context, st *store.Store, tenant string, from, until time.Time) ([]Regression, error) {
	rows, err := st.Conn().Query(ctx, `SELECT verdict_id, service, lens, kpi, observed_at
		FROM `+st.Database()+`.verdicts FINAL
		WHERE tenant = ? AND status = 'fail' AND reason IN (?, ?) AND environment IN ('production', '')
		  AND observed_at >= ? AND observed_at < ?
		ORDER BY observed_at, verdict_id`, tenant, regression.ReasonRegression, regression.ReasonChangePoint, from, until)
	if err != nil {
		return nil, fmt.Errorf("regression verdicts: %w", err)
	}
	defer rows.Close()
	var out []Regression
	for rows.Next() {
		var r Regression
		if err := rows.Scan(&r.ID, &r.Service, &r.Lens, &r.KPI, &r.At); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
