package scorer

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/server"
)

// Register mounts the scorecard's part of the scorer API (JSON):
//
//	GET    /v1/scorecard   every gap of all lenses, most expensive first
//	GET    /v1/gate        the same with only the blocking gaps: what a CI gate reads
//	GET    /v1/kpis        the history of KPI points
//	GET    /v1/findings    scorecard items filtered by lens, kind, owner, status
//	GET    /v1/verdicts    verdicts, newest first
//	GET    /v1/waivers     the risk ledger
//	POST   /v1/waivers     add or change a waiver
//	DELETE /v1/waivers/{id} revoke a waiver
//	GET    /v1/report      KPI deltas per lens, top risks by money, waivers expiring (?since=7d)
//
// Every route takes ?tenant= (default "default"); the scorecard routes also
// repo, service, branch, commit and release (see Filter).
func (p *scorecard) Register(mux server.Router) {
	mux.HandleFunc("GET /v1/scorecard", p.serveScorecard)
	mux.HandleFunc("GET /v1/gate", p.serveGate)
	mux.HandleFunc("GET /v1/kpis", p.serveKPIs)
	mux.HandleFunc("GET /v1/findings", p.serveFindings)
	mux.HandleFunc("GET /v1/verdicts", p.serveVerdicts)
	mux.HandleFunc("GET /v1/waivers", p.serveWaivers)
	mux.HandleFunc("POST /v1/waivers", p.serveWaive)
	mux.HandleFunc("DELETE /v1/waivers/{id}", p.serveRevoke)
	mux.HandleFunc("GET /v1/report", p.serveReport)
}

func tenantOf(w http.ResponseWriter, q url.Values) (string, bool) {
	t := q.Get("tenant")
	if t == "" {
		t = "default"
	}
	if err := events.ValidateTenant(t); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error(), "tenant"})
		return "", false
	}
	return t, true
}

func filterOf(w http.ResponseWriter, q url.Values) (Filter, bool) {
	t, ok := tenantOf(w, q)
	return Filter{Tenant: t, Repository: q.Get("repo"), Service: q.Get("service"), Branch: q.Get("branch"), Commit: q.Get("commit"),
		Release: q.Get("release")}, ok
}

func (p *scorecard) fail(w http.ResponseWriter, what string, err error) {
	var unknown *unknownRelease
	if errors.As(err, &unknown) {
		writeJSON(w, http.StatusNotFound, apiError{err.Error(), "release"})
		return
	}
	p.log.Error(what, "err", err)
	writeJSON(w, http.StatusInternalServerError, apiError{Error: err.Error()})
}

func (p *scorecard) serveScorecard(w http.ResponseWriter, r *http.Request) {
	f, ok := filterOf(w, r.URL.Query())
	if !ok {
		return
	}
	card, err := p.scorecard(r.Context(), f)
	if err != nil {
		p.fail(w, "scorecard", err)
		return
	}
	writeJSON(w, http.StatusOK, card)
}

// serveGate answers the scorecard with its blocking items only, the most
// expensive ?limit= of them (default 100; the lens summaries count them
// all): the verdict and what breaks it, small enough for every CI run.
func (p *scorecard) serveGate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, ok := filterOf(w, q)
	if !ok {
		return
	}
	limit, err := intParam(q, "limit", 100)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error(), "limit"})
		return
	}
	card, err := p.scorecard(r.Context(), f)
	if err != nil {
		p.fail(w, "gate", err)
		return
	}
	blocking := []Item{}
	for _, it := range card.Items {
		if it.Blocking() && len(blocking) < limit {
			blocking = append(blocking, it)
		}
	}
	card.Items = blocking
	writeJSON(w, http.StatusOK, card)
}

// serveFindings answers with the scorecard's items, narrowed by ?lens=,
// ?kind= (kpi, finding, verdict), ?owner=, ?status=, ?blocking=true,
// ?min_score= and ?limit=.
func (p *scorecard) serveFindings(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, ok := filterOf(w, q)
	if !ok {
		return
	}
	minScore, err := floatParam(q, "min_score")
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error(), "min_score"})
		return
	}
	limit, err := intParam(q, "limit", 1000)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error(), "limit"})
		return
	}
	card, err := p.scorecard(r.Context(), f)
	if err != nil {
		p.fail(w, "findings", err)
		return
	}
	out := []Item{}
	for _, it := range card.Items {
		if match(q, "lens", it.Lens) && match(q, "kind", it.Kind) && match(q, "owner", it.Owner) && match(q, "status", it.Status) &&
			(q.Get("blocking") != "true" || it.Blocking()) && it.Risk.Score >= minScore && len(out) < limit {
			out = append(out, it)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": out})
}

func match(q url.Values, key, v string) bool { return q.Get(key) == "" || q.Get(key) == v }

func floatParam(q url.Values, key string) (float64, error) {
	if q.Get(key) == "" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(q.Get(key), 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %v", key, err)
	}
	return v, nil
}

func intParam(q url.Values, key string, def int) (int, error) {
	if q.Get(key) == "" {
		return def, nil
	}
	v, err := strconv.Atoi(q.Get(key))
	if err != nil || v < 1 {
		return 0, fmt.Errorf("%s: want a positive integer", key)
	}
	return v, nil
}

// sinceParam reads ?since= as a duration back from now ("7d", "36h"), default def.
func sinceParam(q url.Values, now time.Time, def time.Duration) (time.Time, error) {
	s := q.Get("since")
	if s == "" {
		return now.Add(-def), nil
	}
	d, err := ParseSince(s)
	if err != nil {
		return time.Time{}, err
	}
	return now.Add(-d), nil
}

// ParseSince reads a duration that may count days: "7d", "1d12h", "90m".
func ParseSince(s string) (time.Duration, error) {
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil {
			return 0, fmt.Errorf("since %q: want a duration such as 7d or 36h", s)
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
	}
	if s == "" {
		return days, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d+days <= 0 {
		return 0, fmt.Errorf("since %q: want a duration such as 7d or 36h", s)
	}
	return days + d, nil
}

// KPIPointOut is one point of a KPI's history.
type KPIPointOut struct {
	ObservedAt time.Time `json:"observed_at"`
	Lens       string    `json:"lens"`
	KPI        string    `json:"kpi"`
	Scope      string    `json:"scope"`
	Service    string    `json:"service,omitempty"`
	Branch     string    `json:"branch,omitempty"`
	Commit     string    `json:"commit,omitempty"`
	Value      float64   `json:"value"`
	Budget     float64   `json:"budget"`
	Status     string    `json:"status"`
	Owner      string    `json:"owner,omitempty"`
}

// historyParams reads what the history endpoints share: the filter,
// ?since= (default 7d) and ?limit=; on a bad one it answers 400 and ok is false.
func (p *scorecard) historyParams(w http.ResponseWriter, q url.Values, defaultLimit int) (f Filter, since time.Time, limit int, ok bool) {
	if f, ok = filterOf(w, q); !ok {
		return f, since, limit, false
	}
	var err error
	if since, err = sinceParam(q, p.now(), 7*24*time.Hour); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error(), "since"})
		return f, since, limit, false
	}
	if limit, err = intParam(q, "limit", defaultLimit); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error(), "limit"})
		return f, since, limit, false
	}
	return f, since, limit, true
}

// serveKPIs answers the history of KPI points: ?kpi=, ?scope=, ?lens=,
// the filter's repo, service, branch and commit, ?since= (default 7d),
// ?limit= (default 10000), oldest first.
func (p *scorecard) serveKPIs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, since, limit, ok := p.historyParams(w, q, 10000)
	if !ok {
		return
	}
	where, args := f.where(true)
	for _, c := range []string{"kpi", "scope", "lens"} {
		if v := q.Get(c); v != "" {
			where += " AND " + c + " = ?"
			args = append(args, v)
		}
	}
	args = append(args, since)
	rows, err := p.st.Conn().Query(r.Context(), `SELECT observed_at, lens, kpi, scope, service, branch, commit, value, budget, status, owner
		FROM `+p.st.Database()+`.kpi_points FINAL WHERE `+where+` AND observed_at >= ?
		ORDER BY observed_at LIMIT `+strconv.Itoa(limit), args...)
	if err != nil {
		p.fail(w, "kpis", err)
		return
	}
	defer rows.Close()
	out := []KPIPointOut{}
	for rows.Next() {
		var k KPIPointOut
		if err := rows.Scan(&k.ObservedAt, &k.Lens, &k.KPI, &k.Scope, &k.Service, &k.Branch, &k.Commit, &k.Value, &k.Budget, &k.Status, &k.Owner); err != nil {
			p.fail(w, "kpis", err)
			return
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		p.fail(w, "kpis", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"points": out})
}

// VerdictOut is one verdict.
type VerdictOut struct {
	VerdictID  string    `json:"verdict_id"`
	ObservedAt time.Time `json:"observed_at"`
	Lens       string    `json:"lens"`
	KPI        string    `json:"kpi"`
	Scope      string    `json:"scope"`
	Service    string    `json:"service,omitempty"`
	Commit     string    `json:"commit,omitempty"`
	Status     string    `json:"status"`
	Reason     string    `json:"reason"`
	Value      float64   `json:"value"`
	Baseline   float64   `json:"baseline"`
	Budget     float64   `json:"budget"`
	Test       string    `json:"test"`
	PValue     float64   `json:"p_value"`
	Owner      string    `json:"owner"`
	Summary    string    `json:"summary"`
}

// serveVerdicts answers verdicts newest first: the filter, ?reason=,
// ?since= (default 7d), ?limit= (default 1000).
func (p *scorecard) serveVerdicts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, since, limit, ok := p.historyParams(w, q, 1000)
	if !ok {
		return
	}
	if _, err := p.ledger.sweep(r.Context(), f.Tenant); err != nil {
		p.fail(w, "verdicts", err)
		return
	}
	vs, err := p.verdicts(r, f, since, q.Get("reason"), limit)
	if err != nil {
		p.fail(w, "verdicts", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"verdicts": vs})
}

func (p *scorecard) verdicts(r *http.Request, f Filter, since time.Time, reason string, limit int) ([]VerdictOut, error) {
	where, args := f.where(true)
	if reason != "" {
		where += " AND reason = ?"
		args = append(args, reason)
	}
	args = append(args, since)
	rows, err := p.st.Conn().Query(r.Context(), `SELECT verdict_id, observed_at, lens, kpi, scope, service, commit, status, reason,
		value, baseline, budget, test, p_value, owner, summary
		FROM `+p.st.Database()+`.verdicts FINAL WHERE `+where+` AND observed_at >= ?
		ORDER BY observed_at DESC, verdict_id LIMIT `+strconv.Itoa(limit), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []VerdictOut{}
	for rows.Next() {
		var v VerdictOut
		if err := rows.Scan(&v.VerdictID, &v.ObservedAt, &v.Lens, &v.KPI, &v.Scope, &v.Service, &v.Commit, &v.Status, &v.Reason,
			&v.Value, &v.Baseline, &v.Budget, &v.Test, &v.PValue, &v.Owner, &v.Summary); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (p *scorecard) serveWaivers(w http.ResponseWriter, r *http.Request) {
	t, ok := tenantOf(w, r.URL.Query())
	if !ok {
		return
	}
	ws, err := p.ledger.sweep(r.Context(), t)
	if err != nil {
		p.fail(w, "waivers", err)
		return
	}
	if ws == nil {
		ws = []Waiver{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"waivers": ws})
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
	By                  string    `json:"by"`
}

func (p *scorecard) serveWaive(w http.ResponseWriter, r *http.Request) {
	t, ok := tenantOf(w, r.URL.Query())
	if !ok {
		return
	}
	var req WaiverRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{"body: " + err.Error(), "body"})
		return
	}
	now := p.now().UTC().Truncate(time.Second)
	if field, err := req.check(now); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error(), field})
		return
	}
	existing, err := p.ledger.list(r.Context(), t)
	if err != nil {
		p.fail(w, "waive", err)
		return
	}
	wv := Waiver{ID: req.ID, Source: WaiverSourceLedger, Lens: req.Lens, Target: req.Target, Scope: req.Scope, Owner: req.Owner,
		Reason: req.Reason, CompensatingControl: req.CompensatingControl, CreatedAt: now, ExpiresAt: req.ExpiresAt.UTC()}
	if wv.Lens == "" {
		wv.Lens = lensOfKPI(wv.Target)
	}
	if wv.ID == "" {
		wv.ID = "w-" + events.ID(t, wv.Target, wv.Scope, now.Format(time.RFC3339))[:10]
	}
	change := WaiverCreated
	for _, e := range existing {
		if e.ID == wv.ID {
			if e.Source == WaiverSourcePolicy {
				writeJSON(w, http.StatusConflict, apiError{"waiver " + wv.ID + " is declared in the policy file; change it there", "id"})
				return
			}
			change, wv.CreatedAt = WaiverUpdated, e.CreatedAt
		}
	}
	if err := p.ledger.record(r.Context(), t, wv, change, req.By, now); err != nil {
		p.fail(w, "waive", err)
		return
	}
	wv.State, wv.LastChange, wv.ChangedBy, wv.ChangedAt = WaiverActive, change, req.By, now
	writeJSON(w, http.StatusOK, wv)
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
	case req.Lens != "" && req.Lens != LensPerformance && req.Lens != LensSecurity && req.Lens != LensScalability:
		return "lens", fmt.Errorf("lens %q: want performance, security or scalability", req.Lens)
	}
	return "", nil
}

func (p *scorecard) serveRevoke(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	t, ok := tenantOf(w, q)
	if !ok {
		return
	}
	id := r.PathValue("id")
	ws, err := p.ledger.list(r.Context(), t)
	if err != nil {
		p.fail(w, "revoke", err)
		return
	}
	for _, wv := range ws {
		if wv.ID != id {
			continue
		}
		if wv.Source == WaiverSourcePolicy {
			writeJSON(w, http.StatusConflict, apiError{"waiver " + id + " is declared in the policy file; remove it there", "id"})
			return
		}
		now := p.now().UTC().Truncate(time.Second)
		if err := p.ledger.record(r.Context(), t, wv, WaiverRevoked, q.Get("by"), now); err != nil {
			p.fail(w, "revoke", err)
			return
		}
		wv.State, wv.LastChange, wv.ChangedBy, wv.ChangedAt = WaiverRevoked, WaiverRevoked, q.Get("by"), now
		writeJSON(w, http.StatusOK, wv)
		return
	}
	writeJSON(w, http.StatusNotFound, apiError{"no waiver " + id, "id"})
}
