package tracecollector

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/events"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	tracev1 "github.com/trilens/trilens/proto/trilens/trace/v1"
)

// Events stay well under NATS's 1 MiB payload: a window carries up to eight
// encoded sketches of a few KiB each.
const (
	windowsPerEvent    = 32
	detectionsPerEvent = 500
)

var producer = &eventv1.Producer{Collector: "tracecollector", Tool: "otlp"}

// reportKey groups what one event report covers: one tenant, environment and window.
type reportKey struct {
	tenant string
	env    eventv1.Environment
	start  int64
}

// buildEvents turns closed windows into window and detection events. Event
// ids derive from tenant, environment, window, replica and part, so a
// republished report replaces itself.
func buildEvents(ws map[windowKey]*window, r *rules, instance string) []*eventv1.Event {
	reports := map[reportKey][]windowKey{}
	for k := range ws {
		r := reportKey{k.tenant, k.env, k.start}
		reports[r] = append(reports[r], k)
	}
	rks := make([]reportKey, 0, len(reports))
	for r := range reports {
		rks = append(rks, r)
	}
	slices.SortFunc(rks, func(a, b reportKey) int {
		return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.tenant, b.tenant), cmp.Compare(a.env, b.env))
	})
	width := int64(r.window)
	var out []*eventv1.Event
	for _, rk := range rks {
		keys := reports[rk]
		slices.SortFunc(keys, func(a, b windowKey) int {
			return cmp.Or(cmp.Compare(a.service, b.service), cmp.Compare(a.journey, b.journey))
		})
		var wins []*tracev1.Window
		var dets []*tracev1.Detection
		for _, k := range keys {
			wins = append(wins, ws[k].proto(k, width))
			dets = append(dets, ws[k].detections(k, r.slowTop, r.slowMinTotalMs)...)
		}
		observed := time.Unix(0, rk.start+width)
		subject := &eventv1.Subject{Environment: rk.env}
		out = appendParts(out, rk, instance, eventv1.Kind_KIND_TRACE_WINDOW, subject, observed, len(wins), windowsPerEvent,
			func(ev *eventv1.Event, lo, hi int) {
				ev.Payload = &eventv1.Event_TraceWindows{TraceWindows: &tracev1.WindowBatch{Windows: wins[lo:hi]}}
			})
		out = appendParts(out, rk, instance, eventv1.Kind_KIND_TRACE_DETECTION, subject, observed, len(dets), detectionsPerEvent,
			func(ev *eventv1.Event, lo, hi int) {
				ev.Payload = &eventv1.Event_TraceDetections{TraceDetections: &tracev1.DetectionBatch{Detections: dets[lo:hi]}}
			})
	}
	return out
}

// appendParts splits n items into events of at most per items each.
func appendParts(out []*eventv1.Event, r reportKey, instance string, kind eventv1.Kind, subject *eventv1.Subject,
	observed time.Time, n, per int, fill func(ev *eventv1.Event, lo, hi int)) []*eventv1.Event {
	if n == 0 {
		return out
	}
	count := (n + per - 1) / per
	env := strconv.Itoa(int(r.env))
	reportID := events.ID(r.tenant, events.KindName(kind), env, strconv.FormatInt(r.start, 10), instance)
	for i := range count {
		id := events.ID(r.tenant, events.KindName(kind), reportID, strconv.Itoa(i))
		ev := &eventv1.Event{Envelope: events.NewEnvelope(id, r.tenant, kind, producer, subject, observed)}
		ev.Envelope.Part = &eventv1.Part{ReportId: reportID, Index: uint32(i), Count: uint32(count)}
		fill(ev, i*per, min((i+1)*per, n))
		out = append(out, ev)
	}
	return out
}

// outbox publishes events, keeping those that failed for the next try.
type outbox struct {
	c       *Collector
	pending []*eventv1.Event
}

// maxPending bounds the events kept while the bus is down (about a day of
// minute windows for a few hundred journeys); the oldest go first.
const maxPending = 100_000

func (o *outbox) send(ctx context.Context, evs []*eventv1.Event) error {
	o.pending = append(o.pending, evs...)
	if over := len(o.pending) - maxPending; over > 0 {
		o.c.log.Error("bus unavailable too long: dropping the oldest trace events", "events", over)
		o.count(o.pending[:over], "dropped")
		o.pending = slices.Delete(o.pending, 0, over)
	}
	for len(o.pending) > 0 {
		n := min(len(o.pending), 256)
		err := o.c.set.Publisher.Publish(ctx, o.pending[:n]...)
		if err != nil && bus.Refused(err) {
			// Sent again unchanged it would be refused again and hold the
			// queue for ever: find the events refused and drop them, loudly.
			if err := o.dropRefused(ctx, n); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			o.count(o.pending[:n], "failed")
			return err
		}
		o.count(o.pending[:n], "published")
		o.pending = o.pending[n:]
	}
	o.pending = nil
	return nil
}

// dropRefused publishes the first n pending events one by one and removes
// them from the queue, counting those the bus refused. A passing failure
// stops it with the rest still queued.
func (o *outbox) dropRefused(ctx context.Context, n int) error {
	for range n {
		ev := o.pending[0]
		err := o.c.set.Publisher.Publish(ctx, ev)
		switch {
		case err == nil:
			o.count(o.pending[:1], "published")
		case bus.Refused(err):
			o.c.log.Error("trace event refused by the bus; dropped", "event", ev.GetEnvelope().GetEventId(), "err", err)
			o.count(o.pending[:1], "refused")
		default:
			return err
		}
		o.pending = o.pending[1:]
	}
	return nil
}

func (o *outbox) count(evs []*eventv1.Event, outcome string) {
	for _, ev := range evs {
		o.c.metrics.published.WithLabelValues(events.KindName(ev.GetEnvelope().GetKind()), outcome).Inc()
	}
}
