package scorecard

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/ledger"
	"github.com/trilens/trilens/services/scorer/owners"
)

// Kinds of scorecard items.
const (
	ItemKPI     = "kpi"
	ItemFinding = "finding"
	ItemVerdict = "verdict"
)

// Filter selects what a scorecard covers. Tenant is required; an empty
// field does not filter. Commit selects a release: its KPI points, the
// verdicts about it, and the findings open on its branch. Release names
// one by its version instead: the newest commit evidence of it was about.
type Filter struct {
	Tenant     string `json:"tenant"`
	Repository string `json:"repository,omitempty"`
	Service    string `json:"service,omitempty"`
	Branch     string `json:"branch,omitempty"`
	Commit     string `json:"commit,omitempty"`
	Release    string `json:"release,omitempty"`
	// OnUnknown is what a budget on a metric the evidence did not measure
	// does to the gate: OnUnknownWarn (the default, "") lists it without
	// blocking, OnUnknownFail blocks.
	OnUnknown string `json:"on_unknown,omitempty"`
}

// Gate behaviours on a KPI whose status is unknown.
const (
	OnUnknownWarn = "warn"
	OnUnknownFail = "fail"
)

// Item is one gap on the scorecard: a KPI over budget, an open finding or a
// regression verdict, with its owner, severity and cost.
type Item struct {
	Kind    string  `json:"kind"`
	Lens    string  `json:"lens"`
	Key     string  `json:"key"` // what a waiver names: KPI or fingerprint
	Scope   string  `json:"scope,omitempty"`
	Title   string  `json:"title"`
	Service string  `json:"service,omitempty"`
	Journey string  `json:"journey,omitempty"`
	Status  string  `json:"status"` // fail, warn or unknown (KPIs, verdicts); new, open or reopened (findings)
	Value   float64 `json:"value,omitempty"`
	Budget  float64 `json:"budget,omitempty"`
	// Severity is the scanner's (findings); Sources the tools reporting a
	// finding, one item however many; Reachability what govulncheck says
	// of it (called, imported, required).
	Severity     string    `json:"severity,omitempty"`
	Sources      []string  `json:"sources,omitempty"`
	Reachability string    `json:"reachability,omitempty"`
	Owner        string    `json:"owner"`
	Unowned      bool      `json:"unowned,omitempty"`
	Risk         Risk      `json:"risk"`
	FirstSeen    time.Time `json:"first_seen"`
	// Breaks names the budget the item breaks, "" when it only informs.
	Breaks string `json:"breaks,omitempty"`
	// WaivedBy is the active waiver accepting the item; Reopened says which
	// waiver expired and when, so the item counts again.
	WaivedBy    string   `json:"waived_by,omitempty"`
	Reopened    string   `json:"reopened,omitempty"`
	EvidenceIDs []string `json:"evidence_ids,omitempty"`
}

// Blocking reports whether the item fails the gate.
func (it *Item) Blocking() bool { return it.Breaks != "" && it.WaivedBy == "" }

// LensSummary counts a lens's KPIs and gaps.
type LensSummary struct {
	Lens     string  `json:"lens"`
	KPIs     int     `json:"kpis"`
	Passing  int     `json:"passing"`
	Gaps     int     `json:"gaps"`
	Blocking int     `json:"blocking"`
	Waived   int     `json:"waived"`
	Money    float64 `json:"money"`
}

// Scorecard answers GET /v1/scorecard and GET /v1/gate: every gap across the
// three lenses, most expensive first.
type Scorecard struct {
	Filter      Filter        `json:"filter"`
	GeneratedAt time.Time     `json:"generated_at"`
	Currency    string        `json:"currency"`
	Pass        bool          `json:"pass"`
	Money       float64       `json:"money"`
	Lenses      []LensSummary `json:"lenses"`
	Items       []Item        `json:"items"`
}

// builder reads the store to build scorecards.
type builder struct {
	st  *store.Store
	pol *policy.Policy
}

// build assembles the scorecard of f at now, with waivers ws applied.
func (b *builder) build(ctx context.Context, f Filter, ws []ledger.Waiver, now time.Time) (*Scorecard, error) {
	card := &Scorecard{Filter: f, GeneratedAt: now.UTC(), Currency: b.pol.Currency, Items: []Item{}}
	// The four sources are independent queries: run them side by side, so
	// the answer takes as long as the slowest, not the sum.
	var kpis, fs, vs, ds []Item
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i, run := range []func() error{
		func() (err error) { kpis, err = b.kpiItems(ctx, f, now, card); return err },
		func() (err error) { fs, err = b.findingItems(ctx, f, now); return err },
		func() (err error) { vs, err = b.verdictItems(ctx, f, now); return err },
		func() (err error) { ds, err = b.detectionItems(ctx, f, now); return err },
	} {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = run() }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	card.Items = slices.Concat(card.Items, kpis, fs, vs, ds)
	for i := range card.Items {
		applyWaivers(&card.Items[i], ws, now)
	}
	slices.SortStableFunc(card.Items, func(a, b Item) int {
		switch {
		case a.Blocking() != b.Blocking():
			if a.Blocking() {
				return -1
			}
			return 1
		case a.Risk.Money != b.Risk.Money:
			return cmpDesc(a.Risk.Money, b.Risk.Money)
		case a.Risk.Score != b.Risk.Score:
			return cmpDesc(a.Risk.Score, b.Risk.Score)
		}
		return strings.Compare(a.Lens+a.Key+a.Scope, b.Lens+b.Key+b.Scope)
	})
	card.Pass = true
	sum := map[string]*LensSummary{}
	for _, l := range []string{evidence.LensPerformance, evidence.LensSecurity, evidence.LensScalability} {
		sum[l] = &LensSummary{Lens: l}
	}
	for _, s := range card.Lenses {
		if x, ok := sum[s.Lens]; ok {
			x.KPIs, x.Passing = s.KPIs, s.Passing
		} else {
			s := s
			sum[s.Lens] = &s
		}
	}
	for _, it := range card.Items {
		s, ok := sum[it.Lens]
		if !ok {
			s = &LensSummary{Lens: it.Lens}
			sum[it.Lens] = s
		}
		s.Gaps++
		if it.WaivedBy != "" {
			s.Waived++
			continue
		}
		s.Money += it.Risk.Money
		card.Money += it.Risk.Money
		if it.Blocking() {
			s.Blocking++
			card.Pass = false
		}
	}
	card.Lenses = card.Lenses[:0]
	for _, s := range sum {
		s.Money = round(s.Money, 2)
		card.Lenses = append(card.Lenses, *s)
	}
	slices.SortFunc(card.Lenses, func(a, b LensSummary) int { return strings.Compare(a.Lens, b.Lens) })
	card.Money = round(card.Money, 2)
	return card, nil
}

func cmpDesc(a, b float64) int {
	if a > b {
		return -1
	}
	return 1
}

// applyWaivers marks an item waived by an active waiver of its key in one
// of its scopes, or reopened when the last waiver that covered it expired.
func applyWaivers(it *Item, ws []ledger.Waiver, now time.Time) {
	scopes := []string{it.Scope, it.Service, it.Journey}
	var expired *ledger.Waiver
	for i := range ws {
		w := &ws[i]
		if w.Covers(it.Key, now, scopes...) {
			it.WaivedBy, it.Reopened = w.ID, ""
			return
		}
		if w.State == ledger.WaiverExpired && w.Target == it.Key && (w.Scope == "" || slices.Contains(scopes, w.Scope)) &&
			(expired == nil || w.ExpiresAt.After(expired.ExpiresAt)) {
			expired = w
		}
	}
	if expired != nil {
		it.Reopened = fmt.Sprintf("waiver %s expired at %s", expired.ID, expired.ExpiresAt.UTC().Format(time.RFC3339))
	}
}

// where builds the WHERE clause of a filter over tables with the scope columns.
func (f Filter) where(withCommit bool) (string, []any) { return f.selector().Where(withCommit) }

func (f Filter) selector() evidence.Selector {
	return evidence.Selector{Tenant: f.Tenant, Repository: f.Repository, Service: f.Service, Branch: f.Branch, Commit: f.Commit}
}

// kpiItems reads the newest point of every KPI series (lens, KPI, scope,
// service) in the filter, counts them per lens into card.Lenses and returns
// those not passing. A release (commit) reads kpi_points_by_commit, ordered
// by commit; without one, the series' latest state in kpi_latest: either
// way the cost does not grow with the history stored.
func (b *builder) kpiItems(ctx context.Context, f Filter, now time.Time, card *Scorecard) ([]Item, error) {
	where, args := f.where(true)
	q := `SELECT lens, kpi, scope, service,
		argMax(journey, observed_at), argMax(value, observed_at), argMax(budget, observed_at),
		argMax(status, observed_at), argMax(owner, observed_at), argMax(evidence_ids, observed_at),
		maxIf(observed_at, status = 'pass'), minIf(observed_at, status != 'pass')
		FROM ` + b.st.Database() + `.kpi_points_by_commit WHERE ` + where + `
		GROUP BY lens, kpi, scope, service`
	if f.Commit == "" {
		q = `SELECT lens, kpi, scope, service,
		argMaxMerge(journey_state), argMaxMerge(value_state), argMaxMerge(budget_state),
		argMaxMerge(status_state), argMaxMerge(owner_state), argMaxMerge(evidence_ids_state),
		maxIfMerge(last_pass), minIfMerge(first_fail)
		FROM ` + b.st.Database() + `.kpi_latest WHERE ` + where + `
		GROUP BY lens, kpi, scope, service`
	}
	rows, err := b.st.Conn().Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("kpi items: %w", err)
	}
	defer rows.Close()
	counts := map[string]*LensSummary{}
	var items []Item
	for rows.Next() {
		var it Item
		var lastPass, firstFail time.Time
		if err := rows.Scan(&it.Lens, &it.Key, &it.Scope, &it.Service, &it.Journey, &it.Value, &it.Budget,
			&it.Status, &it.Owner, &it.EvidenceIDs, &lastPass, &firstFail); err != nil {
			return nil, err
		}
		c := counts[it.Lens]
		if c == nil {
			c = &LensSummary{Lens: it.Lens}
			counts[it.Lens] = c
		}
		c.KPIs++
		if it.Status == "pass" {
			c.Passing++
			continue
		}
		it.Kind = ItemKPI
		// The gap opened after the last passing point, or at the first failing one.
		it.FirstSeen = firstFail
		if lastPass.Unix() > 0 {
			it.FirstSeen = lastPass
		}
		it.Title = fmt.Sprintf("%s %s: %.4g against a budget of %.4g", it.Scope, it.Key, it.Value, it.Budget)
		if it.Status == evidence.StatusUnknown {
			it.Value = 0
			it.Title = fmt.Sprintf("%s %s: unknown (not measured) against a budget of %.4g", it.Scope, it.Key, it.Budget)
		}
		if (it.Status == "fail" || it.Status == evidence.StatusUnknown && f.OnUnknown == OnUnknownFail) && !itemisedElsewhere(it.Key) {
			it.Breaks = it.Key
		}
		it.Owner = owners.Of(b.pol, it.Owner, "", it.Journey, it.Service)
		it.Unowned = it.Owner == owners.Unowned
		tier, exposure, revenue := owners.Blast(b.pol, it.Journey, it.Service)
		share, degradation := gapShare(it.Lens, it.Key, it.Value, it.Budget)
		it.Risk = Assess(b.pol.Severity, RiskInput{TrafficShare: share, Degradation: degradation, Tier: tier,
			Exposure: exposure, RevenuePerHour: revenue, DaysOpen: daysSince(it.FirstSeen, now)})
		items = append(items, it)
	}
	for _, c := range counts {
		card.Lenses = append(card.Lenses, *c)
	}
	return items, rows.Err()
}

// gapShare estimates, for a KPI over budget, the share of requests it hits
// and how badly (both 0-1), the traffic term of the likelihood and the
// degradation of the cost of delay:
//
//   - a quantile over budget means at least the requests above that
//     quantile are slower than budgeted: p95 → 5 %, p99 → 1 %;
//   - an error rate hits its own value, and a failed request loses all;
//   - a capacity gap (scalability lens) hits every request at peak;
//   - a lab web vital stands for the page's typical (p75) visit → 25 %;
//   - other gaps (security gates) have no traffic term: the likelihood floor.
//
// Degradation is how far over budget the value is, relative to the budget
// (at most 1; 1 when the budget is zero).
func gapShare(lens, kpi string, value, budget float64) (share, degradation float64) {
	degradation = 1
	if budget != 0 {
		degradation = clamp01(math.Abs(value-budget) / math.Abs(budget))
	}
	switch {
	case strings.Contains(kpi, "error_rate"):
		return clamp01(value), 1
	case strings.Contains(kpi, "p99"):
		share = 0.01
	case strings.Contains(kpi, "p95"):
		share = 0.05
	case lens == evidence.LensScalability:
		share = 1
	case strings.HasPrefix(kpi, "web_"):
		share = 0.25
	}
	return share, degradation
}

func daysSince(t, now time.Time) float64 {
	if t.Unix() <= 0 || t.After(now) {
		return 0
	}
	return now.Sub(t).Hours() / 24
}
