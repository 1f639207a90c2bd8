package tracecollector

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/natstest"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	tracev1 "github.com/trilens/trilens/proto/trilens/trace/v1"
)

// detectionEvents builds n detection events; those in big carry an operation
// of opBytes bytes.
func detectionEvents(n, opBytes int, big map[int]bool) []*eventv1.Event {
	rk := reportKey{tenant: "acme", env: eventv1.Environment_ENVIRONMENT_PRODUCTION, start: time.Now().UnixNano()}
	return appendParts(nil, rk, "outbox-test", eventv1.Kind_KIND_TRACE_DETECTION, &eventv1.Subject{Environment: rk.env},
		time.Now(), n, 1, func(ev *eventv1.Event, lo, _ int) {
			op := "select 1"
			if big[lo] {
				op = strings.Repeat("x", opBytes)
			}
			ev.Payload = &eventv1.Event_TraceDetections{TraceDetections: &tracev1.DetectionBatch{Detections: []*tracev1.Detection{
				{Type: tracev1.DetectionType_DETECTION_TYPE_N_PLUS_ONE, Fingerprint: "f", Service: "svc", Operation: op}}}}
		})
}

func TestOutboxDropsRefusedEventsAndMovesOn(t *testing.T) {
	b := natstest.Bus(t)
	ctx := context.Background()
	// JetStream refuses messages over the stream's size limit: an event
	// refused at the head of the queue used to hold it for ever.
	st, err := b.JetStream().Stream(ctx, bus.StreamEvidence)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := info.Config
	cfg.MaxMsgSize = 4096
	if _, err := b.JetStream().UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	c, err := New(testConfig(), collect.Settings{Logger: slog.New(slog.DiscardHandler), Publisher: b, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	evs := detectionEvents(300, 8000, map[int]bool{0: true, 150: true})
	if err := c.out.send(ctx, evs); err != nil {
		t.Fatalf("send: %v", err)
	}
	if len(c.out.pending) != 0 {
		t.Fatalf("%d events left in the queue", len(c.out.pending))
	}
	if got := len(traceEvents(t, b)); got != 298 {
		t.Fatalf("published %d events, want the 298 the stream accepts", got)
	}
	kind := "trace_detection"
	if got := testutil.ToFloat64(c.metrics.published.WithLabelValues(kind, "refused")); got != 2 {
		t.Fatalf("refused counter %v, want 2", got)
	}
	if got := testutil.ToFloat64(c.metrics.published.WithLabelValues(kind, "published")); got != 298 {
		t.Fatalf("published counter %v, want 298", got)
	}
}

// An event over the payload limit used to stay at the head of the queue,
// refused on every flush: it is now published by claim check.
func TestOutboxPublishesOversizedEventByClaimCheck(t *testing.T) {
	b := natstest.Bus(t)
	reg := prometheus.NewRegistry()
	c, err := New(testConfig(), collect.Settings{Logger: slog.New(slog.DiscardHandler), Publisher: b, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	evs := detectionEvents(3, 2<<20, map[int]bool{0: true})
	if err := c.out.send(context.Background(), evs); err != nil {
		t.Fatalf("send: %v", err)
	}
	if len(c.out.pending) != 0 {
		t.Fatalf("%d events left in the queue", len(c.out.pending))
	}
	if got := testutil.ToFloat64(c.metrics.published.WithLabelValues("trace_detection", "published")); got != 3 {
		t.Fatalf("published counter %v, want 3", got)
	}
	if got := len(traceEvents(t, b)); got != 3 {
		t.Fatalf("%d messages in the stream, want 3", got)
	}
}
