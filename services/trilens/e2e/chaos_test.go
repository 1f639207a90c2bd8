package e2e

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/store"
	changev1 "github.com/trilens/trilens/proto/trilens/change/v1"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"github.com/trilens/trilens/services/scorer"
	"github.com/trilens/trilens/services/scorer/chain"
)

// The chaos suite: one fault per test, injected while evidence flows, each
// ending with the exact count of distinct events and rows stored, and a
// figures line:
//
//	chaos NAME sent=N stored=N deadlettered=N lost=0

// figures are what a chaos test counts.
type figures struct {
	name                        string
	sent, stored, deadlettered  uint64
	refused, rows, scoredWithin uint64
	// eventsPerSecond is the soak's throughput, sent over the time until
	// the last event was stored; the chaos tests pace their publishers.
	eventsPerSecond float64
}

// figuresHeader heads the Markdown table of chaos and soak figures that
// make test and make bench print, as BENCHMARKS.md records it.
const figuresHeader = "| run | sent | stored | dead-lettered | refused | lost | rows | scored within (s) | events/s |\n" +
	"| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"

func (f figures) lost() int64 { return int64(f.sent) - int64(f.stored) - int64(f.deadlettered) }

// row is f as a line of the figures table.
func (f figures) row() string {
	within, rate := "", ""
	if f.scoredWithin > 0 {
		within = fmt.Sprint(f.scoredWithin)
	}
	if f.eventsPerSecond > 0 {
		rate = fmt.Sprintf("%.0f", f.eventsPerSecond)
	}
	return fmt.Sprintf("| %s | %d | %d | %d | %d | %d | %d | %s | %s |", f.name, f.sent, f.stored, f.deadlettered, f.refused, f.lost(), f.rows, within, rate)
}

func (f figures) print(t testing.TB) {
	lost := f.lost()
	line := fmt.Sprintf("chaos %s sent=%d stored=%d deadlettered=%d lost=%d", f.name, f.sent, f.stored, f.deadlettered, lost)
	if f.refused > 0 {
		line += fmt.Sprintf(" refused=%d", f.refused)
	}
	if f.scoredWithin > 0 {
		line += fmt.Sprintf(" scored_within=%ds", f.scoredWithin)
	}
	fmt.Println(line)
	// go test hides a passing package's output: make test prints this
	// file, a Markdown table in the shape of BENCHMARKS.md's.
	if path := os.Getenv("TRILENS_CHAOS_FIGURES"); path != "" {
		if err := appendRow(path, f.row()); err != nil {
			t.Fatalf("figures file %s: %v", path, err)
		}
	}
	if lost != 0 || f.rows != f.stored {
		t.Fatalf("%s: %d rows for %d distinct events, %d lost", line, f.rows, f.stored, lost)
	}
}

// appendRow appends row to the figures table at path, heading a new file.
func appendRow(path, row string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() == 0 {
		if _, err := fmt.Fprintln(f, figuresHeader); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintln(f, row)
	return err
}

// runScorer runs a scorer in process on b and st until the test ends.
func runScorer(t *testing.T, b *bus.Bus, st *store.Store, tune func(*scorer.Config)) {
	t.Helper()
	var cfg scorer.Config
	cfg.RegisterFlags("", flag.NewFlagSet("scorer", flag.ContinueOnError))
	cfg.BatchWait = 200 * time.Millisecond
	cfg.AckWait = 5 * time.Second
	if tune != nil {
		tune(&cfg)
	}
	sc, err := scorer.New(cfg, scorer.Settings{Logger: slog.New(slog.DiscardHandler), Bus: b, Store: st, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sc.Stop(context.Background()); err != nil {
			t.Errorf("stop scorer: %v", err)
		}
	})
}

// connectBus connects a provisioned bus to url.
func connectBus(t testing.TB, url string, tune func(*bus.Config)) *bus.Bus {
	t.Helper()
	cfg := bus.DefaultConfig()
	cfg.URL = url
	if tune != nil {
		tune(&cfg)
	}
	b, err := bus.Connect(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := b.Provision(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b
}

func changeEvent(tenant string, i int) *eventv1.Event {
	env := events.NewEnvelope(events.ID(tenant, fmt.Sprint(i)), tenant, eventv1.Kind_KIND_CHANGE,
		&eventv1.Producer{Collector: "chaos-test"}, &eventv1.Subject{Service: "svc"}, time.Now())
	return &eventv1.Event{Envelope: env, Payload: &eventv1.Event_Changes{Changes: &changev1.ChangeBatch{
		Changes: []*changev1.Change{{Id: fmt.Sprint(i), Type: changev1.ChangeType_CHANGE_TYPE_CI_RUN, Status: "success"}}}}}
}

// changeCounts counts the change events of tenant in evidence_log.
func changeCounts(ctx context.Context, st *store.Store, tenant string) (counts, error) {
	var c counts
	q := fmt.Sprintf("SELECT count(), uniqExact(event_id) FROM %s.evidence_log FINAL WHERE tenant = ? AND kind = 'change'", st.Database())
	err := st.Conn().QueryRow(ctx, q, tenant).Scan(&c.rows, &c.distinct)
	return c, err
}

func deadLetterCount(t testing.TB, b *bus.Bus) uint64 {
	t.Helper()
	dls, err := b.DeadLetters(context.Background(), "", 1, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(len(dls))
}

// waitStored waits until want distinct change events of tenant are stored
// and returns the final counts.
func waitStored(t testing.TB, st *store.Store, tenant string, want uint64, timeout time.Duration) counts {
	t.Helper()
	var last counts
	waitFor(t, timeout, fmt.Sprintf("%d events of %s stored", want, tenant), func() bool {
		c, err := changeCounts(context.Background(), st, tenant)
		if err == nil {
			last = c
		}
		return err == nil && c.distinct >= want
	})
	return last
}

// TestChaosClickHouseStopped60s stops ClickHouse for a minute while
// evidence flows: the scorer holds its batch (an outage spends no
// deliveries) and stores everything once ClickHouse is back.
func TestChaosClickHouseStopped60s(t *testing.T) {
	srv := chtestServer(t)
	ns := natsStart(t)
	b := connectBus(t, ns.ClientURL(), nil)
	st := chtestStore(t)
	runScorer(t, b, st, nil)
	const tenant, n = "chaos-ch", 20_000
	ctx := context.Background()
	published := make(chan error, 1)
	go func() { published <- publishSteadily(ctx, b, tenant, n, 10*time.Second) }()
	waitStored(t, st, tenant, n/4, 2*time.Minute)
	if err := srv.Stop(ctx); err != nil {
		t.Fatalf("stop clickhouse: %v", err)
	}
	time.Sleep(60 * time.Second)
	if err := srv.Restart(ctx); err != nil {
		t.Fatalf("restart clickhouse: %v", err)
	}
	if err := <-published; err != nil {
		t.Fatalf("publish: %v", err)
	}
	c := waitStored(t, st, tenant, n, 2*time.Minute)
	figures{name: "clickhouse-stopped-60s", sent: n, stored: c.distinct, rows: c.rows, deadlettered: deadLetterCount(t, b)}.print(t)
}

// TestChaosNATSRestarted restarts an external NATS server (split mode)
// mid-stream: publishers and the scorer reconnect, nothing is lost.
func TestChaosNATSRestarted(t *testing.T) {
	dir, port := t.TempDir(), freePort(t)
	srv := natsStartAt(t, dir, port)
	url := srv.ClientURL()
	pub := connectBus(t, url, nil)
	b := connectBus(t, url, nil)
	st := chtestStore(t)
	runScorer(t, b, st, nil)
	const tenant, n = "chaos-nats", 20_000
	ctx := context.Background()
	published := make(chan error, 1)
	go func() { published <- publishSteadily(ctx, pub, tenant, n, 8*time.Second) }()
	waitStored(t, st, tenant, n/4, 2*time.Minute)
	srv.Shutdown()
	time.Sleep(2 * time.Second)
	srv = natsStartAt(t, dir, port)
	if err := <-published; err != nil {
		t.Fatalf("publish across the restart: %v", err)
	}
	c := waitStored(t, st, tenant, n, 2*time.Minute)
	figures{name: "nats-restarted", sent: n, stored: c.distinct, rows: c.rows, deadlettered: deadLetterCount(t, b)}.print(t)
}

// TestChaosScorerKilledDuringInsert kills the scorer process with SIGKILL
// while ClickHouse runs its batch insert, twice: the batch is delivered
// again and stored once.
func TestChaosScorerKilledDuringInsert(t *testing.T) {
	r := newReliabilityRig(t, "chaos-kill")
	kills := 0
	r.run(func() {
		for range 2 {
			// An insert lasts milliseconds: sample system.processes
			// continuously rather than at waitFor's 200 ms.
			for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Millisecond) {
				var n uint64
				err := r.store.Conn().QueryRow(context.Background(),
					"SELECT count() FROM system.processes WHERE query LIKE 'INSERT INTO "+r.store.Database()+".%'").Scan(&n)
				if err == nil && n > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("timed out after 1m0s waiting for a batch insert running")
				}
			}
			if err := r.scorer.kill(syscall.SIGKILL); err == nil {
				t.Fatal("the scorer exited cleanly before it was killed")
			}
			kills++
			r.scorer.start()
			time.Sleep(time.Second)
		}
	})
	c, err := evidenceCounts(context.Background(), r.store, r.tenant)
	if err != nil {
		t.Fatal(err)
	}
	if kills != 2 {
		t.Fatalf("%d kills, want 2", kills)
	}
	figures{name: "scorer-killed-during-insert", sent: reliabilityEvents, stored: c.distinct, rows: c.rows, deadlettered: deadLetterCount(t, r.bus)}.print(t)
}

// poisonCount is how many poison messages TestChaosPoisonMessages mixes in.
const poisonCount = 5

// publishPoison publishes one message of every poison kind and returns the
// reason each must be dead-lettered with, by kind.
func publishPoison(t testing.TB, b *bus.Bus) map[string]string {
	t.Helper()
	ctx := context.Background()
	js := b.JetStream()
	raw := func(data []byte, hdr map[string]string) {
		m := nats.NewMsg(events.EvidenceSubject("chaos-poison", eventv1.Kind_KIND_CHANGE))
		m.Data = data
		for k, v := range hdr {
			m.Header.Set(k, v)
		}
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	raw([]byte("\xff\xff not protobuf"), nil)
	raw([]byte("{}"), map[string]string{events.HeaderType: "application/json"})
	invalid := changeEvent("chaos-poison", 1)
	invalid.Envelope.EventId = ""
	data, err := protoMarshal(invalid)
	if err != nil {
		t.Fatal(err)
	}
	raw(data, map[string]string{events.HeaderType: events.MessageType})
	raw(nil, map[string]string{events.HeaderType: events.MessageType, bus.HeaderClaimCheck: strings.Repeat("0", 64)})
	// A load run whose 600 KB test name the scorer cannot query ClickHouse
	// with (max_query_size): the scorer fails on it whatever it retries.
	if err := b.Publish(ctx, hugeTestNameRun()); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"undecodable":   "undecodable protobuf",
		"message type":  "message type",
		"invalid event": "invalid event",
		"claim check":   "claim check",
		"query size":    "load baseline",
	}
}

// TestChaosPoisonMessages mixes a poison message of each kind into good
// events from three tenants: every good event is stored, every poison is
// in the dead-letter stream with its reason, and an event over the payload
// limit is stored by claim check, not refused.
func TestChaosPoisonMessages(t *testing.T) {
	ns := natsStart(t)
	b := connectBus(t, ns.ClientURL(), nil)
	st := chtestStore(t)
	runScorer(t, b, st, func(c *scorer.Config) { c.MaxDeliver = 3 })
	tenants := []string{"chaos-a", "chaos-b", "chaos-c"}
	const perTenant = 33_334
	ctx := context.Background()
	var sent atomic.Uint64
	published := make(chan error, len(tenants))
	for _, tenant := range tenants {
		go func() {
			published <- publishSteadily(ctx, b, tenant, perTenant, 6*time.Second)
			sent.Add(perTenant)
		}()
	}
	time.Sleep(time.Second)
	reasons := publishPoison(t, b)
	big := oversizedChange("chaos-a")
	if err := b.Publish(ctx, big); err != nil {
		t.Fatalf("an event over the payload limit must be published by claim check: %v", err)
	}
	for range tenants {
		if err := <-published; err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	var stored, rows uint64
	for i, tenant := range tenants {
		want := uint64(perTenant)
		if i == 0 {
			want++ // the oversized event
		}
		c := waitStored(t, st, tenant, want, 3*time.Minute)
		stored, rows = stored+c.distinct, rows+c.rows
	}
	within := time.Since(start)
	waitFor(t, time.Minute, "every poison dead-lettered", func() bool { return deadLetterCount(t, b) >= poisonCount })
	dls, err := b.DeadLetters(ctx, "", 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != poisonCount {
		t.Fatalf("%d dead letters, want %d", len(dls), poisonCount)
	}
	for kind, reason := range reasons {
		found := false
		for _, d := range dls {
			found = found || strings.Contains(d.Reason, reason)
		}
		if !found {
			t.Errorf("no dead letter for the %s poison (reason containing %q)", kind, reason)
		}
	}
	f := figures{name: "poison-messages", sent: sent.Load() + 1 + poisonCount, stored: stored, rows: rows,
		deadlettered: uint64(len(dls)), scoredWithin: uint64(within.Seconds()) + 1}
	f.print(t)
}

// TestChaosNATSStoreFull fills JetStream's file store to its limit: the
// publish past it is refused with a clear error, and every event whose
// publish was acknowledged is stored by the scorer.
func TestChaosNATSStoreFull(t *testing.T) {
	ns := natsStartLimited(t, 6<<20)
	// Unbounded streams: the server's store limit is what fills.
	b := connectBus(t, ns.ClientURL(), func(c *bus.Config) { c.EvidenceMaxBytes = -1 })
	st := chtestStore(t)
	ctx := context.Background()
	const tenant = "chaos-full"
	var acked, attempted uint64
	var refusal error
	for i := 0; refusal == nil && i < 1_000_000; i += 200 {
		evs := make([]*eventv1.Event, 200)
		for j := range evs {
			evs[j] = changeEvent(tenant, i+j)
			evs[j].GetChanges().Changes[0].Title = strings.Repeat("x", 2000)
		}
		attempted += uint64(len(evs))
		if err := b.Publish(ctx, evs...); err != nil {
			refusal = err
			break
		}
		acked += uint64(len(evs))
	}
	if refusal == nil {
		t.Fatal("the store never filled")
	}
	if !bus.Refused(refusal) || !strings.Contains(strings.ToLower(refusal.Error()), "resources") {
		t.Fatalf("refusal %q: want JetStream's insufficient resources, not a retry", refusal)
	}
	inStream := streamCount(t, b)
	if inStream < acked {
		t.Fatalf("%d events acknowledged, %d in the stream", acked, inStream)
	}
	// The evidence chain is on (the default), its lock a JetStream write
	// the full store refuses: scoring goes on, the envelopes unchained.
	runScorer(t, b, st, func(c *scorer.Config) { c.ChainCatchUp = time.Second })
	c := waitStored(t, st, tenant, inStream, 2*time.Minute)
	figures{name: "nats-store-full", sent: inStream, stored: c.distinct, rows: c.rows, deadlettered: deadLetterCount(t, b),
		refused: attempted - inStream}.print(t)
	if c.distinct < acked {
		t.Fatalf("%d acknowledged events, %d stored", acked, c.distinct)
	}
	if res, err := chain.Verify(ctx, st, tenant, nil); err != nil || res.Break != nil || res.Entries != 0 {
		t.Fatalf("chain while the store is full: %+v %v, want every envelope stored unchained", res, err)
	}
	// Space freed (the stored evidence purged), the lock works again and
	// the catch-up chains every stored envelope.
	evidenceStream, err := b.JetStream().Stream(ctx, bus.StreamEvidence)
	if err == nil {
		err = evidenceStream.Purge(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, fmt.Sprintf("%d envelopes of %s chained", c.distinct, tenant), func() bool {
		res, err := chain.Verify(ctx, st, tenant, nil)
		if err != nil || res.Break != nil {
			t.Fatalf("chain of %s: %+v %v", tenant, res, err)
		}
		return res.Entries >= c.distinct
	})
}
