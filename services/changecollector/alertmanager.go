package changecollector

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/trilens/trilens/pkg/events"
	changev1 "github.com/trilens/trilens/proto/trilens/change/v1"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

// amMessage is Alertmanager's webhook notification (version 4):
// https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
type amMessage struct {
	Version  string    `json:"version"`
	GroupKey string    `json:"groupKey"`
	Status   string    `json:"status"`
	Alerts   []amAlert `json:"alerts"`
}

type amAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// decodeAlertmanager makes one incident per alert: firing opens it,
// resolved closes it. An incident is one alert (its fingerprint) from the
// time it started, so the same alert firing again later is a new incident.
func decodeAlertmanager(body []byte, maxChanges int) (*Decoded, error) {
	var m amMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	if len(m.Alerts) > maxChanges {
		return nil, fmt.Errorf("%w: %d alerts, at most %d", ErrTooMany, len(m.Alerts), maxChanges)
	}
	d := &Decoded{Event: "alertmanager/" + m.Status}
	for i, a := range m.Alerts {
		var status string
		switch a.Status {
		case "firing":
			status = StatusOpen
		case "resolved":
			status = StatusResolved
		default:
			return nil, fmt.Errorf("alerts[%d].status: want firing or resolved, got %q", i, a.Status)
		}
		if a.StartsAt.IsZero() {
			return nil, fmt.Errorf("alerts[%d].startsAt: missing", i)
		}
		fp := a.Fingerprint
		if fp == "" {
			fp = labelsID(a.Labels)
		}
		ch := &changev1.Change{
			Id:              fmt.Sprintf("alertmanager:%s:%d", fp, a.StartsAt.Unix()),
			Type:            changev1.ChangeType_CHANGE_TYPE_INCIDENT,
			Status:          status,
			StartedUnixNano: nanos(a.StartsAt),
			Url:             a.GeneratorURL,
			Title:           or(a.Annotations["summary"], or(a.Annotations["description"], a.Labels["alertname"])),
			Source:          FormatAlertmanager,
			SourceEvent:     "alert " + a.Status,
			Environment:     or(a.Labels["environment"], a.Labels["env"]),
			Severity:        a.Labels["severity"],
		}
		// Alertmanager sets endsAt of a firing alert to when it would expire, not when it ended.
		if status == StatusResolved {
			ch.FinishedUnixNano = nanos(a.EndsAt)
		}
		d.Records = append(d.Records, Record{Change: ch, Subject: &eventv1.Subject{Service: a.Labels["service"], Repository: a.Labels["repository"]}})
	}
	return d, nil
}

// labelsID identifies an alert by its sorted labels, for senders without fingerprints.
func labelsID(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		parts = append(parts, k, labels[k])
	}
	return events.ID(strings.Join(parts, "\x00"))[:16]
}
