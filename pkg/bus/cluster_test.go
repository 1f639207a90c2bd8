package bus_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/natstest"
)

func TestPlacementFlagsAndValidation(t *testing.T) {
	var c bus.Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags("bus.", fs)
	if c.Replicas != 1 || c.PlacementCluster != "" || c.PlacementTags != nil {
		t.Fatalf("single-node defaults changed: replicas %d, cluster %q, tags %v", c.Replicas, c.PlacementCluster, c.PlacementTags)
	}
	if err := fs.Parse([]string{"-bus.replicas=3", "-bus.placement-cluster=east", "-bus.placement-tags= ssd, az:b ,"}); err != nil {
		t.Fatal(err)
	}
	if c.Replicas != 3 || c.PlacementCluster != "east" || !slices.Equal(c.PlacementTags, []string{"ssd", "az:b"}) {
		t.Fatalf("flags not applied: replicas %d, cluster %q, tags %q", c.Replicas, c.PlacementCluster, c.PlacementTags)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, sc := range c.Streams() {
		if sc.Replicas != 3 || sc.Placement == nil || sc.Placement.Cluster != "east" || !slices.Equal(sc.Placement.Tags, c.PlacementTags) {
			t.Errorf("stream %s: replicas %d, placement %+v", sc.Name, sc.Replicas, sc.Placement)
		}
	}
	c.PlacementTags = []string{"a b"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "placement_tags") {
		t.Fatalf("a tag with a space: err = %v", err)
	}
}

// sharedCollector records what two replicas sharing one durable consumer stored.
type sharedCollector struct {
	mu          sync.Mutex
	stored      map[string]int // event id -> times handed to a handler
	perReplica  [2]int
	redelivered int
}

func (c *sharedCollector) handler(replica int) bus.Handler {
	return func(_ context.Context, batch []bus.Delivery) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, d := range batch {
			c.stored[d.Event.GetEnvelope().GetEventId()]++
			c.perReplica[replica]++
			if d.Delivered > 1 {
				c.redelivered++
			}
		}
		return nil
	}
}

func (c *sharedCollector) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.stored)
}

// TestClusterR3SharedConsumerAcrossNodeRestart runs the bus on a 3-node
// cluster with R3 streams placed by tag. Two clients share one durable
// consumer while the node leading that consumer is shut down, evidence is
// published without it, and it is restarted on its store directory. Every
// event must be stored in the stream once and handed to a handler exactly
// once: nothing lost, nothing handled twice, duplicates dropped.
func TestClusterR3SharedConsumerAcrossNodeRestart(t *testing.T) {
	const perPhase = 2000
	c := natstest.StartCluster(t, 3)
	ctx := context.Background()

	// A tag no server carries: JetStream refuses to place the streams.
	bad := bus.DefaultConfig()
	bad.URL, bad.Replicas, bad.PlacementTags = c.URLs(2), 3, []string{"no-such-tag"}
	nb, err := bus.Connect(ctx, bad, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := nb.Provision(ctx); err == nil {
		t.Fatal("provisioned streams on servers tagged no-such-tag, which do not exist")
	}
	_ = nb.Close()

	cfg := bus.DefaultConfig()
	cfg.Replicas, cfg.PlacementTags = 3, []string{natstest.ClusterTag}
	buses := []*bus.Bus{c.Bus(0, cfg), c.Bus(1, cfg)}
	js := buses[1].JetStream()

	for _, name := range []string{bus.StreamEvidence, bus.StreamVerdicts, bus.StreamDeadLetter, "OBJ_" + bus.DocumentBucket} {
		info := streamInfo(t, js, name)
		if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			t.Fatalf("stream %s: replicas %d, cluster %+v; want R3 (a leader and two followers)", name, info.Config.Replicas, info.Cluster)
		}
		if p := info.Config.Placement; p == nil || !slices.Equal(p.Tags, []string{natstest.ClusterTag}) {
			t.Fatalf("stream %s: placement %+v", name, p)
		}
	}

	// A client whose server goes down re-pulls on reconnect while its old pull
	// request may still be served; nats.go drops what overflows the
	// iterator's buffer, and those messages come back after AckWait, before
	// any handler saw them. AckWait is short so they come back soon;
	// batches in a handler stay claimed by their progress signals.
	spec := bus.ConsumerSpec{Stream: bus.StreamEvidence, Durable: "cluster-scorer", AckWait: 10 * time.Second}
	col := &sharedCollector{stored: map[string]int{}}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	for i, b := range buses {
		wg.Go(func() {
			if err := b.Consume(runCtx, spec, bus.BatchOptions{MaxMessages: 200, MaxWait: 20 * time.Millisecond}, col.handler(i)); err != nil {
				t.Error(err)
			}
		})
		// One replica at a time, each with its pull request registered
		// before anything is published, so both take a share.
		waitPulling(t, js, spec.Durable, i+1)
	}

	evs := changeEvents(3 * perPhase)
	publishAndSettle := func(phase string, upTo int, batch []int) {
		t.Helper()
		for _, from := range batch {
			if err := buses[0].Publish(ctx, evs[from:from+perPhase]...); err != nil {
				t.Fatalf("%s: publish: %v", phase, err)
			}
		}
		waitSettled(t, js, spec.Durable, col, upTo, phase)
	}

	publishAndSettle("before the restart", perPhase, []int{0})
	doc := strings.Repeat("a whole SBOM, stored once under its digest\n", 4096)
	ref, err := buses[0].PutDocument(ctx, "sbom.json", "application/json", strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	leader := consumerInfo(t, js, spec.Durable).Cluster.Leader
	down := c.Index(leader)
	if down < 0 {
		t.Fatalf("consumer leader %q is not a node", leader)
	}
	t.Logf("shutting down %s, leader of the consumer (stream leader %s)", leader, streamInfo(t, js, bus.StreamEvidence).Cluster.Leader)
	c.Shutdown(down)
	publishAndSettle("while a node is down", 2*perPhase, []int{perPhase})
	// The document bucket is R3 too: readable with a node gone.
	r, err := buses[1].GetDocument(ctx, ref.GetSha256())
	if err != nil {
		t.Fatalf("document with a node down: %v", err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(got) != doc {
		t.Fatalf("document with a node down: read %d bytes (%v), want %d", len(got), err, len(doc))
	}
	c.Restart(down)
	waitCurrent(t, js, spec.Durable)
	// The first two phases again (duplicates JetStream must drop) and the third.
	publishAndSettle("after the restart", 3*perPhase, []int{0, perPhase, 2 * perPhase})

	if got := streamInfo(t, js, bus.StreamEvidence).State.Msgs; got != 3*perPhase {
		t.Errorf("evidence stream holds %d messages, want %d", got, 3*perPhase)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	total := 0
	for id, n := range col.stored {
		total += n
		if n != 1 {
			t.Errorf("event %s handed to handlers %d times", id, n)
		}
	}
	if len(col.stored) != 3*perPhase || total != 3*perPhase {
		t.Errorf("handled %d deliveries of %d distinct events, want %d of %d", total, len(col.stored), 3*perPhase, 3*perPhase)
	}
	if col.perReplica[0] == 0 || col.perReplica[1] == 0 || col.perReplica[0]+col.perReplica[1] != 3*perPhase {
		t.Errorf("replicas handled %v; want both to share the %d events", col.perReplica, 3*perPhase)
	}
	t.Logf("replicas handled %d + %d events; %d came on a redelivery (dropped by a client before any handler saw them)",
		col.perReplica[0], col.perReplica[1], col.redelivered)
}

// waitSettled waits until want distinct events are stored and the consumer
// has nothing pending or unacknowledged, so no delivery can come later.
func waitSettled(t *testing.T, js jetstream.JetStream, durable string, col *sharedCollector, want int, phase string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if col.distinct() >= want {
			ci, err := consumerInfoErr(js, durable)
			if err == nil && ci.NumPending == 0 && ci.NumAckPending == 0 && ci.AckFloor.Stream == uint64(want) {
				return
			}
		}
		if time.Now().After(deadline) {
			ci, err := consumerInfoErr(js, durable)
			t.Fatalf("%s: %d of %d events stored after 60s; consumer %+v (%v)", phase, col.distinct(), want, ci, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitPulling waits until the consumer has n pull requests waiting.
func waitPulling(t *testing.T, js jetstream.JetStream, durable string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ci, err := consumerInfoErr(js, durable)
		if err == nil && ci.NumWaiting >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer %s: %d pull requests waiting after 30s, want %d (%v)", durable, ci.NumWaiting, n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitCurrent waits until every replica of the evidence stream and of the
// consumer is online and caught up.
func waitCurrent(t *testing.T, js jetstream.JetStream, durable string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ci, cerr := consumerInfoErr(js, durable)
		si, serr := js.Stream(context.Background(), bus.StreamEvidence)
		var sinfo *jetstream.StreamInfo
		if serr == nil {
			sinfo, serr = si.Info(context.Background())
		}
		if cerr == nil && serr == nil && current(ci.Cluster) && current(sinfo.Cluster) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas not current after 60s: consumer %v, stream %v", cerr, serr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func current(ci *jetstream.ClusterInfo) bool {
	if ci == nil || ci.Leader == "" || len(ci.Replicas) != 2 {
		return false
	}
	for _, p := range ci.Replicas {
		if !p.Current || p.Offline {
			return false
		}
	}
	return true
}

func streamInfo(t *testing.T, js jetstream.JetStream, name string) *jetstream.StreamInfo {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	return info
}

func consumerInfoErr(js jetstream.JetStream, durable string) (*jetstream.ConsumerInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cons, err := js.Consumer(ctx, bus.StreamEvidence, durable)
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", durable, err)
	}
	return cons.Info(ctx)
}

func consumerInfo(t *testing.T, js jetstream.JetStream, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	ci, err := consumerInfoErr(js, durable)
	if err != nil {
		t.Fatal(err)
	}
	return ci
}

// TestPublishResendsWhatTheDeadLeaderNeverAcknowledged kills the evidence
// stream's leader while batches are in flight from a client on another
// node. Messages the leader took with it are never acknowledged; each
// attempt gives up on them after PublishAckWait and sends them again, so
// every batch is published well within PublishTimeout, and JetStream keeps
// each event once.
func TestPublishResendsWhatTheDeadLeaderNeverAcknowledged(t *testing.T) {
	const batches, perBatch = 30, 1000
	c := natstest.StartCluster(t, 3)
	ctx := context.Background()
	cfg := bus.DefaultConfig()
	cfg.Replicas, cfg.PublishTimeout, cfg.PublishAckWait = 3, 45*time.Second, 2*time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	probe := c.Bus(0, cfg)
	leader := c.Index(streamInfo(t, probe.JetStream(), bus.StreamEvidence).Cluster.Leader)
	if leader < 0 {
		t.Fatal("the evidence stream has no leader among the nodes")
	}
	b := c.Bus((leader+1)%c.Len(), cfg)

	evs := changeEvents(batches * perBatch)
	acked := make(chan int, batches)
	done := make(chan error, 1)
	go func() {
		for i := range batches {
			began := time.Now()
			if err := b.Publish(ctx, evs[i*perBatch:(i+1)*perBatch]...); err != nil {
				done <- fmt.Errorf("batch %d after %s: %w", i, time.Since(began).Round(time.Millisecond), err)
				return
			}
			acked <- i
		}
		done <- nil
	}()
	<-acked
	<-acked
	t.Logf("shutting down %s, leader of the evidence stream, with batches in flight", c.Name(leader))
	c.Shutdown(leader)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	js := b.JetStream()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := js.Stream(ctx, bus.StreamEvidence)
		var info *jetstream.StreamInfo
		if err == nil {
			info, err = s.Info(ctx)
		}
		if err == nil && info.State.Msgs == batches*perBatch {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("evidence stream after every batch was acknowledged: %+v (%v), want %d messages", info, err, batches*perBatch)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
