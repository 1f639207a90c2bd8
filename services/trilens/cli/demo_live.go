package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/trilens/trilens/services/tracecollector/shoptraffic"
	"github.com/trilens/trilens/services/trilens"
	"github.com/trilens/trilens/services/trilens/web"
)

// demoSettings are what `trilens up --demo` changes unless given on the
// command line: trace windows close soon after their end, so the page
// shows journeys within a minute or two, and the alerter groups for
// seconds. alerter.egress-allow admits the demo's own loopback receiver
// where the alerter has that setting.
var demoSettings = [][2]string{
	{"otlp.lateness", "15s"},
	{"otlp.decision-wait", "3s"},
	{"alerter.group-wait", "2s"},
	{"alerter.egress-allow", "127.0.0.1"},
}

// applyDemoSettings sets demoSettings on fs, skipping the flags given and
// those fs does not have.
func applyDemoSettings(fs *flag.FlagSet, given func(name string) bool) error {
	for _, s := range demoSettings {
		if fs.Lookup(s[0]) == nil || given(s[0]) {
			continue
		}
		if err := fs.Set(s[0], s[1]); err != nil {
			return fmt.Errorf("demo setting %s: %w", s[0], err)
		}
	}
	return nil
}

// startDemoInbox runs the demo's notification receiver on loopback and
// points every team of the app's policy at it, in place of the example
// policy's placeholder Slack, webhook and Alertmanager addresses. The page
// lists what it receives. Call it before app.Start; stop ends the receiver.
func startDemoInbox(app *trilens.App) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("demo receiver: %w", err)
	}
	inbox := web.NewInbox(100)
	srv := &http.Server{Handler: inbox, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	url = "http://" + ln.Addr().String() + "/notifications"
	for i := range app.Policy.Owners.Teams {
		t := &app.Policy.Owners.Teams[i]
		t.SlackWebhook, t.Alertmanager, t.Webhook = "", "", url
	}
	app.Inbox = inbox
	return url, func() { _ = srv.Close() }, nil
}

// Demo traffic: bursts of the shop's production traces, each about twelve
// seconds of checkouts and product pages ending now, so the trace windows
// still open take them.
const (
	demoTrafficFor = 3 * time.Minute
	demoBurstEvery = 20 * time.Second
	// demoPaymentDelay puts each of the checkout's three serial payment
	// calls about 120 ms slower: the journey breaks its 300 ms p95 budget.
	demoPaymentDelay = 120 * time.Millisecond
)

// sendTraffic sends bursts of shop traffic through the app's OTLP
// endpoints, over HTTP and gRPC as a real fleet does, for demoTrafficFor
// or until ctx ends. The checkout has an N+1 query, three serial calls to
// a third-party payment API, and goes over its p95 budget.
func sendTraffic(ctx context.Context, app *trilens.App) error {
	httpAddr, grpcAddr := loopbackAddr(app.Trace.HTTPAddr()), loopbackAddr(app.Trace.GRPCAddr())
	stop := time.Now().Add(demoTrafficFor)
	for n := 1; ; n++ {
		shop, err := shoptraffic.NewShop(ctx, httpAddr, grpcAddr,
			shoptraffic.WithRoutePrefix("/api"), shoptraffic.WithCatalogService("catalog"),
			shoptraffic.WithPaymentDelay(demoPaymentDelay),
			shoptraffic.WithHeaders(map[string]string{"X-Trilens-Tenant": demoTenant}))
		if err != nil {
			return fmt.Errorf("demo traffic: %w", err)
		}
		shop.Run(time.Now().Add(-13 * time.Second))
		if err := shop.Shutdown(ctx); err != nil && ctx.Err() == nil {
			return fmt.Errorf("demo traffic: %w", err)
		}
		if time.Now().Add(demoBurstEvery).After(stop) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(demoBurstEvery):
		}
	}
}

// loopbackAddr turns a wildcard listen address into one to dial.
func loopbackAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || host == "::" || host == "0.0.0.0" {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

// waitTraces waits until the demo tenant has a scored journey p95 and an
// N+1 detection: what the page's performance card shows first.
// A failure of the traffic (failed) ends the wait.
func waitTraces(ctx context.Context, app *trilens.App, failed <-chan error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	db := app.Store.Database()
	for {
		var journeys, nPlusOne uint64
		err := app.Store.Conn().QueryRow(ctx, `SELECT count() FROM `+db+`.kpi_points FINAL WHERE tenant = ? AND kpi = 'journey_p95_ms'`,
			demoTenant).Scan(&journeys)
		if err == nil {
			err = app.Store.Conn().QueryRow(ctx, `SELECT count() FROM `+db+`.trace_detections FINAL WHERE tenant = ? AND type = 'n_plus_one'`,
				demoTenant).Scan(&nPlusOne)
		}
		if err != nil {
			return err
		}
		if journeys > 0 && nPlusOne > 0 {
			if scored, err := app.Scored(ctx); err != nil {
				return err
			} else if scored {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no scored trace window after %s (%d journey points, %d N+1 detections)", timeout, journeys, nPlusOne)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-failed:
			if err != nil {
				return err
			}
			failed = nil // the traffic ended well; keep waiting for its windows
		case <-time.After(time.Second):
		}
	}
}

// errNoTrace is the demo on a stack without the trace collector.
var errNoTrace = errors.New("the demo needs the trace collector (target all)")

// demoWaiverFor is how long the demo's waiver lasts: its expiry is the
// notification the demo shows on the page.
const demoWaiverFor = time.Minute

// waiveBriefly accepts the checkout journey's latency breach in the risk
// ledger, as `trilens waive` does, for demoWaiverFor. When it expires the
// scorer says so with a verdict, and the alerter notifies team-checkout at
// the demo's receiver.
func waiveBriefly(ctx context.Context, baseURL string, now time.Time) (time.Time, error) {
	c := scorerClient{URL: baseURL, Tenant: demoTenant, Timeout: time.Minute}
	expires := now.UTC().Truncate(time.Second).Add(demoWaiverFor)
	body := map[string]any{
		"id": "DEMO-1", "target": "journey_p95_ms", "scope": "checkout", "owner": "team-checkout",
		"reason":               "Accepted while the payment provider works on its latency.",
		"compensating_control": "Checkout retries are idempotent.",
		"expires_at":           expires, "by": "trilens demo",
	}
	var out map[string]any
	if err := c.call(ctx, http.MethodPost, "/v1/waivers", nil, body, &out); err != nil {
		return time.Time{}, fmt.Errorf("demo waiver: %w", err)
	}
	return expires, nil
}
