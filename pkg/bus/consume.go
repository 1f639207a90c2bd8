package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/trilens/trilens/pkg/events"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"google.golang.org/protobuf/proto"
)

// Headers of a dead letter.
const (
	HeaderDeadReason   = "Trilens-Dead-Reason"
	HeaderDeadSubject  = "Trilens-Dead-Subject"
	HeaderDeadSequence = "Trilens-Dead-Stream-Sequence"
	HeaderDeadDelivery = "Trilens-Dead-Deliveries"
)

// ConsumerSpec declares a durable pull consumer. Several replicas of a
// service share one durable consumer to scale out.
type ConsumerSpec struct {
	Stream         string
	Durable        string
	FilterSubjects []string
	// AckWait is how long a delivered message may stay unacknowledged before
	// it is delivered again. Batches that take longer keep theirs alive with
	// progress signals, so it can stay short and a crashed replica's messages
	// come back soon.
	AckWait time.Duration
	// MaxDeliver is how often a message is tried before it is dead-lettered,
	// whatever the error.
	MaxDeliver int
	// MaxAge bounds how long a failing message is retried, counted from when
	// the stream stored it, whatever the error: past it, it is dead-lettered.
	// A store outage holds messages in place without spending their
	// deliveries (see BatchOptions.Healthy), so MaxAge is what bounds that.
	MaxAge time.Duration
	// MaxAckPending bounds the messages handed out and not yet acknowledged.
	MaxAckPending int
}

// BatchOptions shape the batches handed to a Handler.
type BatchOptions struct {
	// MaxRows flushes a batch once its events hold this many rows.
	MaxRows int
	// MaxMessages flushes a batch once it holds this many messages.
	MaxMessages int
	// MaxWait flushes a non-empty batch this long after its first message.
	MaxWait time.Duration
	// Rows counts the rows an event adds; nil counts one per event.
	Rows func(*eventv1.Event) int
	// DrainTimeout bounds the flush of the last batch after the run context ends.
	DrainTimeout time.Duration
	// Metrics, when set, counts what the consumer does.
	Metrics *ConsumerMetrics
	// Healthy, when set, tells an outage of the store (not the messages'
	// fault: the batch is retried in place, its deliveries not spent) from
	// messages that fail on a healthy store. nil takes every failure as the
	// messages'.
	Healthy func(context.Context) error
	// Attempts is how often a failing batch is tried in place on a healthy
	// store before it is split to find the messages that fail.
	Attempts int
}

func (s ConsumerSpec) withDefaults() ConsumerSpec {
	if s.AckWait == 0 {
		s.AckWait = 30 * time.Second
	}
	if s.MaxDeliver == 0 {
		s.MaxDeliver = 10
	}
	if s.MaxAge == 0 {
		s.MaxAge = 24 * time.Hour
	}
	if s.MaxAckPending == 0 {
		s.MaxAckPending = 200_000
	}
	return s
}

func (o BatchOptions) withDefaults() BatchOptions {
	if o.MaxRows == 0 {
		o.MaxRows = 50_000
	}
	if o.MaxMessages == 0 {
		o.MaxMessages = 50_000
	}
	if o.MaxWait == 0 {
		o.MaxWait = time.Second
	}
	if o.Rows == nil {
		o.Rows = func(*eventv1.Event) int { return 1 }
	}
	if o.Attempts == 0 {
		o.Attempts = 3
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 30 * time.Second
	}
	return o
}

// Delivery is one decoded message.
type Delivery struct {
	Event   *eventv1.Event
	Data    []byte
	Subject string
	// Delivered counts deliveries of this message, this one included.
	Delivered uint64
	// Stored is when the stream stored the message.
	Stored time.Time
	msg    jetstream.Msg
	seq    uint64
	flight *inFlight
}

// done lets the consumer forget d: acked, or handed back / dead-lettered.
func (d Delivery) done(acked bool) {
	if d.flight != nil {
		d.flight.release(d.seq, acked)
	}
}

// Handler stores a batch. nil acks every message. An error marked with
// Permanent makes the consumer split the batch to find the messages that
// fail and dead-letter them. Any other error is taken as passing: while
// BatchOptions.Healthy fails (the database is restarting) the batch is
// retried in place with backoff, its messages kept alive; on a healthy
// store it is tried Attempts times, then split, and each message that still
// fails is handed back with a delay, so it goes behind the others and costs
// one delivery, until MaxDeliver or MaxAge dead-letters it. No error class
// keeps a message for ever or holds up the messages behind it.
type Handler func(ctx context.Context, batch []Delivery) error

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying will not cure.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent tells whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Consume runs a durable consumer until ctx ends, handing batches to h: one
// goroutine fetches and decodes while another stores and acks, so the next
// batch fills while the last one is written. When ctx ends it stops fetching,
// hands the messages already fetched to h, and returns once they are stored
// (or DrainTimeout has passed; what is left unacknowledged is delivered again).
func (b *Bus) Consume(ctx context.Context, spec ConsumerSpec, opts BatchOptions, h Handler) error {
	spec, opts = spec.withDefaults(), opts.withDefaults()
	// A message must be stored or dead-lettered before the stream's age
	// limit deletes it unseen.
	if st, err := b.js.Stream(ctx, spec.Stream); err == nil {
		if limit := st.CachedInfo().Config.MaxAge; limit > 0 && spec.MaxAge >= limit {
			return fmt.Errorf("consumer %s: max age %s must stay below stream %s's %s", spec.Durable, spec.MaxAge, spec.Stream, limit)
		}
	}
	cons, err := b.js.CreateOrUpdateConsumer(ctx, spec.Stream, jetstream.ConsumerConfig{
		Durable:        spec.Durable,
		FilterSubjects: spec.FilterSubjects,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        spec.AckWait,
		MaxAckPending:  spec.MaxAckPending,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("consumer %s on %s: %w", spec.Durable, spec.Stream, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(min(1000, spec.MaxAckPending)))
	if err != nil {
		return fmt.Errorf("consume %s: %w", spec.Durable, err)
	}
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			it.Drain()
		case <-stopped:
		}
	}()
	defer close(stopped)
	lagCtx, stopLag := context.WithCancel(ctx)
	lagDone := make(chan struct{})
	go func() { defer close(lagDone); b.watchLag(lagCtx, spec, opts.Metrics) }()
	defer func() { stopLag(); <-lagDone }()

	flushCtx, cancelFlush := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelFlush()
	// A batch is kept alive from when it is handed over, so one queued
	// behind a slow flush does not come back while it waits.
	type queued struct {
		batch []Delivery
		stop  func()
	}
	batches := make(chan queued, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for q := range batches {
			b.flush(flushCtx, spec, opts, h, q.batch)
			q.stop()
		}
	}()

	flight := newInFlight()
	var batch []Delivery
	rows := 0
	var first time.Time
	send := func() {
		if len(batch) > 0 {
			batches <- queued{batch, keepAlive(batch, spec.AckWait/3)}
		}
		batch, rows = nil, 0
	}
	for {
		wait := opts.MaxWait
		if len(batch) > 0 {
			wait = max(time.Until(first.Add(opts.MaxWait)), time.Millisecond)
		}
		msg, err := it.Next(jetstream.NextMaxWait(wait))
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				break
			}
			if !errors.Is(err, nats.ErrTimeout) {
				b.log.Warn("consumer fetch", "consumer", spec.Durable, "err", err)
			}
			if len(batch) > 0 && time.Since(first) >= opts.MaxWait {
				send()
			}
			continue
		}
		d, reason, err := b.decode(ctx, msg)
		switch flight.take(d.seq) {
		case copyOfHeld:
			continue // the held one is acknowledged or handed back
		case copyOfAcked:
			// Its ack was lost (sent as the server went away, or dropped
			// with a full reconnect buffer): ack the copy, or it comes
			// back every AckWait, spending deliveries, until a consumer
			// that forgot it dead-letters a stored message.
			_ = msg.Ack()
			continue
		}
		if err != nil {
			b.log.Warn("message not readable yet; handed back", "consumer", spec.Durable, "err", err)
			_ = msg.NakWithDelay(retryDelay(d.Delivered))
			flight.release(d.seq, false)
			continue
		}
		// Deliveries are spent without the message being tried (copies
		// while a batch is held, pulled messages the client dropped as a
		// slow consumer, a killed replica's stored but unacked batch), so a
		// spent count alone only sends the message to be tried once more:
		// giveUp dead-letters it if that fails. Its age bounds a message
		// that kills every replica that tries it.
		if reason == "" && d.Delivered > uint64(spec.MaxDeliver) && time.Since(d.Stored) > spec.MaxAge {
			reason = fmt.Sprintf("delivered %d times and not stored within %s of its publication", d.Delivered-1, spec.MaxAge)
		}
		if reason != "" {
			b.deadLetter(ctx, spec, opts.Metrics, msg, reason)
			flight.release(d.seq, false)
			continue
		}
		d.flight = flight
		opts.Metrics.delivered()
		if len(batch) == 0 {
			first = time.Now()
		}
		batch = append(batch, d)
		rows += opts.Rows(d.Event)
		if rows >= opts.MaxRows || len(batch) >= opts.MaxMessages || time.Since(first) >= opts.MaxWait {
			send()
		}
	}
	send()
	close(batches)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(opts.DrainTimeout):
		cancelFlush()
		<-done
	}
	return nil
}

// decode turns a message into a Delivery, or says why it never will
// (reason), or why it cannot yet (err: its claim check is out of reach).
func (b *Bus) decode(ctx context.Context, msg jetstream.Msg) (Delivery, string, error) {
	d := Delivery{Data: msg.Data(), Subject: msg.Subject(), msg: msg, Delivered: 1, Stored: time.Now()}
	if md, err := msg.Metadata(); err == nil {
		d.Delivered, d.Stored, d.seq = md.NumDelivered, md.Timestamp, md.Sequence.Stream
	}
	if t := msg.Headers().Get(events.HeaderType); t != "" && t != events.MessageType {
		return d, fmt.Sprintf("message type %q, want %q", t, events.MessageType), nil
	}
	if sha := msg.Headers().Get(HeaderClaimCheck); sha != "" {
		data, err := b.redeem(ctx, sha)
		switch {
		case errors.Is(err, jetstream.ErrObjectNotFound), errors.Is(err, errClaimMismatch):
			return d, "claim check: " + err.Error(), nil
		case err != nil:
			return d, "", err
		}
		d.Data = data
	}
	ev := &eventv1.Event{}
	if err := proto.Unmarshal(d.Data, ev); err != nil {
		return d, "undecodable protobuf: " + err.Error(), nil
	}
	if err := events.Validate(ev); err != nil {
		return d, "invalid event: " + err.Error(), nil
	}
	d.Event = ev
	return d, "", nil
}

// flush stores a batch with h and acks it; see Handler for the error rules.
// The caller keeps the batch alive meanwhile.
func (b *Bus) flush(ctx context.Context, spec ConsumerSpec, opts BatchOptions, h Handler, batch []Delivery) {
	start := time.Now()
	err := b.retryBatch(ctx, spec, opts, h, batch)
	switch {
	case err == nil:
		ack(batch, opts.Metrics, time.Since(start))
	case !IsPermanent(err) && ctx.Err() != nil:
		// Stopping before the store came back: hand the messages back now
		// rather than after AckWait.
		for _, d := range batch {
			_ = d.msg.Nak()
			d.done(false)
		}
	default:
		b.log.Warn("batch failed; splitting it to find the messages that fail", "consumer", spec.Durable, "messages", len(batch), "err", err)
		b.isolate(ctx, spec, opts, h, batch, err)
	}
}

func ack(batch []Delivery, m *ConsumerMetrics, took time.Duration) {
	for _, d := range batch {
		_ = d.msg.Ack()
		d.done(true)
	}
	m.flushed(len(batch), took)
}

// retryBatch runs h until it succeeds, fails permanently, fails Attempts
// times on a healthy store, outlives the batch's MaxAge, or ctx ends.
func (b *Bus) retryBatch(ctx context.Context, spec ConsumerSpec, opts BatchOptions, h Handler, batch []Delivery) error {
	backoff := 100 * time.Millisecond
	failures := 0
	for {
		err := h(ctx, batch)
		if err == nil || IsPermanent(err) {
			return err
		}
		outage := opts.Healthy != nil && opts.Healthy(ctx) != nil
		if !outage {
			failures++
		}
		if failures >= opts.Attempts || time.Since(oldest(batch)) > spec.MaxAge {
			return err
		}
		b.log.Warn("store failed; retrying", "consumer", spec.Durable, "outage", outage, "failures", failures, "backoff", backoff, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func oldest(batch []Delivery) time.Time {
	t := batch[0].Stored
	for _, d := range batch[1:] {
		if d.Stored.Before(t) {
			t = d.Stored
		}
	}
	return t
}

// isolate splits a batch that failed with err in halves until the messages
// that fail are alone, acks the rest, and gives up on each culprit.
func (b *Bus) isolate(ctx context.Context, spec ConsumerSpec, opts BatchOptions, h Handler, batch []Delivery, err error) {
	if len(batch) == 1 {
		b.giveUp(ctx, spec, opts, batch[0], err)
		return
	}
	mid := len(batch) / 2
	for _, half := range [][]Delivery{batch[:mid], batch[mid:]} {
		start := time.Now()
		err := h(ctx, half)
		if err != nil && !IsPermanent(err) && opts.Healthy != nil && opts.Healthy(ctx) != nil {
			// The store went down mid-split: wait it out in place, as
			// retryBatch does, rather than hand every message back one by
			// one, each spending a delivery the outage is not its fault of.
			err = b.retryBatch(ctx, spec, opts, h, half)
		}
		switch {
		case err == nil:
			ack(half, opts.Metrics, time.Since(start))
		case !IsPermanent(err) && ctx.Err() != nil:
			for _, d := range half {
				_ = d.msg.Nak()
				d.done(false)
			}
		default:
			b.isolate(ctx, spec, opts, h, half, err)
		}
	}
}

// giveUp dead-letters a message that failed alone with err when the failure
// is permanent or its deliveries or age are spent, and otherwise hands it
// back with a delay, behind the messages that follow it.
func (b *Bus) giveUp(ctx context.Context, spec ConsumerSpec, opts BatchOptions, d Delivery, err error) {
	defer d.done(false)
	switch age := time.Since(d.Stored); {
	case IsPermanent(err):
		b.deadLetter(ctx, spec, opts.Metrics, d.msg, err.Error())
	case d.Delivered >= uint64(spec.MaxDeliver):
		b.deadLetter(ctx, spec, opts.Metrics, d.msg, fmt.Sprintf("failed on each of %d deliveries: %v", d.Delivered, err))
	case age > spec.MaxAge:
		b.deadLetter(ctx, spec, opts.Metrics, d.msg, fmt.Sprintf("not stored within %s of its publication: %v", spec.MaxAge, err))
	default:
		opts.Metrics.retried()
		_ = d.msg.NakWithDelay(retryDelay(d.Delivered))
	}
}

// retryDelay grows with the deliveries a message has had: 1 s, 2 s, 4 s… up to a minute.
func retryDelay(delivered uint64) time.Duration {
	return min(time.Second<<min(max(delivered, 1)-1, 6), time.Minute)
}

// keepAlive tells the server every interval that the batch is still being
// worked on, so AckWait does not expire under a slow flush.
func keepAlive(batch []Delivery, every time.Duration) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, d := range batch {
					_ = d.msg.InProgress()
				}
			}
		}
	}()
	return func() { close(done) }
}

// deadLetter moves msg to the dead-letter stream with the reason, then
// terminates it so it is never delivered again. If the dead letter cannot be
// stored, the message is handed back instead: nothing is dropped.
func (b *Bus) deadLetter(ctx context.Context, spec ConsumerSpec, m *ConsumerMetrics, msg jetstream.Msg, reason string) {
	dl := nats.NewMsg(DeadLetterSubject(spec.Durable))
	dl.Data = msg.Data()
	for k, v := range msg.Headers() {
		dl.Header[k] = v
	}
	var seq, delivered uint64
	if md, err := msg.Metadata(); err == nil {
		seq, delivered = md.Sequence.Stream, md.NumDelivered
	}
	dl.Header.Set(HeaderDeadMsgID, msg.Headers().Get(jetstream.MsgIDHeader))
	dl.Header.Set(jetstream.MsgIDHeader, spec.Stream+"."+spec.Durable+"."+strconv.FormatUint(seq, 10))
	dl.Header.Set(HeaderDeadReason, reason)
	dl.Header.Set(HeaderDeadSubject, msg.Subject())
	dl.Header.Set(HeaderDeadSequence, strconv.FormatUint(seq, 10))
	dl.Header.Set(HeaderDeadDelivery, strconv.FormatUint(delivered, 10))
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := b.js.PublishMsg(pctx, dl); err != nil {
		b.log.Error("dead letter not stored; message handed back", "consumer", spec.Durable, "seq", seq, "err", err)
		_ = msg.NakWithDelay(5 * time.Second)
		return
	}
	b.log.Warn("message dead-lettered", "consumer", spec.Durable, "seq", seq, "reason", reason)
	m.deadLettered()
	_ = msg.TermWithReason(reason)
}
