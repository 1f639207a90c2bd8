package bus

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

// PutDocument stores a document in the object store under its sha256 and
// returns the reference events carry. The body is spooled to a temporary
// file while it is hashed, so a large document is never held in memory; a
// document already stored is not stored again.
func (b *Bus) PutDocument(ctx context.Context, name, mediaType string, r io.Reader) (*eventv1.DocumentRef, error) {
	f, err := os.CreateTemp("", "trilens-doc-*")
	if err != nil {
		return nil, fmt.Errorf("spool document: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(io.MultiWriter(f, h), r)
	if err != nil {
		return nil, fmt.Errorf("read document: %w", err)
	}
	ref := &eventv1.DocumentRef{Sha256: hex.EncodeToString(h.Sum(nil)), Size: size, MediaType: mediaType, Name: name}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return ref, b.PutDocumentFile(ctx, ref, f)
}

// HeaderTenant names, on a stored document, the tenant that first stored it.
const HeaderTenant = "Trilens-Tenant"

// PutDocumentFile stores r, whose sha256 and size ref already gives. Under
// WithTenant a new document counts against the tenant's DocumentQuota and
// is refused with a *QuotaError past it; a document already stored is not
// stored nor counted again, but its retention restarts.
func (b *Bus) PutDocumentFile(ctx context.Context, ref *eventv1.DocumentRef, r io.Reader) error {
	store, err := b.js.ObjectStore(ctx, DocumentBucket)
	if err != nil {
		return fmt.Errorf("object store %s: %w", DocumentBucket, err)
	}
	if info, err := store.GetInfo(ctx, ref.GetSha256()); err == nil {
		// Stored again, needed again: its retention (SweepDocuments, by
		// the time of its metadata) starts anew.
		if err := store.UpdateMeta(ctx, info.Name, info.ObjectMeta); err != nil {
			return fmt.Errorf("refresh document %s: %w", ref.GetSha256(), err)
		}
		return nil
	} else if !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("look up document %s: %w", ref.GetSha256(), err)
	}
	tenant := tenantOf(ctx)
	if tenant != "" {
		if err := b.addUsage(ctx, tenant, ref.GetSize(), b.cfg.DocumentQuota); err != nil {
			return err
		}
	}
	meta := jetstream.ObjectMeta{Name: ref.GetSha256(), Description: ref.GetName()}
	if tenant != "" {
		meta.Headers = nats.Header{HeaderTenant: []string{tenant}}
	}
	if _, err := store.Put(ctx, meta, r); err != nil {
		if tenant != "" {
			_ = b.addUsage(context.WithoutCancel(ctx), tenant, -ref.GetSize(), 0)
		}
		return fmt.Errorf("store document %s (%d bytes): %w", ref.GetSha256(), ref.GetSize(), err)
	}
	return nil
}

// GetDocument opens a stored document by its sha256.
func (b *Bus) GetDocument(ctx context.Context, sha string) (io.ReadCloser, error) {
	store, err := b.js.ObjectStore(ctx, DocumentBucket)
	if err != nil {
		return nil, fmt.Errorf("object store %s: %w", DocumentBucket, err)
	}
	r, err := store.Get(ctx, sha)
	if err != nil {
		return nil, fmt.Errorf("document %s: %w", sha, err)
	}
	return r, nil
}
