package scorer_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
	changev1 "github.com/trilens/trilens/proto/trilens/change/v1"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	scanv1 "github.com/trilens/trilens/proto/trilens/scan/v1"
	"github.com/trilens/trilens/services/scorer"
)

func TestMain(m *testing.M) { os.Exit(chtest.Run(m, natstest.LeakOptions()...)) }

// rig is a scorer running in process against real NATS and ClickHouse.
type rig struct {
	bus    *bus.Bus
	store  *store.Store
	scorer *scorer.Scorer
}

func newRig(t testing.TB, cfg func(*scorer.Config)) *rig {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	b := natstest.Bus(t)
	st := chtest.Store(t)
	var c scorer.Config
	c.RegisterFlags("", flagSet())
	if cfg != nil {
		cfg(&c)
	}
	s, err := scorer.New(c, scorer.Settings{Logger: log, Bus: b, Store: st, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			t.Errorf("stop scorer: %v", err)
		}
		_ = b.Close()
	})
	return &rig{bus: b, store: st, scorer: s}
}

func envelope(tenant, id string, kind eventv1.Kind) *eventv1.Envelope {
	return events.NewEnvelope(events.ID(tenant, id), tenant, kind, &eventv1.Producer{Collector: "test", Tool: "test"},
		&eventv1.Subject{Repository: "acme/shop", Branch: "main", Service: "checkout"}, time.Now())
}

func changeEvent(tenant string, i int) *eventv1.Event {
	return &eventv1.Event{Envelope: envelope(tenant, fmt.Sprint("change-", i), eventv1.Kind_KIND_CHANGE),
		Payload: &eventv1.Event_Changes{Changes: &changev1.ChangeBatch{Changes: []*changev1.Change{{Id: fmt.Sprint(i), Type: changev1.ChangeType_CHANGE_TYPE_DEPLOY, Status: "success"}}}}}
}

// scanEvent is one report part of n findings.
func scanEvent(tenant string, part, parts, n int) *eventv1.Event {
	env := envelope(tenant, fmt.Sprint("scan-", part), eventv1.Kind_KIND_SCAN)
	env.Part = &eventv1.Part{ReportId: "report-1", Index: uint32(part), Count: uint32(parts)}
	fs := make([]*scanv1.Finding, n)
	for i := range fs {
		fs[i] = &scanv1.Finding{
			Fingerprint: fmt.Sprintf("fp-%d-%d", part, i), RuleId: "G101", Title: "Hard-coded credential",
			Severity: scanv1.Severity(1 + i%5), Category: scanv1.Category_CATEGORY_CODE,
			Path: fmt.Sprintf("internal/pkg%d/file.go", i%40), StartLine: uint32(10 + i), Cwes: []string{"CWE-798"},
		}
	}
	return &eventv1.Event{Envelope: env, Payload: &eventv1.Event_Scan{Scan: &scanv1.FindingBatch{Tool: "gosec", ToolVersion: "2.29.0", Format: "sarif", Findings: fs}}}
}

func countWhere(t testing.TB, st *store.Store, table, where string, args ...any) uint64 {
	t.Helper()
	var n uint64
	q := fmt.Sprintf("SELECT count() FROM %s.%s FINAL WHERE %s", st.Database(), table, where)
	if err := st.Conn().QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func waitCount(t testing.TB, st *store.Store, table, tenant string, want uint64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		got := countWhere(t, st, table, "tenant = ?", tenant)
		if got == want {
			return
		}
		if got > want {
			t.Fatalf("%s holds %d rows of %s, want %d", table, got, tenant, want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d rows of %s after a minute, want %d", table, got, tenant, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestScorerStoresEvidenceOnceDespiteDuplicates(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	var evs []*eventv1.Event
	for i := range 300 {
		evs = append(evs, changeEvent("acme", i))
	}
	evs = append(evs, scanEvent("acme", 0, 2, 700), scanEvent("acme", 1, 2, 300))
	if err := r.bus.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	waitCount(t, r.store, "evidence_log", "acme", 302)
	waitCount(t, r.store, "finding_observations", "acme", 1000)

	// A redelivered copy under a new message id (JetStream's dedup window
	// cannot catch it) must still collapse in ClickHouse.
	again := changeEvent("acme", 7)
	m, err := bus.Message(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	m.Header.Set(jetstream.MsgIDHeader, "another-id")
	if _, err := r.bus.JetStream().PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := r.bus.Publish(ctx, changeEvent("acme", 1000)); err != nil {
		t.Fatal(err)
	}
	waitCount(t, r.store, "evidence_log", "acme", 303)
	if n := countWhere(t, r.store, "evidence_log", "tenant = 'acme' AND kind = 'change'"); n != 301 {
		t.Fatalf("%d change events stored, want 301", n)
	}
}

func TestUndecodableMessageIsDeadLetteredAndScoringGoesOn(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	bad := nats.NewMsg(events.EvidenceSubject("acme", eventv1.Kind_KIND_SCAN))
	bad.Data = []byte("{\"not\": \"protobuf\"}")
	if _, err := r.bus.JetStream().PublishMsg(ctx, bad); err != nil {
		t.Fatal(err)
	}
	if err := r.bus.Publish(ctx, changeEvent("acme", 1), changeEvent("acme", 2)); err != nil {
		t.Fatal(err)
	}
	waitCount(t, r.store, "evidence_log", "acme", 2)

	cons, err := r.bus.JetStream().OrderedConsumer(ctx, bus.StreamDeadLetter, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	if reason := msg.Headers().Get(bus.HeaderDeadReason); !strings.Contains(reason, "undecodable") {
		t.Fatalf("dead letter reason %q", reason)
	}
	if string(msg.Data()) != string(bad.Data) {
		t.Fatalf("dead letter lost the original bytes")
	}
}
