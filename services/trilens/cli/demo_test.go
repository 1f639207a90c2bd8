package cli

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

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
	checkPage(t, "http://"+loopbackAddr(app.Server.Addr()))
}
