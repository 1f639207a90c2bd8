package cli

import (
	"context"
	"fmt"
	"io"
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

// runDemo feeds demo evidence into a running app, waits until the scorer has
// stored it, and prints what is in ClickHouse and where to look.
func runDemo(ctx context.Context, out io.Writer, app *trilens.App) error {
	evs := demoChanges(time.Now())
	if err := app.Bus.Publish(ctx, evs...); err != nil {
		return fmt.Errorf("publish demo evidence: %w", err)
	}
	counts, err := waitStored(ctx, app, len(evs), time.Minute)
	if err != nil {
		return err
	}
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
			return counts, nil
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
	fmt.Fprintln(tw, "KIND\tEVENTS")
	for kind, n := range counts {
		fmt.Fprintf(tw, "%s\t%d\n", kind, n)
		total += n
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
  http://127.0.0.1:%s/ready     readiness of every service
  http://127.0.0.1:%s/metrics   Prometheus metrics
Send your own evidence:
  trilens submit --help

Press Ctrl-C to stop.
`, total, app.Store.Database(), app.StoreTCPPort(), app.Store.Database(), port, port)
}

func splitPort(addr string) (string, string) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return addr, ""
	}
	return addr[:i], addr[i+1:]
}
