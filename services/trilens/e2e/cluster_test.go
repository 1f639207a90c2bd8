package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/clustertest"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	loadtestv1 "github.com/trilens/trilens/proto/trilens/loadtest/v1"
)

// clusterEvents is how many change events the cluster test publishes,
// spread over clusterTenants.
const clusterEvents = 200_000

var clusterTenants = []string{"north", "south", "west"}

// clusterLoadTests is how many load tests each tenant runs: five fast
// baseline runs each, then one slow run whose regression verdict must reach
// the receiver exactly once.
const clusterLoadTests = 3

// TestClusterReplicasSurviveFailures runs Trilens the way issue 16 scales
// it out: a 3-node NATS cluster (R3 streams), two ClickHouse 18.16 replicas
// of one shard, two scorers and two alerters as separate processes. While
// 200,000 events of three tenants flow, one NATS node is killed and
// restarted, one scorer is SIGKILLed (and started again), and one ClickHouse
// replica is stopped for 20 s. Afterwards every event is stored exactly once,
// on both replicas, and every regression verdict was notified exactly once.
func TestClusterReplicasSurviveFailures(t *testing.T) {
	ctx := context.Background()
	began := time.Now()
	mark := func(what string) { t.Logf("%5.1fs %s", time.Since(began).Seconds(), what) }
	nc := natstest.StartCluster(t, 3)
	bcfg := bus.DefaultConfig()
	bcfg.Replicas = 3
	b := nc.Bus(0, bcfg)
	ch := clustertest.Start(t, 2)
	replicas := []*store.Store{ch.Store(t, 0, nil), ch.Store(t, 1, nil)}
	if err := replicas[0].Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	hook := newNotificationSink(t)
	mark("3 NATS nodes and 2 ClickHouse replicas up, schema migrated")

	// Each process lists both replicas, its own first, and fails over.
	dsn := func(first int) string {
		return fmt.Sprintf("clickhouse://%s,%s", strings.TrimPrefix(ch.Replicas[first].DSN(), "clickhouse://"),
			strings.TrimPrefix(ch.Replicas[1-first].DSN(), "clickhouse://"))
	}
	common := func(i int) []string {
		return []string{"--bus.url=" + nc.URLs(i), "--bus.replicas=3", "--server.http-address=127.0.0.1:0",
			"--clickhouse.start=false", "--policy.file=" + os.DevNull + ".absent", "--log.level=warn"}
	}
	// Scorers and alerters (whose issue tracker sync reads the scorecard) use the store.
	storeFlags := func(i int) []string {
		return []string{"--store.dsn=" + dsn(i), "--store.database=" + replicas[0].Database(), "--store.cluster=" + ch.Name}
	}
	var scorers []*scorerProcess
	for i := range 2 {
		scorers = append(scorers, startChild(t, slices.Concat(common(i), storeFlags(i), []string{"--target=scorer",
			// A killed scorer's unacknowledged messages come back after AckWait.
			"--scorer.ack-wait=3s"})))
	}
	for i := range 2 {
		startChild(t, slices.Concat(common(i+1), storeFlags(i), []string{"--target=alerter", "--alerter.default-webhook=" + hook.URL + "/hook",
			"--alerter.egress-allow=127.0.0.1", "--alerter.group-wait=1s", "--alerter.retry-initial=100ms"}))
	}

	// Baselines first, so the slow runs have something to regress against.
	started := time.Now().Add(-time.Hour)
	var baseline []*eventv1.Event
	for _, tenant := range clusterTenants {
		for test := range clusterLoadTests {
			for run := range 5 {
				baseline = append(baseline, clusterLoadRun(tenant, test, fmt.Sprint("base-", run), started.Add(time.Duration(run)*time.Minute), 21+0.05*float64(run)))
			}
		}
	}
	if err := b.Publish(ctx, baseline...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "the baseline load runs stored", func() bool {
		return clusterCount(t, replicas[0], "load_runs", "") >= uint64(len(baseline))
	})

	mark("baselines stored")
	published := make(chan error, len(clusterTenants))
	for i, tenant := range clusterTenants {
		n := clusterEvents / len(clusterTenants)
		if i == 0 {
			n += clusterEvents % len(clusterTenants)
		}
		go func() { published <- publishSteadily(ctx, b, tenant, n, 40*time.Second) }()
	}
	slowRuns := func(test int) {
		t.Helper()
		var evs []*eventv1.Event
		for _, tenant := range clusterTenants {
			evs = append(evs, clusterLoadRun(tenant, test, "slow", time.Now(), 40))
		}
		if err := b.Publish(ctx, evs...); err != nil {
			t.Fatalf("publish slow runs: %v", err)
		}
	}
	running := func() {
		for _, s := range scorers {
			s.mustRun()
		}
	}
	waitFor(t, 2*time.Minute, "a tenth of the events stored", func() bool {
		running()
		return clusterCount(t, replicas[0], "evidence_log", "change") >= clusterEvents/10
	})

	// A NATS node dies while the evidence and a first regression flow.
	slowRuns(0)
	mark("a tenth stored; NATS node n2 killed")
	nc.Shutdown(2)
	time.Sleep(5 * time.Second)
	nc.Restart(2)
	mark("NATS node n2 back; scorer 1 SIGKILLed")
	// A scorer is killed mid-batch, then comes back.
	slowRuns(1)
	if err := scorers[0].kill(syscall.SIGKILL); err == nil {
		t.Fatal("the scorer exited cleanly before it was killed")
	}
	time.Sleep(2 * time.Second)
	scorers[0].start()
	mark("scorer 1 started again; ClickHouse replica 2 stopped")
	// A ClickHouse replica is down for 20 s: both scorers fail over to the other.
	slowRuns(2)
	if err := ch.Replicas[1].Stop(ctx); err != nil {
		t.Fatalf("stop replica 2: %v", err)
	}
	time.Sleep(20 * time.Second)
	if err := ch.Replicas[1].Restart(ctx); err != nil {
		t.Fatalf("restart replica 2: %v", err)
	}
	mark("ClickHouse replica 2 back")
	for range clusterTenants {
		if err := <-published; err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	mark("all events published")

	perTenant := clusterEvents / len(clusterTenants)
	want := map[string]uint64{}
	for i, tenant := range clusterTenants {
		want[tenant] = uint64(perTenant + clusterLoadTests*6)
		if i == 0 {
			want[tenant] += uint64(clusterEvents % len(clusterTenants))
		}
	}
	// Every event exactly once (the changes and the load runs), read from
	// each replica's own table.
	fig := figures{name: "cluster-replicas"}
	for r := range replicas {
		for _, tenant := range clusterTenants {
			var last counts
			waitFor(t, 3*time.Minute, fmt.Sprintf("%d events of %s on replica %d", want[tenant], tenant, r+1), func() bool {
				running()
				c, err := localCounts(ctx, replicas[r], tenant)
				last = c
				return err == nil && c.distinct >= want[tenant]
			})
			if last.rows != want[tenant] || last.distinct != want[tenant] {
				t.Errorf("replica %d, tenant %s: %d rows FINAL with %d distinct event ids, want exactly %d of each", r+1, tenant, last.rows, last.distinct, want[tenant])
			}
			if r == 1 { // the replica that was stopped
				fig.sent, fig.stored, fig.rows = fig.sent+want[tenant], fig.stored+last.distinct, fig.rows+last.rows
			}
		}
	}
	fig.print(t)
	mark("every event stored once on both replicas")
	checkVerdictsNotifiedOnce(t, replicas[0], hook)
	mark("every verdict notified once")
}

// clusterLoadRun is a k6 run of test number test of tenant, on main, with
// median latency p50.
func clusterLoadRun(tenant string, test int, id string, at time.Time, p50 float64) *eventv1.Event {
	name := fmt.Sprint("checkout-", test)
	env := events.NewEnvelope(events.ID(tenant, name, id), tenant, eventv1.Kind_KIND_LOAD_RUN, &eventv1.Producer{Collector: "loadcollector", Tool: "k6"},
		&eventv1.Subject{Repository: "acme/shop", Branch: "main"}, at)
	run := &loadtestv1.LoadRun{TestName: name, RunId: id, ThresholdsPassed: true,
		Scenarios: []*loadtestv1.ScenarioStats{{Requests: 300, Rps: 75, P50Ms: p50, P95Ms: 40, P99Ms: 50}}}
	return &eventv1.Event{Envelope: env, Payload: &eventv1.Event_LoadRun{LoadRun: run}}
}

// startChild runs the trilens binary with args until the test ends.
func startChild(t testing.TB, args []string) *scorerProcess {
	p := &scorerProcess{t: t, args: args}
	p.start()
	t.Cleanup(func() { p.kill(syscall.SIGKILL) })
	return p
}

// clusterCount counts the rows of table (of one kind when kind is set)
// through the Distributed layer, after FINAL.
func clusterCount(t *testing.T, st *store.Store, table, kind string) uint64 {
	t.Helper()
	q := "SELECT count() FROM " + st.Database() + "." + table + " FINAL"
	if kind != "" {
		q += " WHERE kind = '" + kind + "'"
	}
	var n uint64
	if err := st.Conn().QueryRow(context.Background(), q).Scan(&n); err != nil {
		return 0 // a replica that is down answers again later
	}
	return n
}

// localCounts counts a tenant's events in the replica's own replicated
// table, not through the Distributed one.
func localCounts(ctx context.Context, st *store.Store, tenant string) (counts, error) {
	var c counts
	q := fmt.Sprintf("SELECT count(), uniqExact(event_id) FROM %s.evidence_log_local FINAL WHERE tenant = ?", st.Database())
	err := st.Conn().QueryRow(ctx, q, tenant).Scan(&c.rows, &c.distinct)
	return c, err
}

// notificationSink is the receiver both alerters post to.
type notificationSink struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
}

func newNotificationSink(t *testing.T) *notificationSink {
	s := &notificationSink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, body)
		s.mu.Unlock()
	}))
	t.Cleanup(s.Close)
	return s
}

// alertsByKey counts the alerts received per tenant/lens/kpi/scope and the
// notifications per group.
func (s *notificationSink) alertsByKey(t *testing.T) (alerts, groups map[string]int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	alerts, groups = map[string]int{}, map[string]int{}
	for _, body := range s.bodies {
		var n struct {
			GroupKey string `json:"group_key"`
			Alerts   []struct {
				Tenant string `json:"tenant"`
				Lens   string `json:"lens"`
				KPI    string `json:"kpi"`
				Scope  string `json:"scope"`
			} `json:"alerts"`
		}
		if err := json.Unmarshal(body, &n); err != nil {
			t.Fatalf("notification %s: %v", body, err)
		}
		groups[n.GroupKey]++
		for _, a := range n.Alerts {
			alerts[strings.Join([]string{a.Tenant, a.Lens, a.KPI, a.Scope}, "/")]++
		}
	}
	return alerts, groups
}

// checkVerdictsNotifiedOnce waits until every failing verdict the scorers
// stored reached the receiver, then checks that none arrived twice.
func checkVerdictsNotifiedOnce(t *testing.T, st *store.Store, hook *notificationSink) {
	t.Helper()
	ctx := context.Background()
	want := map[string]bool{}
	waitFor(t, 2*time.Minute, "a regression verdict of every slow run", func() bool {
		rows, err := st.Conn().Query(ctx, "SELECT DISTINCT tenant, lens, kpi, scope FROM "+st.Database()+".verdicts FINAL WHERE status = 'fail'")
		if err != nil {
			return false
		}
		defer rows.Close()
		for rows.Next() {
			var tenant, lens, kpi, scope string
			if err := rows.Scan(&tenant, &lens, &kpi, &scope); err != nil {
				t.Fatal(err)
			}
			want[strings.Join([]string{tenant, lens, kpi, scope}, "/")] = true
		}
		return len(want) >= len(clusterTenants)*clusterLoadTests
	})
	var got, groups map[string]int
	waitFor(t, time.Minute, "every verdict notified", func() bool {
		got, groups = hook.alertsByKey(t)
		return len(got) >= len(want)
	})
	time.Sleep(3 * time.Second) // a second notification would come within the group wait
	got, groups = hook.alertsByKey(t)
	for key := range want {
		if got[key] != 1 {
			t.Errorf("verdict %s notified %d times, want exactly once", key, got[key])
		}
	}
	for key, n := range got {
		if !want[key] {
			t.Errorf("notified %s %d times, which no stored verdict says", key, n)
		}
	}
	t.Logf("%d verdicts notified once each, in %d groups: %v", len(want), len(groups), groups)
}
