package chain

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/store"
)

// claimCheckHeader names the sha256 of a message whose body the publisher
// moved to the object store (a claim check); the message itself is empty.
const claimCheckHeader = "Trilens-Claim-Check"

// StreamCheck compares the log with the copies JetStream still retains.
type StreamCheck struct {
	// Retained is how many of the tenant's messages the stream holds.
	Retained int `json:"retained"`
	// Matched is how many of them the log holds with the same digest.
	Matched int `json:"matched"`
	// Differ names events whose stored message differs from JetStream's copy: a break.
	Differ []string `json:"differ,omitempty"`
	// Unlogged names events JetStream holds and the log does not: not yet
	// scored, dead-lettered, or deleted from the log.
	Unlogged []string `json:"unlogged,omitempty"`
}

// CompareStream reads every message of tenant the evidence stream retains
// (an ordered consumer, nothing acked) and compares its sha256 with the
// message digest the log stored for its event id.
func CompareStream(ctx context.Context, st *store.Store, js jetstream.JetStream, tenant string) (*StreamCheck, error) {
	logged := map[string]string{}
	err := Walk(ctx, st, tenant, func(e store.EvidenceLog) error {
		logged[e.EventID] = e.MessageSHA256
		return nil
	})
	if err != nil {
		return nil, err
	}
	cons, err := js.OrderedConsumer(ctx, bus.StreamEvidence, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"trilens.v1." + tenant + ".evidence.>"}, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return nil, fmt.Errorf("evidence stream: %w", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("evidence stream: %w", err)
	}
	res := &StreamCheck{}
	for pending := info.NumPending; pending > 0; pending-- {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) || errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("evidence stream: %w", err)
		}
		res.Retained++
		id := m.Headers().Get(jetstream.MsgIDHeader)
		sum := sha256.Sum256(m.Data())
		got := hex.EncodeToString(sum[:])
		if claim := m.Headers().Get(claimCheckHeader); claim != "" {
			got = claim // the body is in the object store, checked against this digest when redeemed
		}
		switch want, ok := logged[id]; {
		case !ok:
			res.Unlogged = append(res.Unlogged, id)
		case want != got:
			res.Differ = append(res.Differ, id)
		default:
			res.Matched++
		}
	}
	return res, nil
}
