package bus

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

// HeaderClaimCheck names the sha256 under which the document bucket holds
// the body of a message too large to publish; the message itself is empty.
const HeaderClaimCheck = "Trilens-Claim-Check"

// claimHeadroom is kept under the server's payload limit for headers.
const claimHeadroom = 32 << 10

var errClaimMismatch = errors.New("stored body does not match its digest")

// claimLimit is the largest body published inline.
func (b *Bus) claimLimit() int {
	return int(b.nc.MaxPayload()) - claimHeadroom
}

// claim moves the body of m to the object store when it is over the payload
// limit, leaving its digest in a header: such an event is published by
// reference rather than refused or retried for ever.
func (b *Bus) claim(ctx context.Context, m *nats.Msg) error {
	if len(m.Data) <= b.claimLimit() {
		return nil
	}
	sum := sha256.Sum256(m.Data)
	ref := &eventv1.DocumentRef{Sha256: hex.EncodeToString(sum[:]), Size: int64(len(m.Data)),
		MediaType: "application/protobuf", Name: "event " + m.Header.Get(jetstream.MsgIDHeader)}
	if err := b.PutDocumentFile(ctx, ref, bytes.NewReader(m.Data)); err != nil {
		return fmt.Errorf("claim check of %s (%d bytes): %w", ref.GetName(), len(m.Data), err)
	}
	m.Data = nil
	m.Header.Set(HeaderClaimCheck, ref.GetSha256())
	return nil
}

// redeem reads the body a claim check names and checks its digest.
func (b *Bus) redeem(ctx context.Context, sha string) ([]byte, error) {
	r, err := b.GetDocument(ctx, sha)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read claim %s: %w", sha, err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != sha {
		return nil, fmt.Errorf("%s: %w", sha, errClaimMismatch)
	}
	return data, nil
}
