package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/ledger"
	"github.com/trilens/trilens/services/scorer/respond"
)

func (p *Handler) serveWaivers(w http.ResponseWriter, r *http.Request) {
	t, ok := respond.Tenant(w, r.URL.Query())
	if !ok {
		return
	}
	ws, err := p.Ledger().View(r.Context(), t)
	if err != nil {
		p.fail(w, "waivers", err)
		return
	}
	if ws == nil {
		ws = []ledger.Waiver{}
	}
	respond.JSON(w, http.StatusOK, map[string]any{"waivers": ws})
}

// WaiverRequest is the body of POST /v1/waivers. ExpiresAt is required and
// must be in the future: the ledger holds no waiver without an end.
type WaiverRequest struct {
	ID                  string    `json:"id"`
	Lens                string    `json:"lens"`
	Target              string    `json:"target"`
	Scope               string    `json:"scope"`
	Owner               string    `json:"owner"`
	Reason              string    `json:"reason"`
	CompensatingControl string    `json:"compensating_control"`
	ExpiresAt           time.Time `json:"expires_at"`
	// By names who acted when the API runs without the auth guard; behind
	// it (always, in Trilens) the token's identity is recorded instead, so
	// nobody can sign a waiver with another name.
	By string `json:"by"`
}

func (p *Handler) serveWaive(w http.ResponseWriter, r *http.Request) {
	t, ok := respond.Tenant(w, r.URL.Query())
	if !ok {
		return
	}
	var req WaiverRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		respond.JSON(w, http.StatusBadRequest, respond.Error{Error: "body: " + err.Error(), Field: "body"})
		return
	}
	now := p.Now().UTC().Truncate(time.Second)
	if field, err := req.check(now); err != nil {
		respond.JSON(w, http.StatusBadRequest, respond.Error{Error: err.Error(), Field: field})
		return
	}
	existing, err := p.Ledger().List(r.Context(), t)
	if err != nil {
		p.fail(w, "waive", err)
		return
	}
	wv := ledger.Waiver{ID: req.ID, Source: ledger.WaiverSourceLedger, Lens: req.Lens, Target: req.Target, Scope: req.Scope, Owner: req.Owner,
		Reason: req.Reason, CompensatingControl: req.CompensatingControl, CreatedAt: now, ExpiresAt: req.ExpiresAt.UTC()}
	if wv.Lens == "" {
		wv.Lens = ledger.LensOfKPI(wv.Target)
	}
	if wv.ID == "" {
		wv.ID = "w-" + events.ID(t, wv.Target, wv.Scope, now.Format(time.RFC3339))[:10]
	}
	change := ledger.WaiverCreated
	for _, e := range existing {
		if e.ID == wv.ID {
			if e.Source == ledger.WaiverSourcePolicy {
				respond.JSON(w, http.StatusConflict, respond.Error{Error: "waiver " + wv.ID + " is declared in the policy file; change it there", Field: "id"})
				return
			}
			change, wv.CreatedAt = ledger.WaiverUpdated, e.CreatedAt
		}
	}
	by := actor(r, req.By)
	if err := p.Ledger().Record(r.Context(), t, wv, change, by, now); err != nil {
		p.fail(w, "waive", err)
		return
	}
	wv.State, wv.LastChange, wv.ChangedBy, wv.ChangedAt = ledger.WaiverActive, change, by, now
	respond.JSON(w, http.StatusOK, wv)
}

func (req *WaiverRequest) check(now time.Time) (string, error) {
	switch {
	case req.Target == "":
		return "target", errors.New("target: name a finding fingerprint or a KPI")
	case req.Owner == "":
		return "owner", errors.New("owner: a waiver needs an owner")
	case req.Reason == "":
		return "reason", errors.New("reason: say why the risk is accepted")
	case req.ExpiresAt.IsZero():
		return "expires_at", errors.New("expires_at: a waiver needs an expiry")
	case !req.ExpiresAt.After(now):
		return "expires_at", fmt.Errorf("expires_at: %s is not in the future", req.ExpiresAt.UTC().Format(time.RFC3339))
	case req.Lens != "" && req.Lens != evidence.LensPerformance && req.Lens != evidence.LensSecurity && req.Lens != evidence.LensScalability:
		return "lens", fmt.Errorf("lens %q: want performance, security or scalability", req.Lens)
	}
	return "", nil
}

func (p *Handler) serveRevoke(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	t, ok := respond.Tenant(w, q)
	if !ok {
		return
	}
	id := r.PathValue("id")
	ws, err := p.Ledger().List(r.Context(), t)
	if err != nil {
		p.fail(w, "revoke", err)
		return
	}
	for _, wv := range ws {
		if wv.ID != id {
			continue
		}
		if wv.Source == ledger.WaiverSourcePolicy {
			respond.JSON(w, http.StatusConflict, respond.Error{Error: "waiver " + id + " is declared in the policy file; remove it there", Field: "id"})
			return
		}
		now := p.Now().UTC().Truncate(time.Second)
		by := actor(r, q.Get("by"))
		if err := p.Ledger().Record(r.Context(), t, wv, ledger.WaiverRevoked, by, now); err != nil {
			p.fail(w, "revoke", err)
			return
		}
		wv.State, wv.LastChange, wv.ChangedBy, wv.ChangedAt = ledger.WaiverRevoked, ledger.WaiverRevoked, by, now
		respond.JSON(w, http.StatusOK, wv)
		return
	}
	respond.JSON(w, http.StatusNotFound, respond.Error{Error: "no waiver " + id, Field: "id"})
}

// actor is who changes the ledger: the identity the auth guard established
// (never what the client says), or the stated name where no guard runs.
func actor(r *http.Request, stated string) string {
	if id := r.Header.Get(collect.IdentityHeader); id != "" {
		return id
	}
	return stated
}
