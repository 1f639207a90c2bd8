package dora

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/server"
	"github.com/trilens/trilens/pkg/store"
	changev1 "github.com/trilens/trilens/proto/trilens/change/v1"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"github.com/trilens/trilens/services/scorer/api"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/owners"
	"github.com/trilens/trilens/services/scorer/respond"
)

// KPIDeployedUnsigned is 1 when a service's latest production deploy names
// an artifact digest without a verified signature or provenance. It does
// not start with security_, so the scorecard blocks on it.
const KPIDeployedUnsigned = "deployed_unsigned"

// Processor gates unsigned production deploys and serves GET /v1/dora.
type Processor struct {
	st  *store.Store
	pol *policy.Policy
	log *slog.Logger
	now func() time.Time
}

// New reads set's store with set's policy.
func New(set evidence.Settings) *Processor {
	now := set.Now
	if now == nil {
		now = time.Now
	}
	return &Processor{st: set.Store, pol: set.Policy, log: set.Logger, now: now}
}

func (p *Processor) Name() string { return "dora" }

// Process re-checks the services a batch deployed to production and those
// whose latest deploy's artifact got a verification in the batch, then
// recomputes the weekly keys the batch touched.
func (p *Processor) Process(ctx context.Context, evs []*eventv1.Event) error {
	if err := p.gate(ctx, evs); err != nil {
		return err
	}
	return p.weekly(ctx, evs)
}

func (p *Processor) gate(ctx context.Context, evs []*eventv1.Event) error {
	services, digests := map[string][]string{}, map[string][]string{}
	for _, ev := range evs {
		t := ev.GetEnvelope().GetTenant()
		if a := ev.GetArtifact(); a != nil && a.GetDigest() != "" {
			digests[t] = append(digests[t], a.GetDigest())
		}
		if ev.GetEnvelope().GetSubject().GetEnvironment() != eventv1.Environment_ENVIRONMENT_PRODUCTION {
			continue
		}
		for _, c := range ev.GetChanges().GetChanges() {
			if c.GetType() == changev1.ChangeType_CHANGE_TYPE_DEPLOY {
				services[t] = append(services[t], ev.GetEnvelope().GetSubject().GetService())
			}
		}
	}
	var rows store.KPIPointRows
	for _, t := range sortedKeys(services, digests) {
		if err := p.check(ctx, &rows, t, services[t], digests[t]); err != nil {
			return fmt.Errorf("unsigned deploys of %s: %w", t, err)
		}
	}
	if rows.Len() == 0 {
		return nil
	}
	return p.st.Insert(ctx, &rows)
}

func sortedKeys(ms ...map[string][]string) []string {
	var out []string
	for _, m := range ms {
		for k := range m {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}

// check writes a deployed_unsigned point for the latest production deploy
// of each service named or deployed with one of digests.
func (p *Processor) check(ctx context.Context, rows *store.KPIPointRows, tenant string, services, digests []string) error {
	db := p.st.Database()
	q, err := p.st.Conn().Query(ctx, `SELECT service, argMax(change_id, observed_at), argMax(artifact_digest, observed_at),
		  argMax(event_id, observed_at), argMax(repository, observed_at), argMax(journey, observed_at), max(observed_at)
		FROM `+db+`.changes FINAL
		WHERE tenant = ? AND type = 'deploy' AND status = 'success' AND environment = 'production'
		  AND (has(?, service) OR service IN (SELECT service FROM `+db+`.changes WHERE tenant = ? AND has(?, artifact_digest)))
		GROUP BY service ORDER BY service`, tenant, append(services, ""), tenant, append(digests, "\x00"))
	if err != nil {
		return err
	}
	defer q.Close()
	type deploy struct {
		service, id, digest, eventID, repo, journey string
		at                                          time.Time
	}
	var ds []deploy
	for q.Next() {
		var d deploy
		if err := q.Scan(&d.service, &d.id, &d.digest, &d.eventID, &d.repo, &d.journey, &d.at); err != nil {
			return err
		}
		if d.digest != "" {
			ds = append(ds, d)
		}
	}
	if err := q.Err(); err != nil {
		return err
	}
	for _, d := range ds {
		ids, err := p.verifications(ctx, tenant, d.digest)
		if err != nil {
			return err
		}
		unsigned := 0.0
		if len(ids) == 0 {
			unsigned = 1
		}
		scope := store.Scope{Tenant: tenant, EventID: events.ID(tenant, "deployed-unsigned", d.id, d.digest),
			Repository: d.repo, Environment: "production", Service: d.service, Journey: d.journey, ObservedAt: d.at}
		rows.Append(store.KPIPoint{Scope: scope, Lens: evidence.LensSecurity, KPI: KPIDeployedUnsigned, KPIScope: d.service,
			Value: unsigned, Budget: 0, Status: evidence.StatusOf(unsigned == 0),
			Owner: owners.Of(p.pol, "", "", d.journey, d.service), EvidenceIDs: append([]string{d.eventID}, ids...)})
	}
	return nil
}

// verifications are the events that verified a signature or provenance of digest.
func (p *Processor) verifications(ctx context.Context, tenant, digest string) ([]string, error) {
	rows, err := p.st.Conn().Query(ctx, `SELECT DISTINCT event_id FROM `+p.st.Database()+`.artifacts FINAL
		WHERE tenant = ? AND digest = ? AND verified = 1 ORDER BY event_id`, tenant, digest)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Register mounts GET /v1/dora?tenant=&service=&team=&since=30d.
func (p *Processor) Register(mux server.Router) { mux.HandleFunc("GET /v1/dora", p.serve) }

func (p *Processor) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tenant, ok := respond.Tenant(w, q)
	if !ok {
		return
	}
	since := 30 * 24 * time.Hour
	if s := q.Get("since"); s != "" {
		d, err := api.ParseSince(s)
		if err != nil {
			respond.JSON(w, http.StatusBadRequest, respond.Error{Error: err.Error(), Field: "since"})
			return
		}
		since = d
	}
	now := p.now().UTC()
	rep, err := Build(r.Context(), p.st, p.pol, Filter{Tenant: tenant, Service: q.Get("service"), Team: q.Get("team"),
		Window: Window{Since: now.Add(-since), Until: now}})
	if err != nil {
		p.log.Error("dora", "err", err)
		respond.JSON(w, http.StatusInternalServerError, respond.Error{Error: err.Error()})
		return
	}
	respond.JSON(w, http.StatusOK, rep)
}
