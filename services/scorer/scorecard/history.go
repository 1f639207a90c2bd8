package scorecard

import (
	"context"
	"strconv"
	"time"
)

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

// Series narrows a KPI history; an empty field does not.
type Series struct{ KPI, Scope, Lens string }

// KPIHistory reads the KPI points of f and s observed since, oldest first,
// at most limit.
func (p *Service) KPIHistory(ctx context.Context, f Filter, s Series, since time.Time, limit int) ([]KPIPointOut, error) {
	where, args := f.where(true)
	for _, c := range []struct{ col, v string }{{"kpi", s.KPI}, {"scope", s.Scope}, {"lens", s.Lens}} {
		if c.v != "" {
			where += " AND " + c.col + " = ?"
			args = append(args, c.v)
		}
	}
	args = append(args, since)
	rows, err := p.st.Conn().Query(ctx, `SELECT observed_at, lens, kpi, scope, service, branch, commit, value, budget, status, owner
		FROM `+p.st.Database()+`.kpi_points FINAL WHERE `+where+` AND observed_at >= ?
		ORDER BY observed_at LIMIT `+strconv.Itoa(limit), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []KPIPointOut{}
	for rows.Next() {
		var k KPIPointOut
		if err := rows.Scan(&k.ObservedAt, &k.Lens, &k.KPI, &k.Scope, &k.Service, &k.Branch, &k.Commit, &k.Value, &k.Budget, &k.Status, &k.Owner); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
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

// Verdicts reads the verdicts of f observed since (of one reason when
// reason is not empty), newest first, at most limit.
func (p *Service) Verdicts(ctx context.Context, f Filter, since time.Time, reason string, limit int) ([]VerdictOut, error) {
	where, args := f.where(true)
	if reason != "" {
		where += " AND reason = ?"
		args = append(args, reason)
	}
	args = append(args, since)
	rows, err := p.st.Conn().Query(ctx, `SELECT verdict_id, observed_at, lens, kpi, scope, service, commit, status, reason,
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
