// Package ledger is the risk ledger: the waivers of every tenant, from the
// policy file and the API, with every change recorded, and the sweep that
// expires them and says so with a verdict.
package ledger

import (
	"context"
	"fmt"
	"log/slog"
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
)

// Changes recorded in the risk ledger (waiver_changes).
const (
	WaiverCreated = "created"
	WaiverUpdated = "updated"
	WaiverRevoked = "revoked"
	WaiverExpired = "expired"
	// WaiverProposed is a waiver someone asked for outside the ledger (an
	// issue closed as won't fix in a tracker): it is pending, covers
	// nothing, until an admin accepts it by posting it (POST /v1/waivers
	// with its id), which records it as updated and so active.
	WaiverProposed = "proposed"
)

// Where a waiver was declared.
const (
	WaiverSourceLedger  = "ledger"  // trilens waive, POST /v1/waivers
	WaiverSourcePolicy  = "policy"  // waivers: in trilens.yaml
	WaiverSourceTracker = "tracker" // an issue closed as won't fix in GitHub or Jira
)

// ReasonWaiverExpired is the reason of the verdict an expired waiver leaves.
const ReasonWaiverExpired = "waiver_expired"

// Waiver is one entry of the risk ledger: a finding (Target = fingerprint)
// or a KPI (Target = KPI name, Scope = service, journey, test, URL or
// artifact; empty = every scope) accepted until ExpiresAt.
type Waiver struct {
	ID                  string    `json:"id"`
	Source              string    `json:"source"`
	Lens                string    `json:"lens,omitempty"`
	Target              string    `json:"target"`
	Scope               string    `json:"scope,omitempty"`
	Owner               string    `json:"owner"`
	Reason              string    `json:"reason"`
	CompensatingControl string    `json:"compensating_control,omitempty"`
	CreatedAt           time.Time `json:"created_at"`
	ExpiresAt           time.Time `json:"expires_at"`
	// State is active, pending, expired or revoked at the time of the answer.
	State string `json:"state"`
	// LastChange, ChangedBy and ChangedAt are the newest ledger entry;
	// LastChange is empty for a policy waiver not recorded yet.
	LastChange string    `json:"last_change"`
	ChangedBy  string    `json:"changed_by,omitempty"`
	ChangedAt  time.Time `json:"changed_at"`
}

// Waiver states.
const (
	WaiverActive  = "active"
	WaiverPending = "pending"
)

// Covers reports whether the waiver is active at now for key in one of scopes.
func (w *Waiver) Covers(key string, now time.Time, scopes ...string) bool {
	return w.State == WaiverActive && now.Before(w.ExpiresAt) && w.Target == key && key != "" &&
		(w.Scope == "" || slices.Contains(scopes, w.Scope))
}

// Ledger keeps the waivers of every tenant: those of the policy file and
// those added through the API, with every change in waiver_changes. An
// expired waiver re-opens what it covered by itself: the scorecard stops
// applying it at its expiry instant, and the next sweep (every batch the
// scorer processes and every API read) records the expiry and publishes a
// verdict that says what counts again.
type Ledger struct {
	st  *store.Store
	pol *policy.Policy
	bus *bus.Bus
	log *slog.Logger
	now func() time.Time
}

var waiverChangeColumns = []string{"tenant", "waiver_id", "change", "source", "lens", "target", "scope", "owner",
	"reason", "compensating_control", "created_at", "expires_at", "changed_by", "changed_at"}

// List returns the tenant's waivers, ledger and policy, with their state at now.
func (l *Ledger) List(ctx context.Context, tenant string) ([]Waiver, error) {
	// The newest change wins; within one second, the later kind of change.
	rank := `toUInt64(changed_at) * 10 + multiIf(change = 'proposed', 0, change = 'created', 1, change = 'updated', 2, change = 'revoked', 3, 4)`
	q := `SELECT waiver_id`
	for _, c := range waiverChangeColumns[2:] {
		q += `, argMax(` + c + `, ` + rank + `)`
	}
	q += ` FROM ` + l.st.Database() + `.waiver_changes WHERE tenant = ? GROUP BY waiver_id ORDER BY waiver_id`
	rows, err := l.st.Conn().Query(ctx, q, tenant)
	if err != nil {
		return nil, fmt.Errorf("waivers: %w", err)
	}
	defer rows.Close()
	now := l.now()
	var out []Waiver
	seen := map[string]bool{}
	for rows.Next() {
		var w Waiver
		if err := rows.Scan(&w.ID, &w.LastChange, &w.Source, &w.Lens, &w.Target, &w.Scope, &w.Owner, &w.Reason,
			&w.CompensatingControl, &w.CreatedAt, &w.ExpiresAt, &w.ChangedBy, &w.ChangedAt); err != nil {
			return nil, err
		}
		w.State = stateOf(w.LastChange, w.ExpiresAt, now)
		seen[w.ID] = true
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Policy waivers the ledger has not recorded yet (LastChange empty):
	// the next sweep records them.
	for _, pw := range l.pol.Waivers {
		w := fromPolicy(pw)
		if !seen[w.ID] {
			w.State = stateOf(WaiverCreated, w.ExpiresAt, now)
			out = append(out, w)
		}
	}
	return out, nil
}

func fromPolicy(pw policy.Waiver) Waiver {
	target, lens := pw.Fingerprint, evidence.LensSecurity
	if target == "" {
		target, lens = pw.KPI, LensOfKPI(pw.KPI)
	}
	return Waiver{ID: policyWaiverID(pw), Source: WaiverSourcePolicy, Lens: lens, Target: target, Scope: pw.Scope,
		Owner: pw.Owner, Reason: pw.Reason, CompensatingControl: pw.CompensatingControl, ExpiresAt: evidence.ClampTime(pw.Expires)}
}

// syncPolicy records in the ledger what the policy file did to its
// waivers since the last sweep: declared (created), changed (updated) or
// removed (revoked), so the ledger holds every change whatever its source.
// policyChange is a change the policy file makes to the ledger: ws[i]
// becomes w through change.
type policyChange struct {
	i      int
	w      Waiver
	change string
}

// policyChanges compares the ledger's policy waivers with the policy file.
func (l *Ledger) policyChanges(ws []Waiver, now time.Time) []policyChange {
	declared := map[string]Waiver{}
	for _, pw := range l.pol.Waivers {
		w := fromPolicy(pw)
		declared[w.ID] = w
	}
	var out []policyChange
	for i, w := range ws {
		if w.Source != WaiverSourcePolicy {
			continue
		}
		p, inPolicy := declared[w.ID]
		change := ""
		switch {
		case w.LastChange == "":
			change, p.CreatedAt = WaiverCreated, now
		case !inPolicy && w.LastChange != WaiverRevoked:
			change, p = WaiverRevoked, w
		case inPolicy && (w.LastChange == WaiverRevoked || !sameTerms(w, p)):
			change, p.CreatedAt = WaiverUpdated, w.CreatedAt
		default:
			continue
		}
		p.LastChange, p.ChangedBy, p.ChangedAt, p.State = change, WaiverSourcePolicy, now, stateOf(change, p.ExpiresAt, now)
		out = append(out, policyChange{i: i, w: p, change: change})
	}
	return out
}

// syncPolicy records the changes the policy file makes to the ledger.
func (l *Ledger) syncPolicy(ctx context.Context, tenant string, ws []Waiver) ([]Waiver, error) {
	now := l.now().UTC().Truncate(time.Second)
	for _, c := range l.policyChanges(ws, now) {
		if err := l.Record(ctx, tenant, c.w, c.change, WaiverSourcePolicy, now); err != nil {
			return nil, err
		}
		ws[c.i] = c.w
	}
	return ws, nil
}

// Tenants lists the tenants that have waivers in the ledger.
func (l *Ledger) Tenants(ctx context.Context) ([]string, error) {
	rows, err := l.st.Conn().Query(ctx, `SELECT DISTINCT tenant FROM `+l.st.Database()+`.waiver_changes ORDER BY tenant`)
	if err != nil {
		return nil, fmt.Errorf("ledger tenants: %w", err)
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

// View is the tenant's waivers as they stand now, the policy file's
// included, without recording anything: what read requests answer (a GET
// never writes). Sweep, run for every scored batch, records the same
// changes and notifies expiries.
func (l *Ledger) View(ctx context.Context, tenant string) ([]Waiver, error) {
	ws, err := l.List(ctx, tenant)
	if err != nil {
		return nil, err
	}
	for _, c := range l.policyChanges(ws, l.now().UTC().Truncate(time.Second)) {
		ws[c.i] = c.w
	}
	return ws, nil
}

func sameTerms(a, b Waiver) bool {
	return a.Target == b.Target && a.Scope == b.Scope && a.Owner == b.Owner && a.Reason == b.Reason &&
		a.CompensatingControl == b.CompensatingControl && a.ExpiresAt.Equal(b.ExpiresAt)
}

func policyWaiverID(w policy.Waiver) string {
	if w.ID != "" {
		return w.ID
	}
	return "policy-" + events.ID(w.Fingerprint, w.KPI, w.Scope)[:12]
}

func stateOf(change string, expires, now time.Time) string {
	switch {
	case change == WaiverRevoked:
		return WaiverRevoked
	case change == WaiverExpired || !now.Before(expires):
		return WaiverExpired
	case change == WaiverProposed:
		return WaiverPending
	}
	return WaiverActive
}

// Record appends one change to the ledger and mirrors the waiver's state
// into the waivers table the dashboards read.
func (l *Ledger) Record(ctx context.Context, tenant string, w Waiver, change, by string, at time.Time) error {
	w.CreatedAt, w.ExpiresAt, at = evidence.ClampTime(w.CreatedAt), evidence.ClampTime(w.ExpiresAt), evidence.ClampTime(at)
	changes := &evidence.RowTable{Table: "waiver_changes", Cols: waiverChangeColumns, Rows: [][]any{{
		tenant, w.ID, change, w.Source, w.Lens, w.Target, w.Scope, w.Owner, w.Reason, w.CompensatingControl,
		w.CreatedAt, w.ExpiresAt, by, at}}}
	var mirror store.WaiverRows
	mirror.Append(store.Waiver{Tenant: tenant, WaiverID: w.ID, Lens: w.Lens, Target: w.Target, Scope: w.Scope,
		Owner: w.Owner, Reason: w.Reason, CreatedAt: w.CreatedAt, ExpiresAt: w.ExpiresAt, UpdatedAt: at,
		// A proposed waiver is not in effect: the dashboards must not list it as one.
		Revoked: change == WaiverRevoked || change == WaiverExpired || change == WaiverProposed})
	return l.st.Insert(ctx, changes, &mirror)
}

// Propose records w as a pending waiver, by whom and when, unless the
// ledger already holds a waiver of that id (pending, accepted or
// revoked): proposing twice records it once, and a proposal never undoes
// an admin's decision. It reports whether it recorded one.
func (l *Ledger) Propose(ctx context.Context, tenant string, w Waiver, by string, now time.Time) (bool, error) {
	ws, err := l.List(ctx, tenant)
	if err != nil {
		return false, err
	}
	for _, e := range ws {
		if e.ID == w.ID {
			return false, nil
		}
	}
	w.CreatedAt = now
	return true, l.Record(ctx, tenant, w, WaiverProposed, by, now)
}

// Sweep records the expiry of every waiver of the tenant that has expired
// and says so with a verdict on the verdicts stream, and returns the
// tenant's waivers as they stand after it. The change is dated at the
// expiry instant (or the change after it) and the verdict id derives from
// the expiry, so sweeping twice writes the same rows.
func (l *Ledger) Sweep(ctx context.Context, tenant string) ([]Waiver, error) {
	ws, err := l.List(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if ws, err = l.syncPolicy(ctx, tenant, ws); err != nil {
		return nil, err
	}
	var verdicts []*eventv1.Event
	var rows store.VerdictRows
	for i, w := range ws {
		if w.State != WaiverExpired || w.LastChange == WaiverExpired {
			continue
		}
		// Dated at the expiry, or at the change that came after it (a
		// waiver declared already expired), so it stays the newest change.
		at := w.ExpiresAt
		if w.ChangedAt.After(at) {
			at = w.ChangedAt
		}
		if err := l.Record(ctx, tenant, w, WaiverExpired, "trilens", at); err != nil {
			return nil, err
		}
		ws[i].LastChange, ws[i].ChangedBy, ws[i].ChangedAt = WaiverExpired, "trilens", at
		ev := expiryVerdict(tenant, w)
		verdicts = append(verdicts, ev)
		rows.Append(evidence.VerdictRowOf(ev, w.Lens))
		l.log.Info("waiver expired", "tenant", tenant, "waiver", w.ID, "target", w.Target, "scope", w.Scope)
	}
	if len(verdicts) == 0 {
		return ws, nil
	}
	if err := l.st.Insert(ctx, &rows); err != nil {
		return nil, err
	}
	if l.bus != nil {
		if err := l.bus.Publish(ctx, verdicts...); err != nil {
			return nil, err
		}
	}
	return ws, nil
}

func expiryVerdict(tenant string, w Waiver) *eventv1.Event {
	id := events.ID(tenant, "verdict", ReasonWaiverExpired, w.ID, w.ExpiresAt.UTC().Format(time.RFC3339))
	what := w.Target
	if w.Scope != "" {
		what += " in " + w.Scope
	}
	v := &scorev1.Verdict{
		VerdictId: id, Lens: evidence.LensEnum(w.Lens), Kpi: w.Target, Scope: w.Scope,
		Status: scorev1.Status_STATUS_FAIL, Reason: ReasonWaiverExpired, Owner: w.Owner, Test: "waiver",
		Summary: fmt.Sprintf("waiver %s (owner %s) expired at %s: %s counts again", w.ID, w.Owner,
			w.ExpiresAt.UTC().Format(time.RFC3339), what),
	}
	env := events.NewEnvelope(id, tenant, eventv1.Kind_KIND_VERDICT, &eventv1.Producer{Collector: "scorer", Tool: "ledger"},
		&eventv1.Subject{Service: w.Scope}, w.ExpiresAt)
	return &eventv1.Event{Envelope: env, Payload: &eventv1.Event_Verdict{Verdict: v}}
}

// New is the ledger of the scorer's store, policy and bus.
func New(set evidence.Settings) *Ledger {
	return &Ledger{st: set.Store, pol: set.Policy, bus: set.Bus, log: set.Logger, now: set.Now}
}

// LensOfKPI names the lens of a KPI by the prefixes the lens processors use.
func LensOfKPI(kpi string) string {
	switch {
	case strings.HasPrefix(kpi, "load_"):
		return evidence.LensScalability
	case strings.HasPrefix(kpi, "journey_"), strings.HasPrefix(kpi, "hop_"), strings.HasPrefix(kpi, "web_"), strings.HasPrefix(kpi, "slo_"):
		return evidence.LensPerformance
	}
	return evidence.LensSecurity
}
