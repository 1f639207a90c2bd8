package alerter

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
	"time"

	"github.com/trilens/trilens/pkg/policy"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	scorev1 "github.com/trilens/trilens/proto/trilens/score/v1"
)

// Alert is one verdict as receivers see it.
type Alert struct {
	// Fingerprint identifies what the verdict is about (tenant, lens, KPI,
	// scope): a later verdict on the same thing replaces or resolves it.
	Fingerprint string    `json:"fingerprint"`
	VerdictID   string    `json:"verdict_id"`
	EventID     string    `json:"event_id"`
	Tenant      string    `json:"tenant"`
	Lens        string    `json:"lens"`
	KPI         string    `json:"kpi"`
	Scope       string    `json:"scope"`
	Status      string    `json:"status"`
	Reason      string    `json:"reason"`
	Owner       string    `json:"owner"`
	Summary     string    `json:"summary,omitempty"`
	Value       float64   `json:"value"`
	Baseline    float64   `json:"baseline"`
	Budget      float64   `json:"budget"`
	Test        string    `json:"test,omitempty"`
	PValue      float64   `json:"p_value,omitempty"`
	ObservedAt  time.Time `json:"observed_at"`
	// Resolved marks a passing verdict that ends an alert notified before.
	Resolved bool `json:"resolved"`
}

// state is what the alerter remembers of the last notification of a
// fingerprint: the same state is not notified again within RepeatInterval.
func (a *Alert) state() string { return a.Status + "/" + a.Reason }

// Notification is the alerts of one group, for one receiver.
type Notification struct {
	Version string `json:"version"`
	// ID is deterministic for the same alerts and receiver, so receivers can
	// drop a repeat (it travels in the Idempotency-Key header too).
	ID           string  `json:"id"`
	GroupKey     string  `json:"group_key"`
	Tenant       string  `json:"tenant"`
	Team         string  `json:"team"`
	Lens         string  `json:"lens"`
	Status       string  `json:"status"`
	DashboardURL string  `json:"dashboard_url,omitempty"`
	Alerts       []Alert `json:"alerts"`
}

// NotificationVersion is the schema of the generic JSON webhook body.
const NotificationVersion = "trilens.alerter.v1"

// Receiver kinds.
const (
	KindSlack        = "slack"
	KindWebhook      = "webhook"
	KindAlertmanager = "alertmanager"
)

// Receiver is where a team's notifications go.
type Receiver struct {
	Kind string
	URL  string
}

// alertOf turns a verdict event into an alert; false when the event holds
// no verdict.
func alertOf(ev *eventv1.Event) (Alert, bool) {
	v := ev.GetVerdict()
	if v == nil {
		return Alert{}, false
	}
	env := ev.GetEnvelope()
	a := Alert{
		VerdictID: v.GetVerdictId(),
		EventID:   env.GetEventId(),
		Tenant:    env.GetTenant(),
		Lens:      lensName(v.GetLens()),
		KPI:       v.GetKpi(),
		Scope:     v.GetScope(),
		Status:    strings.ToLower(strings.TrimPrefix(v.GetStatus().String(), "STATUS_")),
		Reason:    v.GetReason(),
		Owner:     v.GetOwner(),
		Summary:   v.GetSummary(),
		Value:     v.GetValue(),
		Baseline:  v.GetBaseline(),
		Budget:    v.GetBudget(),
		Test:      v.GetTest(),
		PValue:    v.GetPValue(),
	}
	if t := env.GetObservedAt(); t != nil {
		a.ObservedAt = t.AsTime()
	} else {
		a.ObservedAt = env.GetReceivedAt().AsTime()
	}
	a.Fingerprint = hash(a.Tenant, a.Lens, a.KPI, a.Scope)
	return a, true
}

func lensName(l scorev1.Lens) string {
	return strings.ToLower(strings.TrimPrefix(l.String(), "LENS_"))
}

// passing tells a verdict that clears an alert from one that raises one.
func (a *Alert) passing() bool { return a.Status == "pass" }

// ownerOf is the team a verdict goes to: the owner the scorer named, else
// the policy's owner of the journey or service in its scope.
func ownerOf(p *policy.Policy, a *Alert) string {
	if a.Owner != "" {
		return a.Owner
	}
	if _, ok := p.Journey(a.Scope); ok {
		return p.OwnerOfJourney(a.Scope)
	}
	return p.OwnerOfService(a.Scope)
}

// receiversOf lists a team's receivers from the policy when the team serves
// the tenant, else the default webhook.
func receiversOf(p *policy.Policy, tenant, team, defaultWebhook string) []Receiver {
	var rs []Receiver
	if t, ok := p.Team(team); ok && t.Serves(tenant) {
		if t.SlackWebhook != "" {
			rs = append(rs, Receiver{KindSlack, t.SlackWebhook})
		}
		if t.Webhook != "" {
			rs = append(rs, Receiver{KindWebhook, t.Webhook})
		}
		if t.Alertmanager != "" {
			rs = append(rs, Receiver{KindAlertmanager, t.Alertmanager})
		}
	}
	if len(rs) == 0 && defaultWebhook != "" {
		rs = append(rs, Receiver{KindWebhook, defaultWebhook})
	}
	return rs
}

// group is the alerts that go out together: same tenant, team, lens and
// firing or resolved.
type group struct {
	key                        string
	tenant, team, lens, status string
	alerts                     []Alert
}

// groupAlerts merges alerts by tenant, team, lens and status, in a stable order.
func groupAlerts(p *policy.Policy, alerts []Alert) []*group {
	byKey := map[string]*group{}
	var out []*group
	for _, a := range alerts {
		team := ownerOf(p, &a)
		a.Owner = team
		status := "firing"
		if a.Resolved {
			status = "resolved"
		}
		key := strings.Join([]string{a.Tenant, team, a.Lens, status}, "/")
		g := byKey[key]
		if g == nil {
			g = &group{key: key, tenant: a.Tenant, team: team, lens: a.Lens, status: status}
			byKey[key] = g
			out = append(out, g)
		}
		g.alerts = append(g.alerts, a)
	}
	for _, g := range out {
		sort.Slice(g.alerts, func(i, j int) bool { return g.alerts[i].Fingerprint < g.alerts[j].Fingerprint })
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// notification builds what r receives for g.
func (g *group) notification(r Receiver, dashboard string) Notification {
	parts := []string{r.Kind, r.URL, g.key}
	for _, a := range g.alerts {
		parts = append(parts, a.Fingerprint, a.state())
	}
	return Notification{
		Version:      NotificationVersion,
		ID:           hash(parts...),
		GroupKey:     g.key,
		Tenant:       g.tenant,
		Team:         g.team,
		Lens:         g.lens,
		Status:       g.status,
		DashboardURL: dashboard,
		Alerts:       g.alerts,
	}
}

func hash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
