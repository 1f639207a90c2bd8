package trilens_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/events"
	changev1 "github.com/trilens/trilens/proto/trilens/change/v1"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"github.com/trilens/trilens/services/alerter"
	"github.com/trilens/trilens/services/scorer/chain"
	"github.com/trilens/trilens/services/scorer/tracker"
)

// startNATS runs a real nats-server with opts, its listeners and cluster swapped for a
// single loopback node and its store for a temporary directory.
func startNATS(t *testing.T, opts *natsserver.Options) *natsserver.Server {
	t.Helper()
	opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", -1, 0
	opts.Cluster, opts.Routes = natsserver.ClusterOpts{}, nil
	opts.StoreDir, opts.PidFile, opts.ServerName = t.TempDir(), "", "permissions-test"
	opts.NoSigs, opts.NoLog = true, true
	ns, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats not ready")
	}
	return ns
}

// busAs connects to ns as user with Trilens's bus client; errs receives the
// connection's asynchronous errors (permission violations).
func busAs(t *testing.T, ns *natsserver.Server, user, password string, provision bool, errs chan<- error) *bus.Bus {
	t.Helper()
	u, _ := url.Parse(ns.ClientURL())
	u.User = url.UserPassword(user, password)
	cfg := bus.DefaultConfig()
	cfg.URL, cfg.PublishTimeout, cfg.Provision = u.String(), 2*time.Second, provision
	b, err := bus.Connect(context.Background(), cfg, slog.New(slog.DiscardHandler), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case errs <- err:
		default:
		}
	}))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if provision {
		if err := b.Provision(context.Background()); err != nil {
			t.Fatalf("provision as %s: %v", user, err)
		}
	}
	return b
}

func changeEvent(tenant, id string) *eventv1.Event {
	env := events.NewEnvelope(events.ID("nats-users", id), tenant, eventv1.Kind_KIND_CHANGE, &eventv1.Producer{Collector: "test"}, &eventv1.Subject{Service: "svc"}, time.Now())
	return &eventv1.Event{Envelope: env, Payload: &eventv1.Event_Changes{Changes: &changev1.ChangeBatch{Changes: []*changev1.Change{{Id: id}}}}}
}

// checkTenantCollector runs the attack of a tenant's collector on a real server with
// opts, the users and permissions of a committed NATS config: collector-default (the
// collector of tenant default) publishes its tenant's evidence but not another
// tenant's, may not use the JetStream API (so neither create a consumer on the
// evidence stream nor delete it), and may not listen on the consumers' inbox, where
// the evidence they pull arrives; the consumer (scorer) consumes exactly the
// collector's event. password gives the password of a user.
func checkTenantCollector(t *testing.T, opts *natsserver.Options, password func(user string) string) {
	t.Helper()
	ns := startNATS(t, opts)
	ctx := context.Background()
	consumer := busAs(t, ns, "consumer", password("consumer"), true, make(chan error, 1))
	tenantErrs := make(chan error, 16)
	tenant := busAs(t, ns, "collector-default", password("collector-default"), false, tenantErrs)

	if err := tenant.Publish(ctx, changeEvent("default", "own")); err != nil {
		t.Fatalf("the collector of tenant default publishes its own evidence: %v", err)
	}
	if err := tenant.Publish(ctx, changeEvent("acme", "forged")); err == nil {
		t.Error("the collector of tenant default published evidence for tenant acme")
	}
	apiCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := tenant.JetStream().CreateOrUpdateConsumer(apiCtx, bus.StreamEvidence, jetstream.ConsumerConfig{Durable: "snoop"}); err == nil {
		t.Error("the collector of tenant default created a consumer on the evidence stream")
	}
	if err := tenant.JetStream().DeleteStream(apiCtx, bus.StreamEvidence); err == nil {
		t.Error("the collector of tenant default deleted the evidence stream")
	}
	nc := tenant.JetStream().Conn()
	inbox := bus.InboxPrefix("consumer") + ".>"
	if _, err := nc.SubscribeSync(inbox); err == nil {
		_ = nc.Flush()
		refused := false
		for deadline := time.After(5 * time.Second); !refused; {
			select {
			case err := <-tenantErrs:
				refused = errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), inbox)
			case <-deadline:
				t.Fatal("the collector of tenant default listens on the consumers' inbox")
			}
		}
	}

	ids := firstBatch(t, consumer, nil)
	if want := []string{events.ID("nats-users", "own")}; !slices.Equal(ids, want) {
		t.Errorf("the scorer consumed %v, want %v: the tenant collector's own event only", ids, want)
	}
}

// checkServiceWrites runs, on a real server with opts, the writes the shared services
// make besides evidence and verdicts, so that a committed config cannot forbid what the
// code needs: the collectors store a tenant's document (the object store and the
// tenant's usage in its key-value bucket), and the scorer and the alerter (user
// consumer) write their key-value buckets.
func checkServiceWrites(t *testing.T, opts *natsserver.Options, password func(user string) string) {
	t.Helper()
	ns := startNATS(t, opts)
	ctx := context.Background()
	collector := busAs(t, ns, "collector", password("collector"), true, make(chan error, 16))
	doc := []byte("a document the collector stores for tenant acme")
	sum := sha256.Sum256(doc)
	ref := &eventv1.DocumentRef{Sha256: hex.EncodeToString(sum[:]), Size: int64(len(doc)), Name: "report.json"}
	if err := collector.PutDocumentFile(bus.WithTenant(ctx, "acme"), ref, bytes.NewReader(doc)); err != nil {
		t.Errorf("the collectors' user cannot store a tenant's document: %v", err)
	}
	consumer := busAs(t, ns, "consumer", password("consumer"), true, make(chan error, 16))
	// The scorer deletes documents past retention and gives their bytes back to the tenant.
	if _, err := consumer.JetStream().CreateOrUpdateConsumer(ctx, bus.StreamEvidence, jetstream.ConsumerConfig{Durable: "scorer", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatalf("the consumers' user cannot create the scorer's consumer: %v", err)
	}
	if n, err := consumer.SweepDocuments(ctx, time.Now().Add(time.Hour), bus.StreamEvidence, "scorer", nil); err != nil || n != 1 {
		t.Errorf("the consumers' user swept %d documents (%v), want the 1 stored", n, err)
	}
	if used, err := consumer.DocumentUsage(ctx, "acme"); err != nil || used != 0 {
		t.Errorf("tenant acme's document usage after the sweep = %d (%v), want 0", used, err)
	}
	for _, bucket := range []string{chain.LockBucket, alerter.StateBucket, tracker.LeaseBucket} {
		kv, err := consumer.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket})
		if err != nil {
			t.Errorf("the consumers' user cannot create bucket %s: %v", bucket, err)
			continue
		}
		if _, err := kv.Put(ctx, "probe", []byte("x")); err != nil {
			t.Errorf("the consumers' user cannot write bucket %s: %v", bucket, err)
		}
	}
}

// firstBatch runs the scorer's consumer on b until its first batch has arrived and
// then until before() (nil: at once), and returns the batch's event ids.
func firstBatch(t *testing.T, b *bus.Bus, before func()) []string {
	t.Helper()
	runCtx, stop := context.WithCancel(context.Background())
	defer stop()
	got := make(chan []string, 16)
	done := make(chan error, 1)
	go func() {
		done <- b.Consume(runCtx, bus.ConsumerSpec{Stream: bus.StreamEvidence, Durable: "scorer"}, bus.BatchOptions{MaxWait: 20 * time.Millisecond},
			func(_ context.Context, batch []bus.Delivery) error {
				var ids []string
				for _, d := range batch {
					ids = append(ids, d.Event.GetEnvelope().GetEventId())
				}
				got <- ids
				return nil
			})
	}()
	var ids []string
	select {
	case ids = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("the consumers' user (the scorer) received nothing in 30s")
	}
	if before != nil {
		before()
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return ids
}
