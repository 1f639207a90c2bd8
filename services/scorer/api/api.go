// Package api is the scorecard's HTTP face: the scorecard, the gate,
// findings, KPI history, verdicts, the weekly report and the risk ledger,
// as JSON. It reads and writes only through the scorecard and the ledger;
// the lenses mount their own routes.
package api

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/trilens/trilens/pkg/server"
	"github.com/trilens/trilens/services/scorer/respond"
	"github.com/trilens/trilens/services/scorer/scorecard"
)

// Handler serves the scorecard's routes. It embeds the scorecard, so it
// runs as the scorecard's processor too (the scorer lists it as one).
type Handler struct {
	*scorecard.Service
	log *slog.Logger
}

// New serves card; log receives the errors answered with 500.
func New(card *scorecard.Service, log *slog.Logger) *Handler {
	return &Handler{Service: card, log: log}
}

// Register mounts the scorecard's part of the scorer API (JSON):
//
//	GET    /v1/scorecard   every gap of all lenses, most expensive first
//	GET    /v1/gate        the same with only the blocking gaps: what a CI gate reads
//	                       (?on_unknown=fail makes a budget on an unmeasured metric block; default warn)
//	GET    /v1/kpis        the history of KPI points
//	GET    /v1/findings    scorecard items filtered by lens, kind, owner, status
//	GET    /v1/verdicts    verdicts, newest first
//	GET    /v1/waivers     the risk ledger
//	POST   /v1/waivers     add or change a waiver
//	DELETE /v1/waivers/{id} revoke a waiver
//	GET    /v1/report      KPI deltas per lens, top risks by money, waivers expiring (?since=7d, whole hours)
//	GET    /v1/vex         the vulnerability waivers and fixed vulnerabilities as OpenVEX or CycloneDX VEX (?format=)
//	POST   /v1/vex         import a VEX document: its not_affected statements become waivers
//	GET    /v1/badge/{service}.svg  the service's verdict as an SVG badge (pass, fail, no data)
//
// Every route takes ?tenant= (default "default"); the scorecard routes also
// repo, service, branch, commit and release (see scorecard.Filter).
func (p *Handler) Register(mux server.Router) {
	mux.HandleFunc("GET /v1/scorecard", p.serveScorecard)
	mux.HandleFunc("GET /v1/gate", p.serveGate)
	mux.HandleFunc("GET /v1/kpis", p.serveKPIs)
	mux.HandleFunc("GET /v1/findings", p.serveFindings)
	mux.HandleFunc("GET /v1/verdicts", p.serveVerdicts)
	mux.HandleFunc("GET /v1/waivers", p.serveWaivers)
	mux.HandleFunc("POST /v1/waivers", p.serveWaive)
	mux.HandleFunc("DELETE /v1/waivers/{id}", p.serveRevoke)
	mux.HandleFunc("GET /v1/report", p.serveReport)
	mux.HandleFunc("GET /v1/vex", p.serveVEXExport)
	mux.HandleFunc("POST /v1/vex", p.serveVEXImport)
	mux.HandleFunc("GET /v1/badge/{file}", p.serveBadge)
}

func filterOf(w http.ResponseWriter, q url.Values) (scorecard.Filter, bool) {
	t, ok := respond.Tenant(w, q)
	if on := q.Get("on_unknown"); ok && on != "" && on != scorecard.OnUnknownWarn && on != scorecard.OnUnknownFail {
		respond.JSON(w, http.StatusBadRequest, respond.Error{Error: "on_unknown: want warn or fail", Field: "on_unknown"})
		return scorecard.Filter{}, false
	}
	return scorecard.Filter{Tenant: t, Repository: q.Get("repo"), Service: q.Get("service"), Branch: q.Get("branch"), Commit: q.Get("commit"),
		Release: q.Get("release"), OnUnknown: q.Get("on_unknown")}, ok
}

func (p *Handler) fail(w http.ResponseWriter, what string, err error) {
	var unknown *scorecard.UnknownRelease
	if errors.As(err, &unknown) {
		respond.JSON(w, http.StatusNotFound, respond.Error{Error: err.Error(), Field: "release"})
		return
	}
	p.log.Error(what, "err", err)
	respond.JSON(w, http.StatusInternalServerError, respond.Error{Error: err.Error()})
}

func (p *Handler) serveScorecard(w http.ResponseWriter, r *http.Request) {
	f, ok := filterOf(w, r.URL.Query())
	if !ok {
		return
	}
	card, err := p.Scorecard(r.Context(), f)
	if err != nil {
		p.fail(w, "scorecard", err)
		return
	}
	respond.JSON(w, http.StatusOK, card)
}

// serveGate answers the scorecard with its blocking items only, the most
// expensive ?limit= of them (default 100; the lens summaries count them
// all): the verdict and what breaks it, small enough for every CI run.
func (p *Handler) serveGate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, ok := filterOf(w, q)
	if !ok {
		return
	}
	limit, err := intParam(q, "limit", 100)
	if err != nil {
		respond.JSON(w, http.StatusBadRequest, respond.Error{Error: err.Error(), Field: "limit"})
		return
	}
	card, err := p.Scorecard(r.Context(), f)
	if err != nil {
		p.fail(w, "gate", err)
		return
	}
	blocking := []scorecard.Item{}
	for _, it := range card.Items {
		if it.Blocking() && len(blocking) < limit {
			blocking = append(blocking, it)
		}
	}
	card.Items = blocking
	respond.JSON(w, http.StatusOK, card)
}

// serveFindings answers with the scorecard's items, narrowed by ?lens=,
// ?kind= (kpi, finding, verdict), ?owner=, ?status=, ?blocking=true,
// ?min_score= and ?limit=.
func (p *Handler) serveFindings(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, ok := filterOf(w, q)
	if !ok {
		return
	}
	minScore, err := floatParam(q, "min_score")
	if err != nil {
		respond.JSON(w, http.StatusBadRequest, respond.Error{Error: err.Error(), Field: "min_score"})
		return
	}
	limit, err := intParam(q, "limit", 1000)
	if err != nil {
		respond.JSON(w, http.StatusBadRequest, respond.Error{Error: err.Error(), Field: "limit"})
		return
	}
	card, err := p.Scorecard(r.Context(), f)
	if err != nil {
		p.fail(w, "findings", err)
		return
	}
	out := []scorecard.Item{}
	for _, it := range card.Items {
		if match(q, "lens", it.Lens) && match(q, "kind", it.Kind) && match(q, "owner", it.Owner) && match(q, "status", it.Status) &&
			(q.Get("blocking") != "true" || it.Blocking()) && it.Risk.Score >= minScore && len(out) < limit {
			out = append(out, it)
		}
	}
	respond.JSON(w, http.StatusOK, map[string]any{"items": out})
}

// historyParams reads what the history endpoints share: the filter,
// ?since= (default 7d) and ?limit=; on a bad one it answers 400 and ok is false.
func (p *Handler) historyParams(w http.ResponseWriter, q url.Values, defaultLimit int) (f scorecard.Filter, since time.Time, limit int, ok bool) {
	if f, ok = filterOf(w, q); !ok {
		return f, since, limit, false
	}
	var err error
	if since, err = sinceParam(q, p.Now(), 7*24*time.Hour); err != nil {
		respond.JSON(w, http.StatusBadRequest, respond.Error{Error: err.Error(), Field: "since"})
		return f, since, limit, false
	}
	if limit, err = intParam(q, "limit", defaultLimit); err != nil {
		respond.JSON(w, http.StatusBadRequest, respond.Error{Error: err.Error(), Field: "limit"})
		return f, since, limit, false
	}
	return f, since, limit, true
}

// serveKPIs answers the history of KPI points: ?kpi=, ?scope=, ?lens=,
// the filter's repo, service, branch and commit, ?since= (default 7d),
// ?limit= (default 10000), oldest first.
// serveKPIs answers the history of KPI points: ?kpi=, ?scope=, ?lens=,
// the filter's repo, service, branch and commit, ?since= (default 7d),
// ?limit= (default 10000), oldest first.
func (p *Handler) serveKPIs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, since, limit, ok := p.historyParams(w, q, 10000)
	if !ok {
		return
	}
	out, err := p.KPIHistory(r.Context(), f, scorecard.Series{KPI: q.Get("kpi"), Scope: q.Get("scope"), Lens: q.Get("lens")}, since, limit)
	if err != nil {
		p.fail(w, "kpis", err)
		return
	}
	respond.JSON(w, http.StatusOK, map[string]any{"points": out})
}

// serveVerdicts answers verdicts newest first: the filter, ?reason=,
// ?since= (default 7d), ?limit= (default 1000).
func (p *Handler) serveVerdicts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, since, limit, ok := p.historyParams(w, q, 1000)
	if !ok {
		return
	}
	vs, err := p.Verdicts(r.Context(), f, since, q.Get("reason"), limit)
	if err != nil {
		p.fail(w, "verdicts", err)
		return
	}
	respond.JSON(w, http.StatusOK, map[string]any{"verdicts": vs})
}

func (p *Handler) serveReport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, ok := filterOf(w, q)
	if !ok {
		return
	}
	now := p.Now().UTC()
	from, err := sinceParam(q, now, 7*24*time.Hour)
	if err != nil {
		respond.JSON(w, http.StatusBadRequest, respond.Error{Error: err.Error(), Field: "since"})
		return
	}
	rep, err := p.Report(r.Context(), f, from, now)
	if err != nil {
		p.fail(w, "report", err)
		return
	}
	respond.JSON(w, http.StatusOK, rep)
}
