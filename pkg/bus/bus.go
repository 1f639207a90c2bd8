package bus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/trilens/trilens/pkg/events"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"google.golang.org/protobuf/proto"
)

// maxPendingPublishes bounds the asynchronous publishes in flight; past it
// PublishMsgAsync stalls, which is how a fast collector is slowed to the
// pace JetStream can take.
const maxPendingPublishes = 4096

// Bus is a connection to JetStream.
type Bus struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	cfg Config
	log *slog.Logger
}

// InboxPrefix is the reply subject prefix of the NATS user name: its
// permissions allow subscribing to InboxPrefix(name)+".>" and no other inbox.
func InboxPrefix(user string) string { return "_INBOX_" + user }

// Connect dials cfg.URL.
func Connect(ctx context.Context, cfg Config, log *slog.Logger, opts ...nats.Option) (*Bus, error) {
	if log == nil {
		log = slog.Default()
	}
	opts = append([]nats.Option{
		nats.Name("trilens"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		// Asynchronous errors (a permission refused, a slow consumer dropping
		// messages that come back after AckWait) go to our log, not stderr.
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("nats", "subject", subject, "err", err)
		}),
	}, opts...)
	shown := cfg.URL
	if u, err := url.Parse(cfg.URL); err == nil {
		shown = u.Redacted()
		// Replies (JetStream acks, pulled messages) go to an inbox only this
		// NATS user may subscribe to: with the shared _INBOX.> one user could
		// read the messages pulled by another (deploy/nats/nats.conf).
		if name := u.User.Username(); name != "" {
			opts = append(opts, nats.CustomInboxPrefix(InboxPrefix(name)))
		}
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", shown, err)
	}
	return New(nc, cfg, log)
}

// New wraps an open connection (for example an in-process one); Close closes it.
func New(nc *nats.Conn, cfg Config, log *slog.Logger) (*Bus, error) {
	if log == nil {
		log = slog.Default()
	}
	opts := []jetstream.JetStreamOpt{jetstream.WithPublishAsyncMaxPending(maxPendingPublishes)}
	if cfg.PublishAckWait > 0 {
		// Without it an ack that never comes keeps its slot for good: the
		// batch waits out PublishTimeout with no retry, and enough lost acks
		// stall every later publish.
		opts = append(opts, jetstream.WithPublishAsyncTimeout(cfg.PublishAckWait))
	}
	js, err := jetstream.New(nc, opts...)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Bus{nc: nc, js: js, cfg: cfg, log: log}, nil
}

// JetStream exposes the client for tests and tools.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// errInsufficientResources is nats-server's JSInsufficientResourcesErr: the
// server cannot reserve a stream's MaxBytes in its store.
const errInsufficientResources jetstream.ErrorCode = 10047

// Provision creates or updates every stream and the document bucket. It is
// idempotent, so every replica of every service may call it at start.
func (b *Bus) Provision(ctx context.Context) error {
	for _, sc := range b.cfg.Streams() {
		if _, err := b.js.CreateOrUpdateStream(ctx, sc); err != nil {
			if apiErr := (*jetstream.APIError)(nil); sc.MaxBytes > 0 && errors.As(err, &apiErr) && apiErr.ErrorCode == errInsufficientResources {
				return fmt.Errorf("provision stream %s: the NATS server cannot reserve its bound of %d bytes (--bus.evidence-max-bytes): "+
					"lower it, or give JetStream more room (--nats.max-store for the embedded server, max_file_store in nats.conf): %w", sc.Name, sc.MaxBytes, err)
			}
			return fmt.Errorf("provision stream %s: %w", sc.Name, err)
		}
	}
	if _, err := b.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      DocumentBucket,
		Description: "whole evidence documents by sha256",
		Storage:     jetstream.FileStorage,
		Replicas:    b.cfg.Replicas,
		Placement:   b.cfg.placement(),
	}); err != nil {
		return fmt.Errorf("provision object store %s: %w", DocumentBucket, err)
	}
	if _, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      DocumentUsageBucket,
		Description: "document bytes stored per tenant, checked against the document quota",
		Storage:     jetstream.FileStorage,
		Replicas:    b.cfg.Replicas,
	}); err != nil {
		return fmt.Errorf("provision key-value bucket %s: %w", DocumentUsageBucket, err)
	}
	return nil
}

// Ready reports whether the connection is up.
func (b *Bus) Ready(context.Context) error {
	if st := b.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("nats connection is %s", st)
	}
	return nil
}

// Close drains the connection and waits until it is closed (at most
// drainTimeout): pending publishes and acks are flushed before whatever the
// caller stops next, such as the embedded server. Safe twice.
func (b *Bus) Close() error {
	if b == nil || b.nc.IsClosed() {
		return nil
	}
	if err := b.nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionDraining) {
		return err
	}
	for deadline := time.Now().Add(drainTimeout); !b.nc.IsClosed(); {
		if time.Now().After(deadline) {
			b.nc.Close()
			return fmt.Errorf("nats drain did not finish within %s", drainTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// drainTimeout bounds Close's wait for the connection's drain.
const drainTimeout = 10 * time.Second

type traceparentKey struct{}

// WithTraceparent makes the messages published under ctx carry tp.
func WithTraceparent(ctx context.Context, tp string) context.Context {
	return context.WithValue(ctx, traceparentKey{}, tp)
}

// traceparent is the W3C trace context of ctx, or a new root one.
func traceparent(ctx context.Context) string {
	if tp, ok := ctx.Value(traceparentKey{}).(string); ok && tp != "" {
		return tp
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "00-" + hex.EncodeToString(b[:16]) + "-" + hex.EncodeToString(b[16:]) + "-01"
}

// Message builds the NATS message of an event with its three headers.
func Message(ctx context.Context, ev *eventv1.Event) (*nats.Msg, error) {
	if err := events.Validate(ev); err != nil {
		return nil, err
	}
	data, err := proto.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("marshal event %s: %w", ev.GetEnvelope().GetEventId(), err)
	}
	m := nats.NewMsg(events.Subject(ev))
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, ev.GetEnvelope().GetEventId())
	m.Header.Set(events.HeaderType, events.MessageType)
	m.Header.Set(events.HeaderTraceparent, traceparent(ctx))
	return m, nil
}

// Publish sends the events and waits until JetStream has stored every one
// (a duplicate id counts as stored). An event over the payload limit is
// stored in the object store and published by reference (claim check). Publishes that fail for a passing reason
// (no responders during a leader change, a timeout) are retried with backoff
// until ctx or the publish timeout ends.
func (b *Bus) Publish(ctx context.Context, evs ...*eventv1.Event) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.PublishTimeout)
	defer cancel()
	tp := traceparent(ctx)
	ctx = WithTraceparent(ctx, tp)
	pending := make([]*nats.Msg, 0, len(evs))
	for _, ev := range evs {
		m, err := Message(ctx, ev)
		if err != nil {
			return err
		}
		if err := b.claim(ctx, m); err != nil {
			return err
		}
		pending = append(pending, m)
	}
	backoff := 50 * time.Millisecond
	for attempt := 0; len(pending) > 0; attempt++ {
		failed, err := b.publishOnce(ctx, pending)
		if len(failed) == 0 {
			return nil
		}
		if !retryable(err) {
			return fmt.Errorf("publish %s: %w", failed[0].Header.Get(jetstream.MsgIDHeader), err)
		}
		b.log.Warn("publish retry", "messages", len(failed), "attempt", attempt+1, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("publish %d messages: %w (last error: %v)", len(failed), ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
		pending = failed
	}
	return nil
}

// publishOnce publishes msgs asynchronously and returns those that failed,
// with the first error.
func (b *Bus) publishOnce(ctx context.Context, msgs []*nats.Msg) ([]*nats.Msg, error) {
	type inflight struct {
		m *nats.Msg
		f jetstream.PubAckFuture
	}
	var failed []*nats.Msg
	var firstErr error
	fail := func(m *nats.Msg, err error) {
		failed = append(failed, m)
		if firstErr == nil {
			firstErr = err
		}
	}
	futures := make([]inflight, 0, len(msgs))
	for _, m := range msgs {
		f, err := b.js.PublishMsgAsync(m, jetstream.WithStallWait(b.cfg.PublishTimeout))
		if err != nil {
			fail(m, err)
			continue
		}
		futures = append(futures, inflight{m, f})
	}
	for _, in := range futures {
		select {
		case <-in.f.Ok():
		case err := <-in.f.Err():
			// Resent messages are published anew: the future keeps the old reply inbox.
			fail(copyMsg(in.m), err)
		case <-ctx.Done():
			fail(copyMsg(in.m), ctx.Err())
		}
	}
	return failed, firstErr
}

func copyMsg(m *nats.Msg) *nats.Msg {
	c := nats.NewMsg(m.Subject)
	c.Data = m.Data
	for k, v := range m.Header {
		c.Header[k] = v
	}
	return c
}

// Refused tells whether a publish failed because JetStream or the server
// refused the message: publishing it again unchanged will fail again.
func Refused(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) || errors.Is(err, nats.ErrMaxPayload)
}

// retryable tells passing failures from refusals: when JetStream itself
// answers (the stream is missing or full, the message is refused), trying
// again will not help; lost responders, timeouts, reconnects and a write
// to a server that just went down (the client reconnects to another) pass.
func retryable(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return false
	}
	var netErr *net.OpError
	return errors.As(err, &netErr) || errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, jetstream.ErrTooManyStalledMsgs) || errors.Is(err, jetstream.ErrAsyncPublishTimeout) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrDisconnected)
}
