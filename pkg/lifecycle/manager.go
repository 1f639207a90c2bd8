package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// Manager starts services in the order given (dependencies first, sources
// last) and stops them in reverse, so sources stop taking input before the
// parts they feed are drained.
type Manager struct {
	log      *slog.Logger
	services []Service

	mu       sync.Mutex
	started  []Service
	stopping bool
}

// NewManager manages services in dependency order.
func NewManager(log *slog.Logger, services ...Service) *Manager {
	return &Manager{log: log, services: services}
}

// Services lists the managed services in start order.
func (m *Manager) Services() []Service { return m.services }

// Start starts every service in order. If one fails, those already started
// are stopped and the error names the one that failed.
func (m *Manager) Start(ctx context.Context) error {
	for _, s := range m.services {
		m.log.Info("starting", "service", s.Name())
		if err := s.Start(ctx); err != nil {
			err = fmt.Errorf("start %s: %w", s.Name(), err)
			return errors.Join(err, m.Stop(context.WithoutCancel(ctx)))
		}
		m.mu.Lock()
		m.started = append(m.started, s)
		m.mu.Unlock()
	}
	return nil
}

// Stop stops the started services in reverse order; every one is stopped
// even when an earlier one fails. Safe to call twice.
func (m *Manager) Stop(ctx context.Context) error {
	m.mu.Lock()
	m.stopping = true
	started := m.started
	m.started = nil
	m.mu.Unlock()
	var errs []error
	for i := len(started) - 1; i >= 0; i-- {
		s := started[i]
		m.log.Info("stopping", "service", s.Name())
		if err := s.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", s.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// Ready is nil when every service is started and every Checker is ready;
// during shutdown it is an error, so load balancers move away first.
func (m *Manager) Ready(ctx context.Context) error {
	m.mu.Lock()
	stopping, n := m.stopping, len(m.started)
	m.mu.Unlock()
	if stopping {
		return errors.New("shutting down")
	}
	if n < len(m.services) {
		return fmt.Errorf("%d of %d services started", n, len(m.services))
	}
	var errs []error
	for _, s := range m.services {
		if c, ok := s.(Checker); ok {
			if err := c.Ready(ctx); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.Name(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// State is one service's name and whether it runs.
type State struct {
	Name  string `json:"name"`
	State string `json:"state"`
	Error string `json:"error,omitempty"`
}

// States lists every service in start order with its state: new,
// running or stopping, and the readiness error of a running one.
func (m *Manager) States(ctx context.Context) []State {
	m.mu.Lock()
	started := map[string]bool{}
	for _, s := range m.started {
		started[s.Name()] = true
	}
	stopping := m.stopping
	m.mu.Unlock()
	out := make([]State, 0, len(m.services))
	for _, s := range m.services {
		st := State{Name: s.Name(), State: "new"}
		switch {
		case stopping:
			st.State = "stopping"
		case started[s.Name()]:
			st.State = "running"
			if c, ok := s.(Checker); ok {
				if err := c.Ready(ctx); err != nil {
					st.Error = err.Error()
				}
			}
		}
		out = append(out, st)
	}
	return out
}

// SetStopping marks the process as shutting down before Stop is called, so
// /ready answers 503 during the shutdown delay.
func (m *Manager) SetStopping() {
	m.mu.Lock()
	m.stopping = true
	m.mu.Unlock()
}

// Func adapts start and stop functions to a Service.
func Func(name string, start, stop func(context.Context) error) Service {
	return funcService{name, start, stop}
}

type funcService struct {
	name        string
	start, stop func(context.Context) error
}

func (f funcService) Name() string { return f.name }
func (f funcService) Start(ctx context.Context) error {
	if f.start == nil {
		return nil
	}
	return f.start(ctx)
}
func (f funcService) Stop(ctx context.Context) error {
	if f.stop == nil {
		return nil
	}
	return f.stop(ctx)
}
