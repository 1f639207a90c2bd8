package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store/chtest"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	loadtestv1 "github.com/trilens/trilens/proto/trilens/loadtest/v1"
	tracev1 "github.com/trilens/trilens/proto/trilens/trace/v1"
	"github.com/trilens/trilens/services/loadcollector"
	"github.com/trilens/trilens/services/scancollector"
	"github.com/trilens/trilens/services/tracecollector/shoptraffic"
	"google.golang.org/protobuf/proto"
)

// TestReplayMonthOfDemo is acceptance 4 at the size it names: thirty days
// of the demo's evidence (the shop's production journeys in windows every
// two hours, its k6 run every third day and grype report every sixth, CI
// runs and deploys every other day) scored live with the demo policy,
// then replayed with the checkout journey's p95 budget cut from 300 to
// 200 ms (its hops' margin with it): the diff shows checkout failing, browse unchanged, and two
// replays write byte-identical rows.
func TestReplayMonthOfDemo(t *testing.T) {
	live, err := policy.Parse([]byte(shoptraffic.Policy), "live.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tight := filepath.Join(t.TempDir(), "tight.yaml")
	// The hop budgets must fit in the journey's: the api hop and the margin give way.
	tighter := strings.NewReplacer("p95_ms: 300", "p95_ms: 200", "api: 120", "api: 100", "margin: 80", "margin: 0").Replace(shoptraffic.Policy)
	if !strings.Contains(tighter, "p95_ms: 200") || !strings.Contains(tighter, "margin: 0") {
		t.Fatal("the demo policy has no checkout p95 budget of 300 ms and hop budgets to tighten")
	}
	if err := os.WriteFile(tight, []byte(tighter), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := chtest.Config(t)
	st := chtest.Store(t)
	b := natstest.Bus(t)
	startScorer(t, b, st, live)
	now := time.Now().UTC().Truncate(time.Hour)
	evs := monthOfDemo(t, now)
	if err := b.Publish(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	waitEntries(t, st, uint64(len(evs)))
	scratch := []string{st.Database() + "_month_a", st.Database() + "_month_b"}
	t.Cleanup(func() {
		for _, db := range scratch {
			_ = st.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
		}
	})
	for _, into := range scratch {
		code, out := runCLI("replay", "--store.dsn", cfg.DSN, "--store.database", st.Database(), "--tenant", demoTenant,
			"--since", "31d", "--policy", tight, "--into", into)
		if code != ExitPass || !strings.Contains(out, fmt.Sprintf("replayed %d envelopes", len(evs))) {
			t.Fatalf("replay into %s: exit %d, want all %d envelopes\n%s", into, code, len(evs), out)
		}
		var checkout, browse bool
		for _, line := range strings.Split(out, "\n") {
			checkout = checkout || strings.HasPrefix(line, "performance journey_p95_ms checkout ") &&
				strings.Contains(line, "live pass") && strings.Contains(line, "replayed fail")
			browse = browse || strings.HasPrefix(line, "performance journey_p95_ms browse ")
		}
		if !checkout || browse {
			t.Fatalf("replay diff: want checkout's p95 newly failing and browse unchanged\n%s", out)
		}
	}
	a, b2 := dump(t, st, scratch[0]), dump(t, st, scratch[1])
	if a == "" || a != b2 {
		t.Errorf("two replays of the month differ or are empty (%d and %d bytes)", len(a), len(b2))
	}
}

// monthOfDemo is thirty days of the demo tenant's evidence up to now.
func monthOfDemo(t *testing.T, now time.Time) []*eventv1.Event {
	t.Helper()
	run := demoLoadRun(t)
	grype := demoScan(t)
	sub := func(env eventv1.Environment, service string) *eventv1.Subject {
		return &eventv1.Subject{Repository: "example/shop", Branch: "main", Service: service, Environment: env}
	}
	var evs []*eventv1.Event
	for day := 29; day >= 0; day-- {
		at := now.Add(-time.Duration(day) * 24 * time.Hour)
		evs = append(evs, demoWindows(at, day))
		if day%3 != 0 {
			continue // the rest of the evidence runs every third day
		}
		r := proto.Clone(run).(*loadtestv1.LoadRun)
		r.RunId, r.StartedUnixNano = fmt.Sprint("k6-day-", day), at.Add(2*time.Hour).UnixNano()
		env := events.NewEnvelope(events.ID(demoTenant, "load", r.RunId), demoTenant, eventv1.Kind_KIND_LOAD_RUN,
			&eventv1.Producer{Collector: "loadcollector", Tool: "k6"}, sub(eventv1.Environment_ENVIRONMENT_CI, "catalog"), at.Add(2*time.Hour))
		evs = append(evs, &eventv1.Event{Envelope: env, Payload: &eventv1.Event_LoadRun{LoadRun: r}})
		if day%6 == 0 {
			reportID := events.ID(demoTenant, "grype", fmt.Sprint(day))
			evs = append(evs, scancollector.Events(grype, demoTenant, reportID, 500, func(id string, p *eventv1.Producer) *eventv1.Envelope {
				return events.NewEnvelope(id, demoTenant, eventv1.Kind_KIND_SCAN, p, sub(eventv1.Environment_ENVIRONMENT_CI, "checkout-api"), at.Add(3*time.Hour))
			})...)
		}
	}
	for week := range 4 { // the demo's CI runs and deploys of a week, every other day
		for i, ev := range demoChanges(now.Add(-time.Duration(7*week) * 24 * time.Hour)) {
			if i%2 == 0 {
				evs = append(evs, ev)
			}
		}
	}
	return evs
}

// demoWindows is a day of the shop's production journeys (shoptraffic's
// checkout and browse), a window every two hours: checkout's p95 around
// 250 ms, under the demo's 300 ms budget, browse's around 30 ms.
func demoWindows(day time.Time, n int) *eventv1.Event {
	var ws []*tracev1.Window
	for h := 0; h < 24; h += 2 {
		start := day.Add(time.Duration(h) * time.Hour)
		wobble := float64((n*7+h*3)%11) - 5 // deterministic noise, ±5
		ws = append(ws,
			&tracev1.Window{StartUnixNano: start.UnixNano(), DurationNanos: int64(time.Minute), Service: "checkout-api", Journey: "checkout",
				Count: 120, P95Ms: 250 + 4*wobble, P99Ms: 380},
			&tracev1.Window{StartUnixNano: start.UnixNano(), DurationNanos: int64(time.Minute), Service: "catalog", Journey: "browse",
				Count: 900, P95Ms: 30 + wobble/2, P99Ms: 45})
	}
	env := events.NewEnvelope(events.ID(demoTenant, "windows", day.Format(time.DateOnly)), demoTenant, eventv1.Kind_KIND_TRACE_WINDOW,
		&eventv1.Producer{Collector: "tracecollector"}, &eventv1.Subject{Environment: eventv1.Environment_ENVIRONMENT_PRODUCTION}, day.Add(23*time.Hour))
	return &eventv1.Event{Envelope: env, Payload: &eventv1.Event_TraceWindows{TraceWindows: &tracev1.WindowBatch{Windows: ws}}}
}

// demoLoadRun is the demo's k6 summary decoded by the load collector.
func demoLoadRun(t *testing.T) *loadtestv1.LoadRun {
	t.Helper()
	f, err := os.Open(filepath.Join("../../..", "services/loadcollector/testdata/k6/mixed-summary-export.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	run, _, err := loadcollector.DecodeLoadRun(bufio.NewReader(f), "", loadcollector.StepOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// demoScan is the demo's grype report decoded by the scan collector.
func demoScan(t *testing.T) *scancollector.Report {
	t.Helper()
	f, err := os.Open(filepath.Join("../../..", "services/scancollector/testdata/reports/grype.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := scancollector.Decode(scancollector.FormatGrype, f, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}
