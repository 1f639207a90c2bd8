//go:build grafana

// The real-Grafana check (make grafana && make test-grafana): opt-in because
// building Grafana takes 30-45 minutes cold. It starts the Grafana built by
// scripts/grafana/build.sh against the test's real ClickHouse, pushes every
// dashboard, folder and alert rule through the API client, checks the data
// source's health and answers one panel query through /api/ds/query.

package dashboards

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-openapi-client-go/models"
	"github.com/trilens/trilens/pkg/store/chtest"
)

const envGrafanaHome = "TRILENS_GRAFANA_HOME"

// startGrafana runs the built Grafana on a free port; provision, when set,
// writes provisioning files under the directory it is given.
func startGrafana(t *testing.T, provision func(dir string)) string {
	t.Helper()
	home := os.Getenv(envGrafanaHome)
	bin := filepath.Join(home, "bin", "grafana")
	if _, err := os.Stat(bin); home == "" || err != nil {
		t.Fatalf("no Grafana at $%s/bin/grafana (%q): run `make grafana` first", envGrafanaHome, home)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	ini := fmt.Sprintf(`[paths]
data = %[1]s/data
logs = %[1]s/logs
plugins = %[2]s/plugins
provisioning = %[1]s/provisioning
[server]
http_addr = 127.0.0.1
http_port = %[3]d
[security]
admin_user = admin
admin_password = admin
[plugins]
allow_loading_unsigned_plugins = grafana-clickhouse-datasource
[analytics]
reporting_enabled = false
check_for_updates = false
[log]
mode = console
level = warn
`, dir, home, port)
	for _, d := range []string{"data", "logs", "provisioning/datasources", "provisioning/dashboards", "provisioning/alerting", "provisioning/plugins", "provisioning/notifiers"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if provision != nil {
		provision(filepath.Join(dir, "provisioning"))
	}
	cfg := filepath.Join(dir, "custom.ini")
	if err := os.WriteFile(cfg, []byte(ini), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "server", "--homepath", filepath.Join(home, "src"), "--config", cfg)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("grafana log:\n%s", logs.String())
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(base + "/api/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("grafana did not become healthy in 2 minutes:\n%s", logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestRealGrafana(t *testing.T) {
	st := chtest.Store(t)
	now := time.Now().UTC().Truncate(time.Second)
	seed(t, st, now)
	base := startGrafana(t, nil)
	g, err := NewGrafana(base, "admin:admin", &http.Client{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}

	// The ClickHouse data source, as deploy/grafana provisions it, pointed at
	// the test's database (plugin v1.1.2 names the host "server").
	ch, err := url.Parse(chtest.DSN())
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(ch.Host)
	_, err = g.API().Datasources.AddDataSource(&models.AddDataSourceCommand{
		Name: "Trilens ClickHouse", UID: DataSourceUID, Type: DataSourceType, Access: "proxy",
		JSONData: map[string]any{"server": host, "port": mustAtoi(t, port), "username": "default", "defaultDatabase": st.Database()},
	})
	if err != nil {
		t.Fatalf("add data source: %v", err)
	}
	if _, err := g.API().Datasources.CheckDatasourceHealthWithUID(DataSourceUID); err != nil {
		t.Fatalf("data source health: %v", err)
	}

	p := demoPolicy(t)
	res, err := g.Push(context.Background(), p)
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	// Pushing again replaces what is there.
	if _, err := g.Push(context.Background(), p); err != nil {
		t.Fatalf("second push: %v", err)
	}
	if len(res.Dashboards) != len(Boards()) || len(res.Rules) != len(AlertRules(p)) {
		t.Fatalf("pushed %+v", res)
	}
	for _, uid := range res.Dashboards {
		d, err := g.API().Dashboards.GetDashboardByUID(uid)
		if err != nil {
			t.Fatalf("dashboard %s: %v", uid, err)
		}
		if d.Payload.Meta.FolderUID != FolderUID(p.Tenant) {
			t.Errorf("dashboard %s in folder %q, want %q", uid, d.Payload.Meta.FolderUID, FolderUID(p.Tenant))
		}
	}
	for _, uid := range res.Rules {
		if _, err := g.API().Provisioning.GetAlertRule(uid); err != nil {
			t.Errorf("alert rule %s: %v", uid, err)
		}
	}

	// One panel query answered by Grafana through the plugin.
	panel := Boards()[0].Panels[4] // KPI status per lens and service
	body, _ := json.Marshal(map[string]any{
		"from": "now-30d", "to": "now",
		"queries": []map[string]any{{
			"refId": "A", "datasource": map[string]string{"uid": DataSourceUID, "type": DataSourceType},
			"rawSql": strings.ReplaceAll(panel.Targets[0].SQL, "${tenant}", "shop"), "format": FormatTable,
		}},
	})
	req, _ := http.NewRequest(http.MethodPost, base+"/api/ds/query", bytes.NewReader(body))
	req.SetBasicAuth("admin", "admin")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/api/ds/query: %s: %s", resp.Status, raw)
	}
	var out struct {
		Results map[string]struct {
			Error  string `json:"error"`
			Frames []struct {
				Schema struct {
					Fields []struct{ Name string } `json:"fields"`
				} `json:"schema"`
				Data struct {
					Values [][]any `json:"values"`
				} `json:"data"`
			} `json:"frames"`
		} `json:"results"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	a := out.Results["A"]
	if a.Error != "" || len(a.Frames) == 0 {
		t.Fatalf("query answer %s", raw)
	}
	var names []string
	for _, f := range a.Frames[0].Schema.Fields {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != strings.Join(panel.Targets[0].Columns, ",") || len(a.Frames[0].Data.Values) == 0 || len(a.Frames[0].Data.Values[0]) == 0 {
		t.Fatalf("query answered fields %v with %d columns of values, want %v with rows", names, len(a.Frames[0].Data.Values), panel.Targets[0].Columns)
	}
	t.Logf("pushed %d dashboards and %d alert rules into folder %s; %q answered %v with %d rows through Grafana",
		len(res.Dashboards), len(res.Rules), res.Folder, panel.Title, names, len(a.Frames[0].Data.Values[0]))

	// The rules' queries and expressions, evaluated by Grafana's alerting on
	// the seeded data: checkout is over its p95 budget and burns its error
	// budget 20 times too fast (2 % errors against 0.1 %).
	rules := AlertRules(p)
	for _, c := range []struct {
		rule       AlertRule
		label, val string
	}{{rules[0], "scope", "checkout"}, {rules[1], "journey", "checkout"}} {
		firing := evalRule(t, base, c.rule)
		if !firing[c.label+"="+c.val] {
			t.Errorf("rule %q: Grafana's evaluation fires for %v, want %s=%s among them", c.rule.Title, firing, c.label, c.val)
		}
		t.Logf("rule %q fires in Grafana for %v", c.rule.Title, firing)
	}
}

// evalRule evaluates a rule's queries through Grafana's /api/v1/eval and
// returns the labels (as key=value) of the series its condition fires for.
func evalRule(t *testing.T, base string, r AlertRule) map[string]bool {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"data": r.Data})
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/eval", bytes.NewReader(body))
	req.SetBasicAuth("admin", "admin")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("eval %q: %s: %s", r.Title, resp.Status, raw)
	}
	var out struct {
		Results map[string]struct {
			Error  string `json:"error"`
			Frames []struct {
				Schema struct {
					Fields []struct {
						Labels map[string]string `json:"labels"`
					} `json:"fields"`
				} `json:"schema"`
				Data struct {
					Values [][]any `json:"values"`
				} `json:"data"`
			} `json:"frames"`
		} `json:"results"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	cond := out.Results[r.Condition]
	if cond.Error != "" {
		t.Fatalf("eval %q: %s", r.Title, cond.Error)
	}
	firing := map[string]bool{}
	for _, f := range cond.Frames {
		for i, field := range f.Schema.Fields {
			if i >= len(f.Data.Values) || len(f.Data.Values[i]) == 0 {
				continue
			}
			if v, ok := f.Data.Values[i][0].(float64); ok && v != 0 {
				for k, l := range field.Labels {
					firing[k+"="+l] = true
				}
			}
		}
	}
	if len(firing) == 0 {
		t.Logf("eval %q answered %s", r.Title, raw)
	}
	return firing
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("port %q: %v", s, err)
	}
	return n
}

// The committed provisioning files load into a real Grafana: the dashboards
// through a file provider reading dashboards/, the alert rules from
// deploy/grafana/provisioning/alerting.
func TestRealGrafanaProvisioning(t *testing.T) {
	st := chtest.Store(t)
	ch, err := url.Parse(chtest.DSN())
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(ch.Host)
	dashDir, err := filepath.Abs(filepath.Join(root, DashboardDir))
	if err != nil {
		t.Fatal(err)
	}
	alerting, err := os.ReadFile(filepath.Join(root, AlertProvisioning))
	if err != nil {
		t.Fatal(err)
	}
	base := startGrafana(t, func(dir string) {
		files := map[string]string{
			// Plugin v1.1.2 names the host "server"; deploy/grafana's file is for current plugins.
			"datasources/clickhouse.yaml": fmt.Sprintf("apiVersion: 1\ndatasources:\n  - name: Trilens ClickHouse\n    uid: %s\n    type: %s\n"+
				"    jsonData: {server: %s, port: %s, username: default, defaultDatabase: %s}\n", DataSourceUID, DataSourceType, host, port, st.Database()),
			"dashboards/trilens.yaml": fmt.Sprintf("apiVersion: 1\nproviders:\n  - name: trilens\n    folder: Trilens\n    type: file\n"+
				"    disableDeletion: true\n    allowUiUpdates: false\n    options: {path: %s}\n", dashDir),
			"alerting/trilens.yaml": string(alerting),
		}
		for name, body := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	})
	g, err := NewGrafana(base, "admin:admin", &http.Client{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range Boards() {
		if _, err := g.API().Dashboards.GetDashboardByUID(b.UID); err != nil {
			t.Errorf("provisioned dashboard %s: %v", b.UID, err)
		}
	}
	p := demoPolicy(t)
	for _, r := range AlertRules(p) {
		got, err := g.API().Provisioning.GetAlertRule(r.UID)
		if err != nil {
			t.Errorf("provisioned alert rule %s: %v", r.UID, err)
			continue
		}
		if *got.Payload.Title != r.Title || string(got.Payload.Provenance) != "file" {
			t.Errorf("alert rule %s: title %q provenance %q", r.UID, *got.Payload.Title, got.Payload.Provenance)
		}
		for i, q := range got.Payload.Data {
			model, _ := json.Marshal(q.Model)
			if want, _ := json.Marshal(r.Data[i].Model["rawSql"]); r.Data[i].Model["rawSql"] != nil && !strings.Contains(string(model), string(want)) {
				t.Errorf("alert rule %s: query %s, want %s", r.UID, model, want)
			}
		}
	}
	t.Logf("provisioned %d dashboards and %d alert rules from the committed files", len(Boards()), len(AlertRules(p)))
}
