// Package server is the HTTP server every Trilens process runs: the
// collectors' and scorer's routes, /healthz, /ready and Prometheus /metrics.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/trilens/trilens/pkg/lifecycle"
)

// Config of the HTTP server.
type Config struct {
	HTTPAddress string `yaml:"http_address"`
	// ReadHeaderTimeout guards against slow clients holding connections.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// StallTimeout cuts a request whose body sends nothing for this long, so
	// a stalled upload cannot hold an ingest slot; a slow but moving upload
	// of any size goes on.
	StallTimeout time.Duration `yaml:"stall_timeout"`
	// IdleTimeout closes keep-alive connections nobody uses.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// TLSCertFile and TLSKeyFile, when set, serve HTTPS with that PEM pair,
	// reloaded when the files change. Without them, plain HTTP (loopback,
	// or behind a TLS-terminating proxy: see README, Security).
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
}

// RegisterFlags sets the defaults and binds the flags under prefix.
func (c *Config) RegisterFlags(prefix string, fs *flag.FlagSet) {
	fs.StringVar(&c.HTTPAddress, prefix+"http-address", "127.0.0.1:7070", "address of the HTTP server (collectors, API, /healthz, /ready, /metrics)")
	fs.DurationVar(&c.ReadHeaderTimeout, prefix+"read-header-timeout", 10*time.Second, "time a client has to send request headers")
	fs.DurationVar(&c.StallTimeout, prefix+"stall-timeout", 30*time.Second, "longest pause in a request body before the request is cut")
	fs.DurationVar(&c.IdleTimeout, prefix+"idle-timeout", 2*time.Minute, "how long an idle keep-alive connection stays open")
	fs.StringVar(&c.TLSCertFile, prefix+"tls-cert-file", "", "PEM certificate (chain) to serve HTTPS with; reloaded when it changes")
	fs.StringVar(&c.TLSKeyFile, prefix+"tls-key-file", "", "PEM private key of tls-cert-file")
}

// Validate reports a malformed address.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.HTTPAddress); err != nil {
		errs = append(errs, fmt.Errorf("http_address %q: %w", c.HTTPAddress, err))
	}
	for key, d := range map[string]time.Duration{"read_header_timeout": c.ReadHeaderTimeout, "stall_timeout": c.StallTimeout, "idle_timeout": c.IdleTimeout} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %v", key, d))
		}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("tls_cert_file, tls_key_file: give both or neither"))
	}
	return errors.Join(errs...)
}

// Server serves Mux. It is a lifecycle service, stopped last so that /ready
// answers during the whole shutdown.
type Server struct {
	Mux *Routes
	// metrics serves /metrics; GuardMetrics wraps it.
	metrics http.Handler
	cfg     Config
	log     *slog.Logger
	srv     *http.Server
	ln      net.Listener
	done    chan struct{}
}

// New builds the server with its health and metrics routes; ready reports
// whether the process is ready.
func New(cfg Config, log *slog.Logger, gatherer prometheus.Gatherer, ready func(context.Context) error) *Server {
	mux := NewRoutes()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		if err := ready(r.Context()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	s := &Server{Mux: mux, cfg: cfg, log: log, metrics: promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{})}
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) { s.metrics.ServeHTTP(w, r) })
	return s
}

// GuardMetrics puts guard in front of /metrics, which otherwise answers
// anyone (a Prometheus scrape). Call it before Start.
func (s *Server) GuardMetrics(guard func(http.Handler) http.Handler) { s.metrics = guard(s.metrics) }

// HandleServices serves the services of the process and their states as
// JSON on /services.
func (s *Server) HandleServices(states func(context.Context) []lifecycle.State) {
	s.Mux.HandleFunc("GET /services", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(states(r.Context()))
	})
}

// Name of the service.
func (s *Server) Name() string { return "server" }

// Start listens and serves in the background.
func (s *Server) Start(context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.HTTPAddress)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.HTTPAddress, err)
	}
	if s.cfg.TLSCertFile != "" {
		tc, err := TLSConfig(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		if err != nil {
			_ = ln.Close()
			return err
		}
		ln = tls.NewListener(ln, tc)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: StallGuard(s.Mux, s.cfg.StallTimeout),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout, IdleTimeout: s.cfg.IdleTimeout}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server", "err", err)
		}
	}()
	s.log.Info("http server listening", "address", ln.Addr().String())
	return nil
}

// Addr is the address the server listens on (useful with port 0).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Stop finishes the requests in flight and closes the listener.
func (s *Server) Stop(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	<-s.done
	s.srv = nil
	return err
}
