package alerter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// payload renders a notification in the receiver's format and names the URL
// to post it to.
func payload(r Receiver, n *Notification, now time.Time) (string, []byte, error) {
	switch r.Kind {
	case KindSlack:
		b, err := json.Marshal(map[string]string{"text": slackText(n)})
		return r.URL, b, err
	case KindWebhook:
		b, err := json.Marshal(n)
		return r.URL, b, err
	case KindAlertmanager:
		b, err := json.Marshal(alertmanagerAlerts(n, now))
		return alertmanagerURL(r.URL), b, err
	}
	return "", nil, fmt.Errorf("unknown receiver kind %q", r.Kind)
}

// slackText is the message of a Slack incoming webhook (Mattermost and
// Rocket.Chat take the same "text" field), in Slack's mrkdwn.
func slackText(n *Notification) string {
	var b strings.Builder
	icon := ":rotating_light:"
	if n.Status == "resolved" {
		icon = ":white_check_mark:"
	}
	fmt.Fprintf(&b, "%s *[%s] %d %s %s verdict(s)* for %s (tenant %s)\n", icon, strings.ToUpper(n.Status), len(n.Alerts), n.Lens, plural(n.Status), n.Team, n.Tenant)
	for _, a := range n.Alerts {
		fmt.Fprintf(&b, "• `%s` on *%s*: %s, value %g (budget %g, baseline %g)", a.KPI, a.Scope, a.Reason, a.Value, a.Budget, a.Baseline)
		if a.Summary != "" {
			fmt.Fprintf(&b, " — %s", a.Summary)
		}
		b.WriteByte('\n')
	}
	if n.DashboardURL != "" {
		fmt.Fprintf(&b, "<%s|Open the scorecard>\n", n.DashboardURL)
	}
	return b.String()
}

func plural(status string) string {
	if status == "resolved" {
		return "passing"
	}
	return "failing"
}

// amAlert is Alertmanager's v2 postableAlert.
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       *time.Time        `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// alertmanagerAlerts maps a notification onto Alertmanager alerts: labels
// identify the alert (Alertmanager groups and silences by them), a resolved
// alert carries an end time.
func alertmanagerAlerts(n *Notification, now time.Time) []amAlert {
	out := make([]amAlert, 0, len(n.Alerts))
	for _, a := range n.Alerts {
		al := amAlert{
			Labels: map[string]string{
				"alertname": "TrilensVerdict", "tenant": a.Tenant, "team": n.Team, "lens": a.Lens,
				"kpi": a.KPI, "scope": a.Scope, "reason": a.Reason, "severity": severityOf(a.Status),
			},
			Annotations: map[string]string{
				"summary":     fmt.Sprintf("%s on %s: %s (value %g, budget %g, baseline %g)", a.KPI, a.Scope, a.Reason, a.Value, a.Budget, a.Baseline),
				"description": a.Summary,
				"verdict_id":  a.VerdictID,
			},
			StartsAt:     a.ObservedAt,
			GeneratorURL: n.DashboardURL,
		}
		if a.Resolved {
			end := now
			al.EndsAt = &end
		}
		out = append(out, al)
	}
	return out
}

func severityOf(status string) string {
	switch status {
	case "fail":
		return "critical"
	case "warn":
		return "warning"
	}
	return "info"
}

// alertmanagerURL accepts the Alertmanager base URL (as in the policy) or
// the full API path.
func alertmanagerURL(base string) string {
	if strings.HasSuffix(base, "/api/v2/alerts") {
		return base
	}
	return strings.TrimRight(base, "/") + "/api/v2/alerts"
}

// deliveryError is a failed request; retry tells whether another attempt may succeed.
type deliveryError struct {
	err   error
	retry bool
}

func (e *deliveryError) Error() string { return e.err.Error() }
func (e *deliveryError) Unwrap() error { return e.err }

// post sends one request. Network errors, timeouts, 408, 429 and 5xx may
// pass; other 4xx answers will not change on a retry.
func post(ctx context.Context, c *http.Client, target, idempotencyKey string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return &deliveryError{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "trilens-alerter")
	req.Header.Set("Idempotency-Key", idempotencyKey)
	resp, err := c.Do(req)
	if err != nil {
		// *url.Error prints the whole URL, and a webhook's path is its secret.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = fmt.Errorf("%s %s: %w", ue.Op, redact(target), ue.Err)
		}
		return &deliveryError{err: err, retry: !errors.Is(err, errEgress)}
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_ = resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("%s answered %s: %s", redact(target), resp.Status, bytes.TrimSpace(snippet))
	retry := resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout
	return &deliveryError{err: err, retry: retry}
}

// redact keeps the scheme, host and port of a URL: webhook paths are secrets.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(bad url)"
	}
	return u.Scheme + "://" + u.Host
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an http or https URL")
	}
	return nil
}
