package cli

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/store/chtest"
	"github.com/trilens/trilens/services/trilens"
)

func TestMain(m *testing.M) { os.Exit(chtest.Run(m, natstest.LeakOptions()...)) }

// TestDemo runs what `make demo` runs, `trilens up --demo`, in process:
// every service, an embedded NATS, the demo evidence through the collectors,
// and checks the summary against ClickHouse.
func TestDemo(t *testing.T) {
	st := chtest.Store(t)
	var cfg trilens.Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := applyDemoSettings(fs, func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = t.TempDir()
	cfg.NATS.Listen = ""
	cfg.NATS.StoreDir = t.TempDir()
	cfg.Server.HTTPAddress = "127.0.0.1:0"
	cfg.Trace.GRPCAddress = "127.0.0.1:0"
	cfg.Trace.HTTPAddress = "127.0.0.1:0"
	cfg.Store = chtest.Config(t)
	cfg.Store.Database = st.Database()
	cfg.ClickHouse.Start = false
	cfg.PolicyFile = "../../../trilens.yaml"
	app, err := trilens.NewApp(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	inboxURL, stopInbox, err := startDemoInbox(app)
	if err != nil {
		t.Fatal(err)
	}
	defer stopInbox()
	for _, team := range app.Policy.Owners.Teams {
		if team.SlackWebhook != "" || team.Alertmanager != "" || team.Webhook != inboxURL {
			t.Errorf("team %s still notifies %+v, want only the demo receiver %s", team.Name, team, inboxURL)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel() // ends the demo traffic
		if err := app.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()
	if err := app.Ready(ctx); err != nil {
		t.Fatalf("not ready after start: %v", err)
	}
	var out bytes.Buffer
	if err := runDemo(ctx, &out, app, "../../.."); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	m := regexp.MustCompile(`(\d+) demo events are stored`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("summary does not say how many events are stored:\n%s", out.String())
	}
	printed, _ := strconv.Atoi(m[1])
	var stored uint64
	if err := st.Conn().QueryRow(ctx, "SELECT count() FROM "+st.Database()+".evidence_log FINAL WHERE tenant = 'demo'").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if uint64(printed) != stored || stored < uint64(len(demoFiles)) {
		t.Fatalf("summary says %d events, ClickHouse holds %d (want at least one per demo file, %d)", printed, stored, len(demoFiles))
	}
	// Derived state must be complete when the summary is printed.
	for _, table := range []string{"findings", "components", "load_runs", "web_vitals", "changes", "kpi_points"} {
		m := regexp.MustCompile(`(?m)^` + table + `\s+(\d+)$`).FindStringSubmatch(out.String())
		if m == nil || m[1] == "0" {
			t.Errorf("summary shows no %s rows:\n%s", table, out.String())
		}
	}
	for _, want := range []string{"clickhouse-client --port", "/metrics", "scan ", "sbom ", "load_run ", "web_vitals ", "trace_window ", "trace_detection "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	base := "http://" + loopbackAddr(app.Server.Addr())
	checkPage(t, base)
	checkNotified(t, app, base)
}

// checkNotified waits for the demo waiver's expiry to reach the demo's
// receiver through the alerter, and for the page to list it.
func checkNotified(t *testing.T, app *trilens.App, base string) {
	deadline := time.Now().Add(demoWaiverFor + 2*time.Minute)
	for len(app.Inbox.List(demoTenant)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no notification reached the demo's receiver")
		}
		// Reading the ledger sweeps it: the expiry is recorded and published.
		resp, err := http.Get(base + "/ledger?tenant=demo")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		time.Sleep(2 * time.Second)
	}
	n := app.Inbox.List(demoTenant)[0]
	if n.Team != "team-checkout" || len(n.Alerts) == 0 || n.Alerts[0].Reason != "waiver_expired" || n.Alerts[0].Scope != "checkout" {
		t.Errorf("notification %+v, want team-checkout told that the checkout waiver expired", n)
	}
	resp, err := http.Get(base + "/?tenant=demo")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(page), `<tr class="notification">`) || !strings.Contains(string(page), "waiver expired") {
		t.Errorf("the scorecard does not list the notification:\n%s", page)
	}
}
