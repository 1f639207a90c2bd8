package advisories

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/store"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"github.com/trilens/trilens/services/scorer/evidence"
)

// Tool is the tool name of the findings the monitor raises.
const Tool = "osv-advisories"

// Monitor imports advisories and raises their matches as findings.
type Monitor struct {
	st  *store.Store
	bus *bus.Bus
	log *slog.Logger
	now func() time.Time

	mu        sync.Mutex
	published map[scopeKey]string // the last report sent per scope
}

// New is the monitor of the scorer's store and bus.
func New(set evidence.Settings) *Monitor {
	return &Monitor{st: set.Store, bus: set.Bus, log: set.Logger, now: set.Now, published: map[scopeKey]string{}}
}

func (m *Monitor) Name() string { return "advisories" }

// Process does nothing per batch: the sweep matches every stored component,
// those of the SBOMs just stored included.
func (m *Monitor) Process(context.Context, []*eventv1.Event) error { return nil }

// ImportResult says what an import changed.
type ImportResult struct {
	Records int      `json:"records"`
	New     []string `json:"new"` // ids of the advisories new or newer than the stored version
}

// Import stores the records the store does not hold in that version yet.
func (m *Monitor) Import(ctx context.Context, recs []Record) (ImportResult, error) {
	res := ImportResult{Records: len(recs)}
	held, err := m.versions(ctx)
	if err != nil {
		return res, err
	}
	rows := &evidence.RowTable{Table: "advisories", Cols: []string{"id", "modified", "ecosystems", "packages", "record", "imported_at"}}
	now := evidence.ClampTime(m.now())
	for _, r := range recs {
		mod := evidence.ClampTime(r.Modified.UTC().Truncate(time.Second))
		if h, ok := held[r.ID]; ok && !mod.After(h) {
			continue
		}
		held[r.ID] = mod
		var ecos, pkgs []string
		for _, a := range r.Affected {
			ecos, pkgs = append(ecos, a.Package.Ecosystem), append(pkgs, a.Package.Name)
		}
		rows.Rows = append(rows.Rows, []any{r.ID, mod, ecos, pkgs, string(r.raw), now})
		res.New = append(res.New, r.ID)
	}
	return res, m.st.Insert(ctx, rows)
}

// versions is the newest stored version of every advisory.
func (m *Monitor) versions(ctx context.Context) (map[string]time.Time, error) {
	rows, err := m.st.Conn().Query(ctx, `SELECT id, max(modified) FROM `+m.st.Database()+`.advisories GROUP BY id`)
	if err != nil {
		return nil, fmt.Errorf("advisory versions: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var mod time.Time
		if err := rows.Scan(&id, &mod); err != nil {
			return nil, err
		}
		out[id] = mod
	}
	return out, rows.Err()
}

// current is the newest version of every stored advisory.
func (m *Monitor) current(ctx context.Context) ([]Record, error) {
	rows, err := m.st.Conn().Query(ctx, `SELECT argMax(record, modified) FROM `+m.st.Database()+`.advisories GROUP BY id`)
	if err != nil {
		return nil, fmt.Errorf("advisories: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		r, err := Parse([]byte(raw))
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// scopeKey is where an SBOM's components were deployed from: a tenant's
// service at a commit.
type scopeKey struct {
	tenant, repository, commit, branch, environment, service string
}

// component is a stored component version in its scope.
type component struct {
	scope                         scopeKey
	purl, name, version, typ, loc string
}

// components lists every component version the stored SBOMs hold.
func (m *Monitor) components(ctx context.Context) ([]component, error) {
	rows, err := m.st.Conn().Query(ctx, `SELECT DISTINCT tenant, repository, commit, branch, environment, service,
		purl, name, version, type, location FROM `+m.st.Database()+`.components WHERE purl != ''`)
	if err != nil {
		return nil, fmt.Errorf("components: %w", err)
	}
	defer rows.Close()
	var out []component
	for rows.Next() {
		var c component
		s := &c.scope
		if err := rows.Scan(&s.tenant, &s.repository, &s.commit, &s.branch, &s.environment, &s.service,
			&c.purl, &c.name, &c.version, &c.typ, &c.loc); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// SweepAll matches every advisory against every stored component and
// sends, for each scope whose matches changed since the last sweep, one
// scan report of them all, which the scan lens turns into findings (and
// their fixes, when an advisory is withdrawn). The report's id derives
// from its findings, so sending it again changes nothing.
func (m *Monitor) SweepAll(ctx context.Context) error {
	recs, err := m.current(ctx)
	if err != nil || len(recs) == 0 {
		return err
	}
	comps, err := m.components(ctx)
	if err != nil {
		return err
	}
	type report struct {
		scope scopeKey
		ev    *eventv1.Event
	}
	var sends []report
	m.mu.Lock()
	for scope, fs := range matchAll(recs, comps) {
		ev := reportEvent(scope, fs, m.now())
		if m.published[scope] != ev.GetEnvelope().GetEventId() {
			sends = append(sends, report{scope, ev})
		}
	}
	m.mu.Unlock()
	if len(sends) == 0 || m.bus == nil {
		return nil
	}
	var evs []*eventv1.Event
	for _, r := range sends {
		evs = append(evs, r.ev)
	}
	if err := m.bus.Publish(ctx, evs...); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range sends {
		m.published[r.scope] = r.ev.GetEnvelope().GetEventId()
	}
	m.log.Info("advisories matched stored components", "reports", len(evs))
	return nil
}
