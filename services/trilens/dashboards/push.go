package dashboards

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/go-openapi/strfmt"
	goapi "github.com/grafana/grafana-openapi-client-go/client"
	"github.com/grafana/grafana-openapi-client-go/client/folders"
	"github.com/grafana/grafana-openapi-client-go/client/provisioning"
	"github.com/grafana/grafana-openapi-client-go/models"
	"github.com/trilens/trilens/pkg/policy"
)

// Grafana is a Grafana HTTP API client. It uses grafana-openapi-client-go,
// generated from Grafana's own OpenAPI spec: the older
// grafana-api-golang-client is archived and points to it.
type Grafana struct {
	api *goapi.GrafanaHTTPAPI
}

// NewGrafana connects to the Grafana at rawURL with a service account
// token (or "user:password" for basic auth, as on a fresh local server).
func NewGrafana(rawURL, token string, client *http.Client) (*Grafana, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("grafana url %q: want http(s)://host[:port][/path]", rawURL)
	}
	if token == "" {
		return nil, errors.New("a Grafana token is required")
	}
	cfg := &goapi.TransportConfig{
		Host:       u.Host,
		BasePath:   path.Join("/", u.Path, "api"),
		Schemes:    []string{u.Scheme},
		NumRetries: 3,
		Client:     client,
	}
	if user, pass, ok := strings.Cut(token, ":"); ok {
		cfg.BasicAuth = url.UserPassword(user, pass)
	} else {
		cfg.APIKey = token
	}
	return &Grafana{api: goapi.NewHTTPClientWithConfig(strfmt.Default, cfg)}, nil
}

// API is the underlying client, for checks beyond pushing.
func (g *Grafana) API() *goapi.GrafanaHTTPAPI { return g.api }

// PushResult counts what a push wrote.
type PushResult struct {
	Folder     string
	Dashboards []string
	Rules      []string
}

// Push uploads every dashboard and the policy's alert rules into the
// tenant's folder, creating it when missing and replacing what is there.
func (g *Grafana) Push(ctx context.Context, p *policy.Policy) (PushResult, error) {
	res := PushResult{Folder: FolderUID(p.Tenant)}
	if err := g.ensureFolder(ctx, p.Tenant); err != nil {
		return res, err
	}
	ds, err := Dashboards()
	if err != nil {
		return res, err
	}
	for _, d := range ds {
		raw, err := json.Marshal(d)
		if err != nil {
			return res, err
		}
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			return res, err
		}
		_, err = g.api.Dashboards.PostDashboard(&models.SaveDashboardCommand{
			Dashboard: body,
			FolderUID: res.Folder,
			Overwrite: true,
			Message:   "trilens dashboards push",
		})
		if err != nil {
			return res, fmt.Errorf("dashboard %s: %w", *d.Uid, err)
		}
		res.Dashboards = append(res.Dashboards, *d.Uid)
	}
	for _, r := range AlertRules(p) {
		rule, err := r.provisioned(res.Folder)
		if err != nil {
			return res, err
		}
		if _, err := g.api.Provisioning.GetAlertRule(r.UID); err == nil {
			params := provisioning.NewPutAlertRuleParamsWithContext(ctx).WithUID(r.UID).WithBody(rule)
			_, err = g.api.Provisioning.PutAlertRule(params)
			if err != nil {
				return res, fmt.Errorf("alert rule %s: %w", r.UID, err)
			}
		} else {
			var nf *provisioning.GetAlertRuleNotFound
			if !errors.As(err, &nf) {
				return res, fmt.Errorf("alert rule %s: %w", r.UID, err)
			}
			if _, err := g.api.Provisioning.PostAlertRule(provisioning.NewPostAlertRuleParamsWithContext(ctx).WithBody(rule)); err != nil {
				return res, fmt.Errorf("alert rule %s: %w", r.UID, err)
			}
		}
		res.Rules = append(res.Rules, r.UID)
	}
	return res, nil
}

func (g *Grafana) ensureFolder(ctx context.Context, tenant string) error {
	uid := FolderUID(tenant)
	_, err := g.api.Folders.GetFolderByUIDWithParams(folders.NewGetFolderByUIDParamsWithContext(ctx).WithFolderUID(uid))
	if err == nil {
		return nil
	}
	var nf *folders.GetFolderByUIDNotFound
	if !errors.As(err, &nf) {
		return fmt.Errorf("folder %s: %w", uid, err)
	}
	if _, err := g.api.Folders.CreateFolder(&models.CreateFolderCommand{UID: uid, Title: FolderTitle(tenant)}); err != nil {
		return fmt.Errorf("create folder %s: %w", uid, err)
	}
	return nil
}

// provisioned converts a rule to the API client's model, in folder.
func (r AlertRule) provisioned(folder string) (*models.ProvisionedAlertRule, error) {
	raw, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var m models.ProvisionedAlertRule
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("alert rule %s: %w", r.UID, err)
	}
	orgID := int64(1)
	m.FolderUID, m.OrgID = &folder, &orgID
	return &m, nil
}
