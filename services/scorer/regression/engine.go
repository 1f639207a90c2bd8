// Package regression is the regression engine: it judges every new KPI
// point against its baseline on the base branch (a prediction t-test) and
// looks for lasting shifts (change points), and says so with verdicts.
package regression

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	scorev1 "github.com/trilens/trilens/proto/trilens/score/v1"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/load"
	"github.com/trilens/trilens/services/scorer/owners"
	"github.com/trilens/trilens/services/scorer/sbom"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Verdict reasons of the regression engine.
const (
	ReasonRegression  = "regression"
	ReasonChangePoint = "change_point"
)

// lowerIsWorse are the KPIs that get worse as they fall.
var lowerIsWorse = []string{load.KPILoadMaxSustainableRPS, load.KPILoadHeadroom, load.KPIWebScore,
	sbom.KPISBOMSignedShare, sbom.KPISBOMProvenance, sbom.KPISBOMSLSALevel}

// notSeries are KPIs that are flags or counts of a run, not measurements:
// they mark failed runs instead of being compared.
var notSeries = []string{load.KPILoadThresholdsFailed, load.KPILoadGeneratorSat}

// Engine compares every new KPI point with its baseline: the
// min_samples to baseline_runs most recent points of the same series
// (lens, KPI, scope, service, environment) on the base branch (the
// subject's base branch, else regression.base_branch; points without a
// branch, such as production traces, compare with their own history).
// Points of failed runs (a load run whose thresholds failed, that served
// no requests or whose load generator saturated) never enter a baseline. The test is judgeKPI; over the baseline and the
// new point, changePoint looks for a lasting shift. Each finding is a
// verdict, stored in verdicts and published on the verdicts stream, with
// an id derived from its evidence, so replays add nothing.
type Engine struct {
	st  *store.Store
	pol *policy.Policy
	bus *bus.Bus
	log *slog.Logger
}

// New judges the KPI points of set's store against set's policy.
func New(set evidence.Settings) *Engine {
	return &Engine{st: set.Store, pol: set.Policy, bus: set.Bus, log: set.Logger}
}

func (p *Engine) Name() string { return "regressions" }

// newPoint is a KPI point of the batch.
type newPoint struct {
	store.KPIPoint
	base string
}

func (pt *newPoint) series() string {
	return strings.Join([]string{pt.Lens, pt.KPI, pt.KPIScope, pt.Service, pt.Environment}, "\x00")
}

func (p *Engine) Process(ctx context.Context, evs []*eventv1.Event) error {
	byTenant := map[string][]*eventv1.Envelope{}
	for _, ev := range evs {
		switch ev.GetPayload().(type) {
		case *eventv1.Event_Scan, *eventv1.Event_Changes:
			continue // they carry no KPI points
		}
		env := ev.GetEnvelope()
		byTenant[env.GetTenant()] = append(byTenant[env.GetTenant()], env)
	}
	var verdicts []*eventv1.Event
	for tenant, envs := range byTenant {
		pts, err := p.batchPoints(ctx, tenant, envs)
		if err != nil {
			return err
		}
		if len(pts) == 0 {
			continue
		}
		vs, err := p.judge(ctx, tenant, pts, envs)
		if err != nil {
			return err
		}
		verdicts = append(verdicts, vs...)
	}
	if len(verdicts) == 0 {
		return nil
	}
	var rows store.VerdictRows
	for _, v := range verdicts {
		rows.Append(evidence.VerdictRowOf(v, evidence.EnumName(v.GetVerdict().GetLens(), "LENS_")))
	}
	if err := p.st.Insert(ctx, &rows); err != nil {
		return err
	}
	if p.bus != nil {
		return p.bus.Publish(ctx, verdicts...)
	}
	return nil
}

// batchPoints reads the KPI points the lens processors derived from envs.
// Points are dated by the window or run they describe, close to the
// envelope's time; the day either side bounds the scan to a partition or two.
func (p *Engine) batchPoints(ctx context.Context, tenant string, envs []*eventv1.Envelope) ([]newPoint, error) {
	ids := make([]string, len(envs))
	lo, hi := evidence.ObservedAt(envs[0]), evidence.ObservedAt(envs[0])
	bases := map[string]string{}
	for i, env := range envs {
		ids[i] = env.GetEventId()
		t := evidence.ObservedAt(env)
		lo, hi = minTime(lo, t), maxTime(hi, t)
		bases[env.GetEventId()] = env.GetSubject().GetBaseBranch()
	}
	// No FINAL: it would merge the whole partition; a point stored twice
	// (a replayed insert) is dropped below instead.
	rows, err := p.st.Conn().Query(ctx, `SELECT lens, kpi, scope, service, journey, repository, commit, branch, environment,
		event_id, observed_at, value, budget, owner
		FROM `+p.st.Database()+`.kpi_points
		PREWHERE has(?, event_id)
		WHERE tenant = ? AND observed_at BETWEEN ? AND ?`,
		ids, tenant, lo.Add(-24*time.Hour), hi.Add(24*time.Hour))
	if err != nil {
		return nil, fmt.Errorf("batch kpi points: %w", err)
	}
	defer rows.Close()
	var out []newPoint
	seen := map[string]bool{}
	for rows.Next() {
		var pt newPoint
		pt.Tenant = tenant
		if err := rows.Scan(&pt.Lens, &pt.KPI, &pt.KPIScope, &pt.Service, &pt.Journey, &pt.Repository, &pt.Commit, &pt.Branch,
			&pt.Environment, &pt.EventID, &pt.ObservedAt, &pt.Value, &pt.Budget, &pt.Owner); err != nil {
			return nil, err
		}
		key := pt.series() + "\x00" + pt.EventID + "\x00" + pt.ObservedAt.String()
		if seen[key] || slices.Contains(notSeries, pt.KPI) || strings.HasPrefix(pt.KPI, "slo_") {
			continue // SLO points are judged by their burn rates, not against history
		}
		seen[key] = true
		pt.base = bases[pt.EventID]
		switch {
		case pt.Branch == "":
			pt.base = ""
		case pt.base == "":
			pt.base = p.pol.Regression.BaseBranch
		}
		out = append(out, pt)
	}
	return out, rows.Err()
}

// sample is one baseline value.
type sample struct {
	at    time.Time
	value float64
}

// judge reads the baselines of the points' series and judges each point.
func (p *Engine) judge(ctx context.Context, tenant string, pts []newPoint, envs []*eventv1.Envelope) ([]*eventv1.Event, error) {
	reg := p.pol.Regression
	n := max(reg.BaselineRuns, reg.MinSamples, 3)
	batchIDs := make([]string, len(envs))
	for i, env := range envs {
		batchIDs[i] = env.GetEventId()
	}
	byBase := map[string][]newPoint{}
	for _, pt := range pts {
		byBase[pt.base] = append(byBase[pt.base], pt)
	}
	var out []*eventv1.Event
	for base, list := range byBase {
		latest := list[0].ObservedAt
		for _, pt := range list {
			latest = maxTime(latest, pt.ObservedAt)
		}
		// The recent window first, so the cost does not grow with the
		// series' history; a series with fewer than 2n points in it reads
		// its whole history again, so the baselines are the same either way.
		history, err := p.baselines(ctx, tenant, base, list, latest, batchIDs, latest.Add(-baselineWindow), 2*n)
		if err != nil {
			return nil, err
		}
		var short []newPoint
		for _, pt := range list {
			if len(history[pt.series()]) < 2*n {
				short = append(short, pt)
			}
		}
		if len(short) > 0 {
			older, err := p.baselines(ctx, tenant, base, short, latest, batchIDs, time.Unix(0, 0), 2*n)
			if err != nil {
				return nil, err
			}
			maps.Copy(history, older)
		}
		for _, pt := range list {
			var baseline []sample // oldest first
			for _, s := range history[pt.series()] {
				if s.at.Before(pt.ObservedAt) && len(baseline) < n {
					baseline = append(baseline, s)
				}
			}
			slices.Reverse(baseline)
			out = append(out, p.verdicts(pt, baseline)...)
		}
	}
	return out, nil
}

// baselineWindow is how far back the baselines are read first.
const baselineWindow = 30 * 24 * time.Hour

// baselines reads, for the series of pts, the newest perSeries values on
// base at or before latest and not before since, newest first, by series.
func (p *Engine) baselines(ctx context.Context, tenant, base string, pts []newPoint, latest time.Time, batchIDs []string,
	since time.Time, perSeries int) (map[string][]sample, error) {
	var tuples, envs []string
	for _, pt := range pts {
		t := "(" + quote(pt.Lens) + ", " + quote(pt.KPI) + ", " + quote(pt.KPIScope) + ", " + quote(pt.Service) + ")"
		if !slices.Contains(tuples, t) {
			tuples = append(tuples, t)
		}
		if e := quote(pt.Environment); !slices.Contains(envs, e) {
			envs = append(envs, e)
		}
	}
	db := p.st.Database()
	// The tuple is a prefix of kpi_points' key, so only the series' ranges
	// are read. Duplicates of a point (replayed inserts) collapse in the
	// GROUP BY instead of a FINAL. Twice n per series: several points of
	// one series in a batch each need the n values before their own time.
	q := `SELECT lens, kpi, scope, service, environment, observed_at, any(value) FROM ` + db + `.kpi_points
		WHERE tenant = ? AND (lens, kpi, scope, service) IN (` + strings.Join(tuples, ", ") + `)
		  AND environment IN (` + strings.Join(envs, ", ") + `) AND branch = ?
		  AND observed_at <= ? AND observed_at >= ? AND NOT has(?, event_id)
		  AND event_id NOT IN (SELECT event_id FROM ` + db + `.kpi_points
		    WHERE tenant = ? AND lens = '` + evidence.LensScalability + `' AND kpi IN ('` + strings.Join(notSeries, "', '") + `') AND value > 0)
		  AND event_id NOT IN (SELECT event_id FROM ` + db + `.load_runs
		    WHERE tenant = ? AND scenario = '' AND (thresholds_passed = 0 OR requests = 0))
		GROUP BY lens, kpi, scope, service, environment, observed_at, event_id
		ORDER BY observed_at DESC LIMIT ` + fmt.Sprint(perSeries) + ` BY lens, kpi, scope, service, environment`
	rows, err := p.st.Conn().Query(ctx, q, tenant, base, latest, since, batchIDs, tenant, tenant)
	if err != nil {
		return nil, fmt.Errorf("kpi baselines: %w", err)
	}
	defer rows.Close()
	history := map[string][]sample{} // newest first
	for rows.Next() {
		var lens, kpi, scope, service, env string
		var s sample
		if err := rows.Scan(&lens, &kpi, &scope, &service, &env, &s.at, &s.value); err != nil {
			return nil, err
		}
		k := strings.Join([]string{lens, kpi, scope, service, env}, "\x00")
		history[k] = append(history[k], s)
	}
	return history, rows.Err()
}

// verdicts judges one point against its baseline (oldest first).
func (p *Engine) verdicts(pt newPoint, history []sample) []*eventv1.Event {
	reg := p.pol.Regression
	baseline := make([]float64, len(history))
	for i, s := range history {
		baseline[i] = s.value
	}
	worseUp := !slices.Contains(lowerIsWorse, pt.KPI)
	var out []*eventv1.Event
	j, ok := judgeKPI(pt.Value, baseline, worseUp, reg.MinSamples, reg.Threshold, reg.Confidence)
	if !ok {
		return nil
	}
	owner := owners.Of(p.pol, pt.Owner, "", pt.Journey, pt.Service)
	if j.Regressed {
		out = append(out, p.verdict(pt, ReasonRegression, j.Mean, j.P, owner,
			regressionSummary(pt.KPIScope, pt.KPI, pt.Value, j, evidence.Or(pt.base, "its own history"))))
	}
	// A lasting shift: a change point with at least three values on each
	// side whose later mean is worse by more than the threshold. Every split
	// is a test, so the p-value must pass a Bonferroni-corrected level.
	series := append(slices.Clone(baseline), pt.Value)
	const minSeg = 3
	if at, before, after, pv, found := changePoint(series, minSeg); found && len(series) >= 2*minSeg {
		splits := float64(len(series) - 2*minSeg + 1)
		change := (after - before) / max(abs(before), 1e-12)
		if !worseUp {
			change = -change
		}
		if pv < (1-reg.Confidence)/splits && change > reg.Threshold {
			shift := p.verdict(pt, ReasonChangePoint, before, pv, owner,
				shiftSummary(pt.KPIScope, pt.KPI, change, len(series)-at, before, after, pv))
			// One verdict per shift: its id is the series and the time it
			// began, and so is its time (the first point of the new regime),
			// so DORA attributes it to the last deploy before the series
			// changed, not before it was noticed, and each re-judging of the
			// shift writes the same row.
			began := pt.ObservedAt
			if at < len(history) {
				began = history[at].at
			}
			id := events.ID(pt.Tenant, "verdict", ReasonChangePoint, pt.series(), began.UTC().Format(time.RFC3339))
			shift.GetVerdict().VerdictId, shift.Envelope.EventId = id, id
			shift.Envelope.ObservedAt = timestamppb.New(began)
			out = append(out, shift)
		}
	}
	return out
}

func (p *Engine) verdict(pt newPoint, reason string, baseline, pv float64, owner, summary string) *eventv1.Event {
	id := events.ID(pt.Tenant, "verdict", reason, pt.EventID, pt.series())
	v := &scorev1.Verdict{
		VerdictId: id, Lens: evidence.LensEnum(pt.Lens), Kpi: pt.KPI, Scope: pt.KPIScope, Status: scorev1.Status_STATUS_FAIL,
		Reason: reason, Value: pt.Value, Baseline: baseline, Budget: pt.Budget, Test: KPITest, PValue: pv,
		Owner: owner, Summary: summary, EvidenceIds: []string{pt.EventID},
	}
	sub := &eventv1.Subject{Repository: pt.Repository, Commit: pt.Commit, Branch: pt.Branch, BaseBranch: pt.base,
		Service: pt.Service, Journey: pt.Journey, Environment: environmentEnum(pt.Environment)}
	env := events.NewEnvelope(id, pt.Tenant, eventv1.Kind_KIND_VERDICT, &eventv1.Producer{Collector: "scorer", Tool: "regressions"}, sub, pt.ObservedAt)
	return &eventv1.Event{Envelope: env, Payload: &eventv1.Event_Verdict{Verdict: v}}
}

func environmentEnum(name string) eventv1.Environment {
	if v, ok := eventv1.Environment_value["ENVIRONMENT_"+strings.ToUpper(name)]; ok {
		return eventv1.Environment(v)
	}
	return eventv1.Environment_ENVIRONMENT_UNSPECIFIED
}

// quote is a ClickHouse string literal.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
