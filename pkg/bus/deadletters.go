package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DeadLetter is one message of the dead-letter stream.
type DeadLetter struct {
	// Sequence is its place in the dead-letter stream, what show and replay name.
	Sequence uint64    `json:"sequence"`
	At       time.Time `json:"at"`
	Consumer string    `json:"consumer"`
	// Subject is the subject the message was first published on, where a replay sends it.
	Subject string `json:"subject"`
	Reason  string `json:"reason"`
	// EventID is the original Nats-Msg-Id, the event id for evidence.
	EventID    string      `json:"event_id"`
	Deliveries uint64      `json:"deliveries"`
	Header     nats.Header `json:"header"`
	Data       []byte      `json:"-"`
}

func deadLetterOf(m *jetstream.RawStreamMsg) DeadLetter {
	h := m.Header
	n, _ := strconv.ParseUint(h.Get(HeaderDeadDelivery), 10, 64)
	return DeadLetter{
		Sequence: m.Sequence, At: m.Time, Consumer: strings.TrimPrefix(m.Subject, DeadLetterSubject("")),
		Subject: h.Get(HeaderDeadSubject), Reason: h.Get(HeaderDeadReason), EventID: originalID(h),
		Deliveries: n, Header: h, Data: m.Data,
	}
}

// HeaderDeadMsgID keeps a dead letter's original Nats-Msg-Id: the dead
// letter carries its own, so that one message is dead-lettered once.
const HeaderDeadMsgID = "Trilens-Dead-Msg-Id"

func originalID(h nats.Header) string {
	if id := h.Get(HeaderDeadMsgID); id != "" {
		return id
	}
	return h.Get(jetstream.MsgIDHeader)
}

// DeadLetters lists up to limit dead letters from sequence from on, of the
// consumer named (all when empty), oldest first.
func (b *Bus) DeadLetters(ctx context.Context, consumer string, from uint64, limit int) ([]DeadLetter, error) {
	st, err := b.js.Stream(ctx, StreamDeadLetter)
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream: %w", err)
	}
	subject := DeadLetterSubject(">")
	if consumer != "" {
		subject = DeadLetterSubject(consumer)
	}
	var out []DeadLetter
	for seq := max(from, 1); len(out) < limit; seq++ {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("dead letter after %d: %w", seq, err)
		}
		out = append(out, deadLetterOf(m))
		seq = m.Sequence
	}
	return out, nil
}

// DeadLetterAt reads the dead letter at seq.
func (b *Bus) DeadLetterAt(ctx context.Context, seq uint64) (DeadLetter, error) {
	st, err := b.js.Stream(ctx, StreamDeadLetter)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("dead-letter stream: %w", err)
	}
	m, err := st.GetMsg(ctx, seq)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	return deadLetterOf(m), nil
}

// Replay publishes the dead letter at seq again on its original subject,
// with its original headers (a claim check still names its body), then
// removes it from the dead-letter stream. Its message id is new, so
// JetStream does not drop it as a duplicate of the first publication; the
// scorer stores an event once by its event id whatever the message id.
func (b *Bus) Replay(ctx context.Context, seq uint64) (DeadLetter, error) {
	dl, err := b.DeadLetterAt(ctx, seq)
	if err != nil {
		return dl, err
	}
	if dl.Subject == "" {
		return dl, fmt.Errorf("dead letter %d names no original subject", seq)
	}
	m := nats.NewMsg(dl.Subject)
	m.Data = dl.Data
	for k, v := range dl.Header {
		if !strings.HasPrefix(k, "Trilens-Dead-") && k != jetstream.MsgIDHeader {
			m.Header[k] = v
		}
	}
	m.Header.Set(jetstream.MsgIDHeader, dl.EventID+"/replay/"+strconv.FormatUint(seq, 10))
	if _, err := b.js.PublishMsg(ctx, m); err != nil {
		return dl, fmt.Errorf("replay dead letter %d to %s: %w", seq, dl.Subject, err)
	}
	st, err := b.js.Stream(ctx, StreamDeadLetter)
	if err == nil {
		err = st.DeleteMsg(ctx, seq)
	}
	if err != nil {
		return dl, fmt.Errorf("dead letter %d replayed but not removed: %w", seq, err)
	}
	return dl, nil
}
