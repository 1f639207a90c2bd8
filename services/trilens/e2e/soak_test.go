package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/store"
)

// soakTenants publish the soak's events side by side.
var soakTenants = []string{"soak-a", "soak-b", "soak-c"}

// soakEvents is how many good events the soak publishes: 1M, or
// TRILENS_SOAK_EVENTS (a quick look at the machinery with fewer).
func soakEvents(b *testing.B) int {
	n := 1_000_000
	if v := os.Getenv("TRILENS_SOAK_EVENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 3000 {
			b.Fatalf("TRILENS_SOAK_EVENTS=%q: want a count of at least 3000", v)
		}
	}
	return n
}

// soakCounts counts the distinct events and rows of the soak's tenants.
func soakCounts(ctx context.Context, st *store.Store) (counts, error) {
	var c counts
	q := fmt.Sprintf("SELECT count(), uniqExact(event_id) FROM %s.evidence_log FINAL WHERE tenant IN ('soak-a', 'soak-b', 'soak-c')", st.Database())
	err := st.Conn().QueryRow(ctx, q).Scan(&c.rows, &c.distinct)
	return c, err
}

// BenchmarkChaosSoak is the chaos suite's soak, run by make bench
// (scripts/bench.d/80-soak.sh), not make test: 1M events from three
// tenants, with a poison message of each kind and an event over the
// payload limit mixed in, while ClickHouse is stopped for 30 s, the
// (external) NATS server is restarted and the scorer process is killed
// with SIGKILL, one fault after the other as the events are stored. It
// fails unless every good event is stored exactly once and every poison
// is dead-lettered (lost = 0), and prints the figures row and
// "soak ratio (stored + dead-lettered) / sent".
func BenchmarkChaosSoak(b *testing.B) {
	for range b.N {
		soak(b, soakEvents(b))
	}
}

func soak(b *testing.B, n int) {
	ch := chtestServer(b)
	dir, port := b.TempDir(), freePort(b)
	ns := natsStartAt(b, dir, port)
	url := ns.ClientURL()
	pub := connectBus(b, url, nil)
	st := chtestStore(b)
	// The scorer's own max-deliver (10): with 3, the 1M soak at a load
	// average of 45 dead-lettered 22,044 events it had also stored.
	scorer := startScorer(b, url, st)
	ctx := context.Background()
	perTenant := n / len(soakTenants)
	good := uint64(perTenant*len(soakTenants)) + 1 // and the oversized event

	start := time.Now()
	published := make(chan error, len(soakTenants))
	for _, tenant := range soakTenants {
		go func() { published <- publishSteadily(ctx, pub, tenant, perTenant, time.Duration(n/15_000)*time.Second) }()
	}
	publishPoison(b, pub)
	big := oversizedChange("soak-a")
	if err := pub.Publish(ctx, big); err != nil {
		b.Fatalf("an event over the payload limit must be published by claim check: %v", err)
	}
	storedAtLeast := func(frac float64) {
		want := uint64(frac * float64(good))
		waitFor(b, 10*time.Minute, fmt.Sprintf("%d soak events stored", want), func() bool {
			scorer.mustRun()
			c, err := soakCounts(ctx, st)
			return err == nil && c.distinct >= want
		})
	}

	storedAtLeast(0.15)
	if err := ch.Stop(ctx); err != nil {
		b.Fatalf("stop clickhouse: %v", err)
	}
	time.Sleep(30 * time.Second)
	if err := ch.Restart(ctx); err != nil {
		b.Fatalf("restart clickhouse: %v", err)
	}
	storedAtLeast(0.40)
	ns.Shutdown()
	time.Sleep(2 * time.Second)
	natsStartAt(b, dir, port)
	storedAtLeast(0.65)
	if err := scorer.kill(syscall.SIGKILL); err == nil {
		b.Fatal("the scorer exited cleanly before it was killed")
	}
	scorer.start()

	for range soakTenants {
		if err := <-published; err != nil {
			b.Fatalf("publish: %v", err)
		}
	}
	storedAtLeast(1)
	elapsed := time.Since(start)
	waitFor(b, 10*time.Minute, "every poison dead-lettered", func() bool { return deadLetterCount(b, pub) >= poisonCount })
	c, err := soakCounts(ctx, st)
	if err != nil {
		b.Fatal(err)
	}
	f := figures{name: "soak: 3 tenants, ClickHouse stopped 30 s, NATS restarted, scorer killed, poison", sent: good + poisonCount,
		stored: c.distinct, rows: c.rows, deadlettered: deadLetterCount(b, pub), eventsPerSecond: float64(good+poisonCount) / elapsed.Seconds()}
	fmt.Println(figuresHeader)
	fmt.Println(f.row())
	fmt.Printf("soak ratio %.4f\n", float64(f.stored+f.deadlettered)/float64(f.sent))
	b.ReportMetric(f.eventsPerSecond, "events/s")
	f.print(b)
}
