package changecollector

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-github/v75/github"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/server"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

// Collector takes change events over HTTP and publishes them.
type Collector struct {
	cfg     Config
	set     collect.Settings
	slots   chan struct{}
	metrics *metrics
}

// New builds a collector; cfg must be valid.
func New(cfg Config, set collect.Settings) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Publisher == nil {
		return nil, errors.New("changecollector: settings have no publisher")
	}
	if set.Now == nil {
		set.Now = time.Now
	}
	m, err := newMetrics(set.Registerer)
	if err != nil {
		return nil, err
	}
	return &Collector{cfg: cfg, set: set, slots: make(chan struct{}, cfg.MaxConcurrent), metrics: m}, nil
}

// Register mounts POST /v1/changes.
func (c *Collector) Register(mux server.Router) { mux.Handle("POST /v1/changes", c) }

// Accepted is the answer to an ingested request.
type Accepted struct {
	Format   string           `json:"format"`
	Event    string           `json:"event"`
	Events   int              `json:"events"`
	Changes  []AcceptedChange `json:"changes"`
	Ignored  string           `json:"ignored,omitempty"`
	Verified bool             `json:"signature_verified"`
}

// AcceptedChange names one published change.
type AcceptedChange struct {
	EventID string `json:"event_id"`
	ID      string `json:"id"`
	Type    string `json:"type"`
	Status  string `json:"status"`
}

func (c *Collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	acc, err := c.ingest(r)
	if err != nil {
		c.metrics.errors.WithLabelValues(reason(err)).Inc()
		collect.WriteError(w, c.set.Logger, err)
		return
	}
	c.metrics.requests.WithLabelValues(acc.Format).Inc()
	c.metrics.changes.WithLabelValues(acc.Format).Add(float64(acc.Events))
	collect.WriteJSON(w, http.StatusAccepted, acc)
}

// ingest authenticates the request, reads and verifies the whole body, and
// publishes its changes only when all of them decoded.
func (c *Collector) ingest(r *http.Request) (*Accepted, error) {
	// Each request holds its whole body: bound how many are read at once.
	select {
	case c.slots <- struct{}{}:
		defer func() { <-c.slots }()
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = FormatFromHeaders(r.Header)
	}
	tenant, err := c.tenant(r, format)
	if err != nil {
		return nil, err
	}
	secret := c.secret(tenant, format)
	// The tenant is settled: open the body with it, as the guard does for bearer tokens.
	q := r.URL.Query()
	q.Set("tenant", tenant)
	r.URL.RawQuery = q.Encode()
	set := c.set
	set.Auth = nil
	set.Limits = collect.Limits{MaxBodyBytes: c.cfg.MaxBodyBytes, MaxDecodedBytes: c.cfg.MaxBodyBytes}
	if c.set.Limits.MaxBodyBytes > 0 {
		set.Limits.MaxBodyBytes = min(set.Limits.MaxBodyBytes, c.set.Limits.MaxBodyBytes)
	}
	req, err := set.Open(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		if errors.Is(err, collect.ErrTooLarge) {
			return nil, err
		}
		return nil, collect.Errorf(http.StatusBadRequest, "body", "reading the body: %v", err)
	}
	verified := false
	switch format {
	case FormatGitHub:
		if body, err = gitHubPayload(r.Header, body, secret); err != nil {
			if reason(err) == "unauthorized" {
				c.metrics.signatures.WithLabelValues(format).Inc()
			}
			return nil, err
		}
		verified = secret != ""
	case FormatGitLab:
		if secret != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Gitlab-Token")), []byte(secret)) != 1 {
			c.metrics.signatures.WithLabelValues(format).Inc()
			return nil, collect.Errorf(http.StatusUnauthorized, "X-Gitlab-Token", "missing or wrong secret token for tenant %q", tenant)
		}
		verified = secret != ""
	case "":
		format = FormatFromBody(body)
	}
	dec, err := Decode(format, r.Header, body, Limits{MaxDepth: c.cfg.MaxDepth, MaxChanges: c.cfg.MaxChanges})
	if err != nil {
		return nil, err
	}
	acc := &Accepted{Format: format, Event: dec.Event, Ignored: dec.Ignored, Verified: verified, Changes: []AcceptedChange{}}
	now := c.set.Now()
	evs := Events(dec.Records, tenant, req.Subject, now, func(id string, p *eventv1.Producer, s *eventv1.Subject, observed time.Time) *eventv1.Envelope {
		return events.NewEnvelope(id, tenant, eventv1.Kind_KIND_CHANGE, p, s, observed)
	})
	for _, ev := range evs {
		if err := events.Validate(ev); err != nil {
			return nil, err
		}
		ch := ev.GetChanges().GetChanges()[0]
		acc.Changes = append(acc.Changes, AcceptedChange{EventID: ev.GetEnvelope().GetEventId(), ID: ch.GetId(), Type: typeName(ch.GetType()), Status: ch.GetStatus()})
	}
	if len(evs) > 0 {
		if err := c.set.Publisher.Publish(r.Context(), evs...); err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
	}
	acc.Events = len(evs)
	return acc, nil
}

// tenant authenticates r. A bearer token (or, without tokens, the named
// tenant) is the usual way. GitHub and GitLab cannot send a bearer token, so
// a webhook request without one names its tenant in the URL (?tenant=) and
// is authenticated by that tenant's webhook secret instead, which ingest
// then requires.
func (c *Collector) tenant(r *http.Request, format string) (string, error) {
	named := r.URL.Query().Get("tenant")
	if named == "" {
		named = r.Header.Get("X-Trilens-Tenant")
	}
	tenant, err := c.set.Auth.Tenant(r)
	if err == nil {
		if named != "" && named != tenant {
			return "", collect.Errorf(http.StatusForbidden, "tenant", "the token belongs to tenant %q, not %q", tenant, named)
		}
		return tenant, nil
	}
	var ce *collect.Error
	webhook := format == FormatGitHub || format == FormatGitLab
	if !webhook || !errors.As(err, &ce) || ce.Status != http.StatusUnauthorized || r.Header.Get("Authorization") != "" {
		return "", err
	}
	if named == "" || c.secret(named, format) == "" {
		return "", collect.Errorf(http.StatusUnauthorized, "Authorization",
			"want a bearer token, or a %s webhook secret configured for the tenant the URL names (?tenant=)", format)
	}
	return named, nil
}

func (c *Collector) secret(tenant, format string) string {
	s := c.cfg.Secrets[tenant]
	switch format {
	case FormatGitHub:
		return string(s.GitHub)
	case FormatGitLab:
		return string(s.GitLab)
	}
	return ""
}

// gitHubPayload checks X-Hub-Signature-256 over the body as sent when the
// tenant has a secret (missing or wrong is 401), then returns the JSON
// payload, which a webhook set to form encoding sends in its payload field.
// The legacy SHA-1 X-Hub-Signature is not accepted.
func gitHubPayload(h http.Header, body []byte, secret string) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || (mt != "application/json" && mt != "application/x-www-form-urlencoded") {
		return nil, collect.Errorf(http.StatusUnsupportedMediaType, "Content-Type", "want application/json or application/x-www-form-urlencoded, got %q", h.Get("Content-Type"))
	}
	if secret != "" {
		sig := h.Get(github.SHA256SignatureHeader)
		if !strings.HasPrefix(sig, "sha256=") {
			return nil, collect.Errorf(http.StatusUnauthorized, github.SHA256SignatureHeader, "missing: the tenant's GitHub webhook has a secret")
		}
		if github.ValidateSignature(sig, body, []byte(secret)) != nil {
			return nil, collect.Errorf(http.StatusUnauthorized, github.SHA256SignatureHeader, "signature check failed")
		}
	}
	payload, err := github.ValidatePayloadFromBody(mt, bytes.NewReader(body), "", nil)
	if err != nil {
		return nil, collect.Errorf(http.StatusBadRequest, "body", "github: %v", err)
	}
	return payload, nil
}

// reason labels an error for the errors metric.
func reason(err error) string {
	var ce *collect.Error
	switch {
	case errors.Is(err, collect.ErrTooLarge):
		return "too_large"
	case errors.As(err, &ce) && ce.Status == http.StatusUnauthorized:
		return "unauthorized"
	case errors.As(err, &ce) && ce.Status == http.StatusRequestEntityTooLarge:
		return "too_large"
	case errors.As(err, &ce) && ce.Status < 500:
		return "bad_request"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "internal"
}

type metrics struct {
	requests   *prometheus.CounterVec
	changes    *prometheus.CounterVec
	errors     *prometheus.CounterVec
	signatures *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trilens_changecollector_requests_total", Help: "Change requests accepted, by format."}, []string{"format"}),
		changes:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trilens_changecollector_changes_total", Help: "Change events published, by format."}, []string{"format"}),
		errors:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trilens_changecollector_errors_total", Help: "Refused or failed requests, by reason."}, []string{"reason"}),
		signatures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trilens_changecollector_bad_signatures_total", Help: "Webhook deliveries refused for a missing or wrong signature or token, by format."}, []string{"format"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.changes, m.errors, m.signatures} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("changecollector metrics: %w", err)
		}
	}
	return m, nil
}
