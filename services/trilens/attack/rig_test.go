package attack

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/store/chtest"
	"github.com/trilens/trilens/services/trilens"
)

func TestMain(m *testing.M) { os.Exit(chtest.Run(m, natstest.LeakOptions()...)) }

// The tokens of two tenants, each with every role, an operator and a
// Prometheus scraper.
var tokens = []struct {
	value, id, tenant string
	role              collect.Role
}{
	{"acme-ingest", "ci-acme", "acme", collect.RoleIngest},
	{"acme-read", "viewer-acme", "acme", collect.RoleRead},
	{"acme-admin", "admin-acme", "acme", collect.RoleAdmin},
	{"globex-ingest", "ci-globex", "globex", collect.RoleIngest},
	{"globex-read", "viewer-globex", "globex", collect.RoleRead},
	{"globex-admin", "admin-globex", "globex", collect.RoleAdmin},
	{"operator", "operator", "", collect.RoleSystem},
	{"scraper", "prometheus", "", collect.RoleMetrics},
}

// rig is one running Trilens with both tenants' scans scored.
type rig struct {
	t   *testing.T
	app *trilens.App
	url string
	db  string
}

func config(t *testing.T) trilens.Config {
	var cfg trilens.Config
	cfg.RegisterFlags(flag.NewFlagSet("attack", flag.ContinueOnError))
	cfg.DataDir = t.TempDir()
	cfg.PolicyFile = "no-policy.yaml" // built-in defaults
	cfg.NATS.Listen = ""
	cfg.NATS.StoreDir = t.TempDir()
	cfg.Server.HTTPAddress = "127.0.0.1:0"
	cfg.Server.StallTimeout = time.Second
	cfg.Trace.GRPCAddress = "127.0.0.1:0"
	cfg.Trace.HTTPAddress = "127.0.0.1:0"
	cfg.ClickHouse.Start = false
	sc := chtest.Config(t)
	cfg.Store.DSN, cfg.Store.Database = sc.DSN, sc.Database
	for _, tok := range tokens {
		cfg.Auth.Tokens = append(cfg.Auth.Tokens, collect.Token{ID: tok.id, Tenant: tok.tenant, Role: tok.role, SHA256: collect.HashToken(tok.value)})
	}
	return cfg
}

func newRig(t *testing.T) *rig {
	t.Helper()
	return startRig(t, config(t))
}

func startRig(t *testing.T, cfg trilens.Config) *rig {
	t.Helper()
	app, err := trilens.NewApp(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := app.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	r := &rig{t: t, app: app, url: "http://" + app.Server.Addr(), db: cfg.Store.Database}
	r.seed()
	return r
}

// seed scores one real gosec report per tenant.
func (r *rig) seed() {
	sarif, err := os.ReadFile("../../scancollector/testdata/reports/gosec.sarif")
	if err != nil {
		r.t.Fatal(err)
	}
	for _, tenant := range []string{"acme", "globex"} {
		q := "/v1/scans?repo=" + tenant + "/shop&branch=main&commit=c1&service=checkout"
		if code, body := r.do(http.MethodPost, q, tenant+"-ingest", sarif); code != http.StatusAccepted {
			r.t.Fatalf("seed %s: %d %s", tenant, code, body)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for _, tenant := range []string{"acme", "globex"} {
		for r.findings(tenant+"-read", "") == 0 {
			if time.Now().After(deadline) {
				r.t.Fatalf("the seed of %s was not scored within a minute", tenant)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// Derived tables follow the findings: wait until nothing changes.
	prev := r.state()
	for stable := 0; stable < 3; {
		time.Sleep(500 * time.Millisecond)
		if now := r.state(); now == prev {
			stable++
		} else {
			prev, stable = now, 0
		}
		if time.Now().After(deadline) {
			r.t.Fatal("the seed's derived tables did not settle within a minute")
		}
	}
}

// do sends one request with the token (none when empty) and returns the
// status and the body.
func (r *rig) do(method, path, token string, body []byte, hdr ...string) (int, string) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.url+path, bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// findings counts the findings a token sees (query appended to /v1/findings).
func (r *rig) findings(token, query string) int {
	r.t.Helper()
	code, body := r.do(http.MethodGet, "/v1/findings?kind=finding"+query, token, nil)
	if code != http.StatusOK {
		r.t.Fatalf("findings: %d %s", code, body)
	}
	var out struct{ Items []json.RawMessage }
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		r.t.Fatal(err)
	}
	return len(out.Items)
}

// state is what an attack must not change: rows per table and waivers.
func (r *rig) state() string {
	r.t.Helper()
	rows, err := r.app.Store.Conn().Query(context.Background(),
		`SELECT table, sum(rows) FROM system.parts WHERE database = ? AND active GROUP BY table ORDER BY table`, r.db)
	if err != nil {
		r.t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var table string
		var n uint64
		if err := rows.Scan(&table, &n); err != nil {
			r.t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s=%d ", table, n)
	}
	return b.String()
}

// inserts is the server's count of INSERT queries so far.
func (r *rig) inserts() uint64 {
	r.t.Helper()
	var n uint64
	if err := r.app.Store.Conn().QueryRow(context.Background(), `SELECT value FROM system.events WHERE event = 'InsertQuery'`).Scan(&n); err != nil {
		r.t.Fatal(err)
	}
	return n
}

// route is one registered pattern, split.
type route struct{ pattern, method, path string }

// routes lists every pattern registered on the HTTP server and behind /v1/,
// with wildcards filled in.
func (r *rig) routes() []route {
	var out []route
	for _, p := range append(r.app.Server.Mux.Patterns(), r.app.API().Patterns()...) {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			method, path = "", p
		}
		path = strings.ReplaceAll(path, "{$}", "")
		for strings.Contains(path, "{") {
			i, j := strings.Index(path, "{"), strings.Index(path, "}")
			path = path[:i] + "x" + path[j+1:]
		}
		out = append(out, route{p, method, path})
	}
	return out
}
