package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// lagEvery is how often a running consumer measures its oldest unacknowledged message.
const lagEvery = 15 * time.Second

// OldestUnacked is the age of the oldest message the durable consumer has
// not acknowledged (delivered or not), 0 when it is caught up: evidence
// that old is not scored yet, and an age near the stream's MaxAge means
// it is about to expire unscored.
func (b *Bus) OldestUnacked(ctx context.Context, stream, durable string) (time.Duration, error) {
	at, pending, err := b.oldestUnackedAt(ctx, stream, durable)
	if err != nil || !pending {
		return 0, err
	}
	return max(time.Since(at), 0), nil
}

// oldestUnackedAt is when the oldest message durable has not acknowledged
// was stored; pending is false when it has acknowledged everything.
func (b *Bus) oldestUnackedAt(ctx context.Context, stream, durable string) (at time.Time, pending bool, err error) {
	cons, err := b.js.Consumer(ctx, stream, durable)
	if err != nil {
		return at, false, fmt.Errorf("consumer %s on %s: %w", durable, stream, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return at, false, fmt.Errorf("consumer %s info: %w", durable, err)
	}
	if info.NumPending+uint64(info.NumAckPending) == 0 {
		return at, false, nil
	}
	subject := ">"
	if f := info.Config.FilterSubjects; len(f) == 1 {
		subject = f[0]
	} else if info.Config.FilterSubject != "" {
		subject = info.Config.FilterSubject
	}
	st, err := b.js.Stream(ctx, stream)
	if err != nil {
		return at, false, fmt.Errorf("stream %s: %w", stream, err)
	}
	m, err := st.GetMsg(ctx, info.AckFloor.Stream+1, jetstream.WithGetMsgSubject(subject))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return at, false, nil
	}
	if err != nil {
		return at, false, fmt.Errorf("oldest unacknowledged message of %s: %w", durable, err)
	}
	return m.Time, true, nil
}

// watchLag updates m's oldest-unacknowledged gauge until ctx ends.
func (b *Bus) watchLag(ctx context.Context, spec ConsumerSpec, m *ConsumerMetrics) {
	if m == nil {
		return
	}
	t := time.NewTicker(lagEvery)
	defer t.Stop()
	for {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		age, err := b.OldestUnacked(qctx, spec.Stream, spec.Durable)
		cancel()
		if err == nil {
			m.oldest.Set(age.Seconds())
		} else if ctx.Err() == nil {
			b.log.Warn("measure consumer lag", "consumer", spec.Durable, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
