package bus

import (
	"context"
	"io"

	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

// Publisher is what collectors need from the bus.
type Publisher interface {
	// Publish sends events and returns once JetStream has acknowledged every
	// one of them (or the first error). Each event's id is its Nats-Msg-Id.
	Publish(ctx context.Context, evs ...*eventv1.Event) error
	// PutDocument stores a whole document in the object store under its
	// sha256 (claim check) and returns the reference events carry.
	PutDocument(ctx context.Context, name, mediaType string, r io.Reader) (*eventv1.DocumentRef, error)
	// GetDocument opens a stored document by its sha256.
	GetDocument(ctx context.Context, sha256 string) (io.ReadCloser, error)
}
