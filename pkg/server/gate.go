package server

import (
	"context"
	"net/http"
	"sync"
)

// Gate lets ingest requests through until it is stopped; Stop then waits for
// the requests in flight, so evidence a client was told is accepted has been
// published before the bus closes.
type Gate struct {
	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup
}

// Name of the service.
func (g *Gate) Name() string { return "ingest" }

// Start opens the gate.
func (g *Gate) Start(context.Context) error {
	g.mu.Lock()
	g.closed = false
	g.mu.Unlock()
	return nil
}

// Wrap guards h: once the gate is closed new requests get 503 with Retry-After.
func (g *Gate) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		if g.closed {
			g.mu.Unlock()
			w.Header().Set("Retry-After", "5")
			http.Error(w, `{"error":"shutting down: send again to another replica or later"}`, http.StatusServiceUnavailable)
			return
		}
		g.inflight.Add(1)
		g.mu.Unlock()
		defer g.inflight.Done()
		h.ServeHTTP(w, r)
	})
}

// Stop closes the gate and waits for the requests in flight, or ctx.
func (g *Gate) Stop(ctx context.Context) error {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	done := make(chan struct{})
	go func() { g.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
