package server

import (
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Router is what a service registers its routes on. *http.ServeMux is one;
// *Routes is one that also remembers every pattern, so tests can prove
// that no registered route escapes the auth guard.
type Router interface {
	Handle(pattern string, h http.Handler)
	HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request))
}

// Routes is an http.ServeMux that records the patterns registered on it.
type Routes struct {
	*http.ServeMux
	mu       sync.Mutex
	patterns []string
}

// NewRoutes is an empty recording mux.
func NewRoutes() *Routes { return &Routes{ServeMux: http.NewServeMux()} }

// Handle registers h and records pattern.
func (r *Routes) Handle(pattern string, h http.Handler) {
	r.record(pattern)
	r.ServeMux.Handle(pattern, h)
}

// HandleFunc registers h and records pattern.
func (r *Routes) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	r.record(pattern)
	r.ServeMux.HandleFunc(pattern, h)
}

func (r *Routes) record(pattern string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.patterns = append(r.patterns, pattern)
}

// Patterns lists every registered pattern, sorted.
func (r *Routes) Patterns() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(slices.Values(r.patterns))
}

// StallGuard cuts a request whose body pauses longer than stall: before
// each read of the body the connection's read deadline moves to now+stall,
// so a client that stops sending frees its handler (and any ingest slot)
// within stall, while a slow but steady upload of any size goes on.
func StallGuard(h http.Handler, stall time.Duration) http.Handler {
	if stall <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			// Headers are read: until the handler reads the body, no deadline.
			_ = rc.SetReadDeadline(time.Time{})
			r.Body = &stallReader{body: r.Body, rc: rc, stall: stall}
		}
		h.ServeHTTP(w, r)
	})
}

type stallReader struct {
	body  io.ReadCloser
	rc    *http.ResponseController
	stall time.Duration
}

func (s *stallReader) Read(p []byte) (int, error) {
	_ = s.rc.SetReadDeadline(time.Now().Add(s.stall))
	return s.body.Read(p)
}

func (s *stallReader) Close() error { return s.body.Close() }
