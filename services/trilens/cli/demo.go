package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/trilens/trilens/pkg/events"
	changev1 "github.com/trilens/trilens/proto/trilens/change/v1"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"github.com/trilens/trilens/services/trilens"
)

// demoTenant is the tenant the demo evidence belongs to.
const demoTenant = "demo"

// demoFile is one piece of demo evidence: a real tool's output committed as
// a test fixture, sent to its collector as `trilens submit` would.
type demoFile struct {
	path, file, service string
}

// demoFiles are read from the source tree, so the demo is the tests' evidence.
var demoFiles = []demoFile{
	{"/v1/scans", "services/scancollector/testdata/reports/gosec.sarif", "checkout-api"},
	{"/v1/scans", "services/scancollector/testdata/reports/grype.json", "checkout-api"},
	{"/v1/scans", "services/scancollector/testdata/reports/gitleaks.json", "catalog"},
	{"/v1/scans", "services/scancollector/testdata/reports/trivy.json", "payments"},
	{"/v1/sboms", "services/sbomcollector/testdata/sboms/gomod.cyclonedx-1.5.json", "checkout-api"},
	{"/v1/sboms", "services/sbomcollector/testdata/sboms/npm.spdx-2.3.json", "catalog"},
	{"/v1/loadruns", "services/loadcollector/testdata/k6/stepped.ndjson.gz", "checkout-api"},
	{"/v1/loadruns", "services/loadcollector/testdata/k6/mixed-summary-export.json", "catalog"},
	{"/v1/webvitals", "services/loadcollector/testdata/lighthouse/run1.json", "catalog"},
}

// runDemo feeds demo evidence into a running app through its collectors,
// waits until the scorer has stored all of it, and prints what is in
// ClickHouse and where to look.
//
// It also sends production traces through the OTLP endpoints in the
// background for a few minutes (until ctx ends), and waits until their
// first windows are scored, so the page's performance card has journeys.
func runDemo(ctx context.Context, out io.Writer, app *trilens.App, srcDir string) error {
	if app.Trace == nil {
		return errNoTrace
	}
	traffic := make(chan error, 1)
	go func() { traffic <- sendTraffic(ctx, app) }()
	_, port := splitPort(app.Server.Addr())
	sub := &Submitter{URL: "http://127.0.0.1:" + port, Tenant: demoTenant, Repo: "example/shop", Branch: "main",
		Commit: "4f2c9e1", Env: "ci", Timeout: time.Minute, Quiet: true}
	want := 0
	for _, f := range demoFiles {
		sub.Service = f.service
		var answer struct {
			Events int `json:"events"`
		}
		path := filepath.Join(srcDir, f.file)
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("demo evidence %s not found: run the demo from the Trilens source tree (make demo) or pass --demo.dir", f.file)
		}
		if err := sub.Post(ctx, f.path, path, nil, &answer); err != nil {
			return err
		}
		fmt.Fprintf(out, "sent %-60s %4d events\n", f.file, answer.Events)
		want += answer.Events
	}
	changes := demoChanges(time.Now())
	if err := app.Bus.Publish(ctx, changes...); err != nil {
		return fmt.Errorf("publish demo CI runs: %w", err)
	}
	fmt.Fprintf(out, "sent %-60s %4d events\n", "CI runs and deploys of the last week", len(changes))
	counts, err := waitStored(ctx, app, want+len(changes), 2*time.Minute)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "sending production traces over OTLP (a burst every %s for %s); waiting for the first windows…\n", demoBurstEvery, demoTrafficFor)
	if err := waitTraces(ctx, app, traffic, 3*time.Minute); err != nil {
		return err
	}
	if counts, err = waitStored(ctx, app, 0, time.Minute); err != nil {
		return err
	}
	expires, err := waiveBriefly(ctx, sub.URL, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "waived the checkout journey's p95 until %s: its expiry will be notified to the demo's receiver\n",
		expires.Format("15:04:05 UTC"))
	printSummary(out, app, counts)
	return nil
}

// demoChanges is a week of CI runs and deploys of a demo service.
func demoChanges(now time.Time) []*eventv1.Event {
	var evs []*eventv1.Event
	for day := 6; day >= 0; day-- {
		at := now.Add(-time.Duration(day) * 24 * time.Hour)
		var batch []*changev1.Change
		for i := range 20 {
			status := "success"
			if i%7 == 3 {
				status = "failure"
			}
			typ := changev1.ChangeType_CHANGE_TYPE_CI_RUN
			if i%5 == 0 {
				typ = changev1.ChangeType_CHANGE_TYPE_DEPLOY
			}
			start := at.Add(time.Duration(i) * time.Hour)
			batch = append(batch, &changev1.Change{
				Id: fmt.Sprintf("run-%d-%d", day, i), Type: typ, Status: status,
				StartedUnixNano: start.UnixNano(), FinishedUnixNano: start.Add(4 * time.Minute).UnixNano(),
				Title: "demo pipeline",
			})
		}
		env := events.NewEnvelope(events.ID(demoTenant, "changes", at.Format("2006-01-02")), demoTenant, eventv1.Kind_KIND_CHANGE,
			&eventv1.Producer{Collector: "demo", Tool: "trilens"},
			&eventv1.Subject{Repository: "example/shop", Branch: "main", Service: "checkout-api", Environment: eventv1.Environment_ENVIRONMENT_CI}, at)
		evs = append(evs, &eventv1.Event{Envelope: env, Payload: &eventv1.Event_Changes{Changes: &changev1.ChangeBatch{Changes: batch}}})
	}
	return evs
}

// waitStored polls evidence_log until at least want events of the demo
// tenant are stored, and returns the count per kind.
func waitStored(ctx context.Context, app *trilens.App, want int, timeout time.Duration) (map[string]uint64, error) {
	deadline := time.Now().Add(timeout)
	q := fmt.Sprintf("SELECT kind, count() FROM %s.evidence_log FINAL WHERE tenant = ? GROUP BY kind ORDER BY kind", app.Store.Database())
	for {
		rows, err := app.Store.Conn().Query(ctx, q, demoTenant)
		if err != nil {
			return nil, err
		}
		counts := map[string]uint64{}
		var total uint64
		for rows.Next() {
			var kind string
			var n uint64
			if err := rows.Scan(&kind, &n); err != nil {
				rows.Close()
				return nil, err
			}
			counts[kind] = n
			total += n
		}
		rows.Close()
		if total >= uint64(want) {
			// Stored is not yet scored: the batch's other tables and what the
			// processors derive are written before the scorer acks.
			if scored, err := app.Scored(ctx); err != nil {
				return nil, err
			} else if scored {
				return counts, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("only %d of %d demo events stored after %s", total, want, timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func printSummary(out io.Writer, app *trilens.App, counts map[string]uint64) {
	var total uint64
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nKIND\tEVENTS")
	for _, kind := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(tw, "%s\t%d\n", kind, counts[kind])
		total += counts[kind]
	}
	fmt.Fprintln(tw, "\nTABLE\tROWS")
	for _, table := range []string{"findings", "components", "load_runs", "load_steps", "web_vitals", "changes", "journey_latency",
		"trace_detections", "kpi_points", "verdicts"} {
		var n uint64
		q := fmt.Sprintf("SELECT count() FROM %s.%s FINAL WHERE tenant = ?", app.Store.Database(), table)
		if err := app.Store.Conn().QueryRow(context.Background(), q, demoTenant).Scan(&n); err == nil {
			fmt.Fprintf(tw, "%s\t%d\n", table, n)
		}
	}
	_ = tw.Flush()
	addr := app.Server.Addr()
	if strings.HasPrefix(addr, "[::]") {
		addr = "127.0.0.1" + strings.TrimPrefix(addr, "[::]")
	}
	_, port := splitPort(addr)
	fmt.Fprintf(out, `
Trilens is running. %d demo events are stored in ClickHouse (database %q).

Query them:
  clickhouse-client --port %d -d %s -q "SELECT kind, count() FROM evidence_log FINAL GROUP BY kind"
Look at:
  http://127.0.0.1:%[5]s/?tenant=demo                       the scorecard: money at risk, lenses, journeys
  http://127.0.0.1:%[5]s/service/checkout-api?tenant=demo   one service: latency against budget, hops, detections
  http://127.0.0.1:%[5]s/findings?tenant=demo               every open gap, with filters
  http://127.0.0.1:%[5]s/ledger?tenant=demo                 the risk ledger
  http://127.0.0.1:%[5]s/ready     readiness of every service
  http://127.0.0.1:%[5]s/metrics   Prometheus metrics
Alerts go to the demo's own receiver (listed on the scorecard), not to the policy's addresses.
Send your own evidence:
  trilens submit --help

Press Ctrl-C to stop.
`, total, app.Store.Database(), app.StoreTCPPort(), app.Store.Database(), port)
}

func splitPort(addr string) (string, string) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return addr, ""
	}
	return addr[:i], addr[i+1:]
}
